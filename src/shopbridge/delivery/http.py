"""The HTTP client of outbound webhooks.

Why aiohttp and not httpx (which the connectors use): delivery is the one place where
ShopBridge makes an HTTP request per event, hundreds per second at peak. Measured on one
CPU against a local server (docs/performance.md): aiohttp spends about 0.14-0.2 ms of CPU per
POST, httpx 1.3 ms with 4 connections and 2.6 ms with 32 (httpcore checks every pooled
connection for readability, with a system call each, whenever a request starts).

What an attempt may and may not do: it is bounded in time, never follows a redirect, sends
and keeps no cookies, ignores proxy variables of the environment, and reads at most
`excerpt_bytes` of the answer. Every failure becomes a `SendFailure` with a sentence an
operator can act on, never an exception of the library.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

import aiohttp
import certifi

EXCERPT_BYTES = 1024


@dataclass(frozen=True)
class Answer:
    status: int
    retry_after: str | None
    excerpt: str


class SendFailure(Exception):
    """No HTTP answer: the reason says why, in words (stored as the attempt's error)."""


class WebhookClient:
    """A connection pool for webhook POSTs; one per dispatcher (or per test-send)."""

    def __init__(self, *, max_connections: int = 64, excerpt_bytes: int = EXCERPT_BYTES) -> None:
        self.max_connections = max_connections
        self.excerpt_bytes = excerpt_bytes
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Made on first use: aiohttp binds its session to the running event loop.
        if self._session is None or self._session.closed:
            if self._ssl is None:  # the CA bundle is read once (~20 ms)
                self._ssl = ssl.create_default_context(cafile=certifi.where())
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self.max_connections, limit_per_host=0, ssl=self._ssl
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None),  # each POST brings its own
                trust_env=False,
                auto_decompress=True,
            )
        return self._session

    async def post(
        self, url: str, body: bytes, headers: dict[str, str], *, limit_seconds: float
    ) -> Answer:
        """Raises `SendFailure` (no answer) or `TimeoutError` (none within the limit)."""
        session = self._open()
        try:
            async with asyncio.timeout(limit_seconds):
                async with session.post(
                    url, data=body, headers=headers, allow_redirects=False
                ) as response:
                    excerpt = await self._excerpt(response)
                    return Answer(response.status, response.headers.get("Retry-After"), excerpt)
        except aiohttp.ClientConnectorError as exc:
            reason = str(exc.os_error) if exc.os_error else str(exc)
            raise SendFailure(f"cannot connect: {reason}" if reason else "cannot connect") from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise SendFailure(
                "the connection was closed before an answer (ServerDisconnectedError)"
            ) from exc
        except aiohttp.ClientResponseError as exc:  # the answer is not HTTP
            raise SendFailure(
                f"the answer is not valid HTTP ({type(exc).__name__}: {exc.message})"
            ) from exc
        except aiohttp.ClientError as exc:
            raise SendFailure(
                f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            ) from exc

    async def _excerpt(self, response: aiohttp.ClientResponse) -> str:
        chunks: list[bytes] = []
        size = 0
        while size < self.excerpt_bytes:
            chunk = await response.content.read(self.excerpt_bytes - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks).decode("utf-8", errors="replace")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> WebhookClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
