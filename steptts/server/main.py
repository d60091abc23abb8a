"""Run a server: load the voices, then uvicorn until SIGINT or SIGTERM.

On SIGTERM uvicorn stops accepting connections, lets the requests in flight finish (for up to
``graceful_timeout_s``), runs the app's shutdown (the worker pool drains) and the process exits 0.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
import threading

from ..errors import StepTTSError
from .config import ServerConfig


def configure_logging() -> None:
    """One line per request on stderr, from the ``steptts.server`` logger."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s steptts.server %(levelname)s %(message)s"))
    logger = logging.getLogger("steptts.server")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def run(config: ServerConfig) -> None:
    """Serve until stopped; the voices load before the port opens."""
    import uvicorn

    from .app import create_app

    check_address(config.host, config.port)
    configure_logging()
    app = create_app(config)
    log = logging.getLogger("steptts.server")
    log.info("listening on http://%s:%d (workers %d, queue %d, key %s)", config.host, config.port,
             config.max_concurrency, config.queue, "required" if config.api_key else "not required")
    server_config = uvicorn.Config(app, host=config.host, port=config.port, access_log=False, log_level="warning",
                                   timeout_graceful_shutdown=config.graceful_timeout_s)
    _graceful_server_class()(server_config).run()
    log.info("stopped")


def check_address(host: str, port: int) -> None:
    """Raise StepTTSError (one line, exit 2) when ``host:port`` cannot be bound, before voices load."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise StepTTSError(f"cannot serve on {host}:{port}: {error.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise StepTTSError(f"cannot serve on {host}:{port}: {error.strerror}") from None


def _graceful_server_class():
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """uvicorn's server, but a drained SIGTERM ends the process normally (exit 0) instead of
        re-raising the signal; a second SIGINT or SIGTERM stops at once."""

        @contextlib.contextmanager
        def capture_signals(self):
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self._stop) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

        def _stop(self, _sig, _frame) -> None:
            if self.should_exit:
                self.force_exit = True
            self.should_exit = True

    return GracefulServer
