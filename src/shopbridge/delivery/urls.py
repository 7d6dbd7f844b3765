"""Checks on a webhook URL at creation, so a typo fails now with a reason instead of days of
silent retries. Private addresses are allowed on purpose: a self-hosted ERP usually lives on
the merchant's own network."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

RESOLVE_TIMEOUT = 3.0
MAX_URL_LENGTH = 2048


class InvalidWebhookUrl(ValueError):
    """The URL cannot be used as a webhook target; the message says why."""


def check_url_shape(url: str) -> tuple[str, int]:
    if len(url) > MAX_URL_LENGTH:
        raise InvalidWebhookUrl(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidWebhookUrl(f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise InvalidWebhookUrl("use an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhookUrl(
            "credentials in the URL are not allowed: they would be stored and logged in clear; "
            "verify the webhook signature instead"
        )
    if not parts.hostname:
        raise InvalidWebhookUrl("the URL has no host")
    if parts.fragment:
        raise InvalidWebhookUrl("the URL must not have a #fragment")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def check_webhook_url(url: str) -> str:
    host, port = check_url_shape(url)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (TimeoutError, OSError) as exc:
        raise InvalidWebhookUrl(f"the host {host!r} cannot be resolved") from exc
    return url
