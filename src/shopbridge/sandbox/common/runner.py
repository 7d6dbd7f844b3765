"""Serve a sandbox's ASGI app with uvicorn: blocking, or in a background thread.

The threaded form binds the socket itself, so ``port=0`` picks a free port and the
caller learns it before any request is made::

    with start_in_thread(app) as server:
        httpx.get(f"{server.base_url}/_sandbox/health")
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp


@dataclass
class RunningServer:
    """A uvicorn server running in a daemon thread."""

    host: str
    port: int
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to shut down (runs the app's shutdown) and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_in_thread(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
    startup_timeout: float = 15.0,
) -> RunningServer:
    """Start ``app`` on ``host:port`` (0 = any free port) and wait until it accepts."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        log_level=log_level,
        lifespan="on",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"sandbox-{bound_port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive():
            sock.close()
            raise RuntimeError("sandbox server exited during startup")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"sandbox server did not start within {startup_timeout}s")
        time.sleep(0.01)
    return RunningServer(host=host, port=bound_port, server=server, thread=thread)


def serve(
    app: ASGIApp, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info"
) -> None:
    """Serve ``app`` in the foreground until interrupted (Ctrl+C / SIGTERM)."""
    # No access log: request lines can carry buyer data (e-mail filters, names).
    uvicorn.run(
        app, host=host, port=port, log_level=log_level, access_log=False, server_header=False
    )
