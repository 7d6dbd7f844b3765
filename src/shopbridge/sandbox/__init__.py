"""Platform sandboxes: local emulators of each sales platform's real wire protocol.

Each platform has one folder (``sandbox/<platform>/``) exposing
``app.create_app(options) -> ASGI app`` and ``app.run(options, host, port)``;
platform-neutral pieces (fault injection, deterministic randomness, rate limiting,
webhook push queue, uvicorn runner) live in :mod:`shopbridge.sandbox.common`.
A sandbox never imports ShopBridge's core, connectors, API or storage: it is an
independent implementation of the platform.
"""

SANDBOX_PLATFORMS: tuple[str, ...] = ("shopify", "taobao")
"""Platforms with a sandbox: ``shopbridge.sandbox.<name>.app.create_app``."""

__all__ = ["SANDBOX_PLATFORMS"]
