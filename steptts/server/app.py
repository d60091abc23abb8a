"""Assembly: the FastAPI app with its voices, worker pool, metrics, routes and error handlers."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from .. import __version__
from ..errors import StepTTSError
from .config import ServerConfig
from .errors import APIError
from .metrics import Metrics
from .middleware import FrontDoor
from .pool import WorkerPool
from .realtime import router as realtime_router
from .speech import ClientGone
from .speech import router as speech_router
from .voices import VoiceRegistry

log = logging.getLogger("steptts.server")
MODEL_IDS = ("steptts", "tts-1", "tts-1-hd", "gpt-4o-mini-tts", "step-tts-mini")
"""Model names /v1/models lists; any string is accepted as ``model``, these are the usual ones."""


def create_app(config: ServerConfig, registry: VoiceRegistry | None = None):
    """The ASGI application of one server: FastAPI behind the :class:`FrontDoor` middleware.

    ``registry`` defaults to loading ``config.voices`` now (once, before the first request).
    """
    registry = registry or VoiceRegistry(config)
    pool = WorkerPool(config.max_concurrency, config.queue)
    metrics = Metrics(lambda: pool.waiting, lambda: pool.busy)

    @asynccontextmanager
    async def lifespan(_app):
        yield
        pool.shutdown()  # after uvicorn has drained the requests in flight

    app = FastAPI(title="steptts", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.config, app.state.registry, app.state.pool, app.state.metrics = config, registry, pool, metrics
    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["*"],
                           allow_headers=["*"], expose_headers=["*"])
    _add_error_handlers(app)
    _add_info_routes(app)
    app.include_router(speech_router)
    app.include_router(realtime_router)
    return FrontDoor(app, api_key=config.api_key, max_body_bytes=config.max_body_bytes, metrics=metrics)


def _error(error: APIError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(_request: Request, error: APIError):
        return _error(error)

    @app.exception_handler(StepTTSError)
    async def user_error(_request: Request, error: StepTTSError):
        return _error(APIError(400, str(error), code=type(error).__name__))

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, error: HTTPException):
        return _error(APIError(error.status_code, str(error.detail), code="not_found"
                               if error.status_code == 404 else None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, error: RequestValidationError):
        return _error(APIError(400, str(error.errors()[0].get("msg", "bad request")), code="invalid_value"))

    @app.exception_handler(ClientGone)
    async def client_gone(_request: Request, _error_: ClientGone):
        return Response(status_code=499)

    @app.exception_handler(Exception)
    async def internal(request: Request, error: Exception):
        record = getattr(request.state, "record", None)
        log.error("id=%s internal error: %r", getattr(record, "request_id", "-"), error, exc_info=error)
        return _error(APIError(500, "internal server error (see the server log for request id "
                                    f"{getattr(record, 'request_id', '-')})", code="internal_error"))


def _add_info_routes(app: FastAPI) -> None:
    registry: VoiceRegistry = app.state.registry

    @app.get("/health")
    async def health():
        pool: WorkerPool = app.state.pool
        return {"status": "ok", "voices": list(registry.voices), "workers": pool.workers,
                "workers_busy": pool.busy, "queue_depth": pool.waiting}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "steptts"} for m in MODEL_IDS]}

    @app.get("/v1/audio/voices")
    async def voices():
        return {"voices": registry.describe(), "names": registry.known_names()}

    @app.get("/metrics")
    async def metrics():
        return Response(app.state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/")
    async def playground():
        page = resources.files("steptts.server").joinpath("playground.html").read_text(encoding="utf-8")
        return HTMLResponse(page)
