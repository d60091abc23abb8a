"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``, never a traceback."""

from __future__ import annotations

import json

STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "server_overloaded",
    500: "server_error",
}
"""The ``type`` of an error by HTTP status."""


class APIError(Exception):
    """An error the server answers with: HTTP status, one clear message, and OpenAI's fields."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict:
        """The JSON body: ``{"error": {"message", "type", "param", "code"}}``."""
        return {"error": {"message": self.message, "type": STATUS_TYPES.get(self.status, "invalid_request_error"),
                          "param": self.param, "code": self.code}}

    def body_bytes(self) -> bytes:
        return json.dumps(self.body(), ensure_ascii=False).encode("utf-8")


async def send_error(send, error: APIError) -> None:
    """Answer an ASGI HTTP request with ``error`` (for middleware, before any route runs)."""
    payload = error.body_bytes()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
