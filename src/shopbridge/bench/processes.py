"""What the process-level benchmarks (`bench peak`, `bench flash-sale`) share: a group of
Shopify sandboxes served from one child process, the subprocesses of a run with their logs,
and waiting for a server to answer. Each benchmark measures real processes over HTTP, so the
process a number describes is never the one doing the measuring."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from shopbridge import heap


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_response(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 300:
        raise RuntimeError(f"{what}: HTTP {response.status_code} {response.text[:300]}")
    body = response.json()
    if not isinstance(body, dict):
        raise RuntimeError(f"{what}: unexpected answer {response.text[:200]}")
    return body


async def serve_sandboxes(specs: list[dict[str, Any]]) -> None:
    """Serve K sandboxes from one event loop; print their URLs as one JSON line; run until
    stdin closes or SIGTERM/SIGINT arrives."""
    import uvicorn

    from shopbridge.sandbox.shopify import ShopifySandboxOptions, create_app

    servers: list[tuple[uvicorn.Server, socket.socket]] = []
    for spec in specs:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            create_app(ShopifySandboxOptions(**spec)),
            log_level="warning",
            lifespan="on",
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=2,
        )
        servers.append((uvicorn.Server(config), sock))
    tasks = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in servers]
    while not all(server.started for server, _ in servers):
        if any(task.done() for task in tasks):
            raise SystemExit("a sandbox did not start")
        await asyncio.sleep(0.01)
    heap.settle()
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server, _ in servers:
            server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)

    def watch_stdin() -> None:
        sys.stdin.read()  # EOF: the bench went away
        loop.call_soon_threadsafe(stop)

    threading.Thread(target=watch_stdin, daemon=True).start()
    urls = [f"http://127.0.0.1:{sock.getsockname()[1]}" for _, sock in servers]
    print(json.dumps({"urls": urls}), flush=True)
    await asyncio.gather(*tasks)


@dataclass
class Processes:
    """Subprocesses of the run and their logs; stopped in reverse order."""

    workdir: Path
    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    logs: list[IO[bytes]] = field(default_factory=list)
    threads: list[Any] = field(default_factory=list)
    """In-process servers (`RunningServer`) to stop with the rest."""

    def spawn(
        self, name: str, argv: list[str], env: Mapping[str, str], *, pipe: bool = False
    ) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("wb")
        self.logs.append(log)
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            argv,
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE if pipe else log,
            stderr=log,
        )
        self.procs.append((name, proc))
        return proc

    def log_tail(self, name: str, lines: int = 5) -> str:
        path = self.workdir / f"{name}.log"
        if not path.exists():
            return ""
        text = path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def exited(self, name: str) -> bool:
        return any(pname == name and p.poll() is not None for pname, p in self.procs)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) each live subprocess has used so far, from /proc (Linux);
        empty elsewhere. The bench reads it before and after the measured part."""
        tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        used: dict[str, float] = {}
        for name, proc in self.procs:
            try:
                stat = Path(f"/proc/{proc.pid}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            used[name] = (int(fields[11]) + int(fields[12])) / tick
        return used

    def stop(self) -> None:
        for server in reversed(self.threads):
            server.stop()
        self.threads.clear()
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(OSError):
                    if proc.stdin is not None:
                        proc.stdin.close()
                proc.send_signal(signal.SIGINT)
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for log in self.logs:
            log.close()
        self.procs.clear()
        self.logs.clear()

    async def sandboxes(self, name: str, specs: list[dict[str, Any]]) -> list[str]:
        """Start `serve_sandboxes(specs)` in a child process; its URLs, in order."""
        child = self.spawn(
            name,
            [sys.executable, "-m", "shopbridge.bench.processes", json.dumps(specs)],
            os.environ,
            pipe=True,
        )
        assert child.stdout is not None
        line = await asyncio.to_thread(child.stdout.readline)
        if not line:
            raise RuntimeError(f"the sandboxes did not start: {self.log_tail(name)}")
        return [str(url) for url in json.loads(line)["urls"]]


async def wait_http(client: httpx.AsyncClient, url: str, procs: Processes, name: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if procs.exited(name):
            raise RuntimeError(f"{name} exited at start: {procs.log_tail(name)}")
        try:
            if (await client.get(url, timeout=2)).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{name} did not answer at {url} within 60 s: {procs.log_tail(name)}")


def main(argv: list[str]) -> None:
    """`python -m shopbridge.bench.processes SPECS_JSON`: the sandbox child process."""
    if len(argv) != 1:
        raise SystemExit("usage: python -m shopbridge.bench.processes SPECS_JSON")
    specs = json.loads(argv[0])
    try:
        import uvloop

        uvloop.run(serve_sandboxes(specs))
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        asyncio.run(serve_sandboxes(specs))


if __name__ == "__main__":
    main(sys.argv[1:])
