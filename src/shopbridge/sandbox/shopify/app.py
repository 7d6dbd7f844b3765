"""Shopify sandbox entry points: :func:`create_app` (ASGI) and :func:`run` (uvicorn).

Usage::

    from shopbridge.sandbox.shopify.app import ShopifySandboxOptions, create_app, run

    app = create_app(ShopifySandboxOptions(seed=200, push_url="http://127.0.0.1:9000/hooks"))
    run(ShopifySandboxOptions(), host="127.0.0.1", port=8081)   # blocking
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from shopbridge.sandbox.common.asgi import sandbox_app
from shopbridge.sandbox.common.clock import Clock, OffsetClock, SystemClock
from shopbridge.sandbox.common.faults import FaultInjector
from shopbridge.sandbox.common.push import PushDispatcher, RetryPolicy
from shopbridge.sandbox.common.rand import DeterministicRandom
from shopbridge.sandbox.common.ratelimit import LeakyBucket
from shopbridge.sandbox.common.runner import serve
from shopbridge.sandbox.shopify.control import build_control_router
from shopbridge.sandbox.shopify.envelope import dump, not_found
from shopbridge.sandbox.shopify.options import ShopifySandboxOptions
from shopbridge.sandbox.shopify.push import USER_AGENT, ShopifyWebhookPublisher
from shopbridge.sandbox.shopify.routes import ShopifyAdminApi, TokenRegistry
from shopbridge.sandbox.shopify.scenarios import LiveStream, ShopGenerator, seed_shop
from shopbridge.sandbox.shopify.state import ShopifyState, StateError

__all__ = ["ShopifySandbox", "ShopifySandboxOptions", "create_app", "run"]

logger = logging.getLogger("shopbridge.sandbox.shopify")


class ShopifySandbox:
    """One running emulated shop: state, Admin API, pushes, faults and the live stream."""

    def __init__(
        self,
        options: ShopifySandboxOptions,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.options = options
        if clock is None:
            clock = OffsetClock(options.start_time) if options.start_time else SystemClock()
        self.clock = clock
        self.faults = FaultInjector(clock)
        self.bucket = LeakyBucket(
            options.rate_limit_bucket_size, options.rate_limit_leak_per_second, clock.monotonic
        )
        self.tokens = TokenRegistry(options.access_token)
        self.dispatcher = PushDispatcher(
            RetryPolicy(
                timeout=options.webhook_timeout_seconds,
                connect_timeout=min(1.0, options.webhook_timeout_seconds),
                max_attempts=options.webhook_max_attempts,
                backoff_base=options.webhook_backoff_seconds,
                backoff_max=options.webhook_backoff_max_seconds,
            ),
            clock=clock,
            user_agent=USER_AGENT,
        )
        self._stream_task: asyncio.Task[None] | None = None
        self._build(options.seed, options.random_seed, options.orders_per_second)

    def _build(self, seed: int, random_seed: int, rate: float) -> None:
        rng = DeterministicRandom(random_seed)
        state = ShopifyState(self.options, self.clock, rng)
        generator = ShopGenerator(state, rng)
        generator.build_catalog(state.now())
        seed_shop(state, generator, count=seed, days=self.options.seed_days, now=state.now())
        publisher = ShopifyWebhookPublisher(state, self.dispatcher, self.options, self.clock)
        state.add_listener(publisher.on_event)
        self.state = state
        self.generator = generator
        self.publisher = publisher
        self.stream = LiveStream(state, generator, rng.child("live"), rate)
        self.api = ShopifyAdminApi(
            state, faults=self.faults, bucket=self.bucket, tokens=self.tokens
        )

    def reset(self, *, seed: int | None = None, random_seed: int | None = None) -> None:
        """Back to the initial state: rebuild the shop from seeds and restore the options'
        rate limit, token and stream rate; clear faults and push history."""
        options = self.options
        self._build(
            options.seed if seed is None else seed,
            options.random_seed if random_seed is None else random_seed,
            options.orders_per_second,
        )
        self.faults.clear()
        self.dispatcher.clear()
        self.bucket.configure(
            capacity=options.rate_limit_bucket_size,
            leak_per_second=options.rate_limit_leak_per_second,
            level=0.0,
        )
        self.tokens.restore(options.access_token)

    async def start(self) -> None:
        await self.dispatcher.start()
        self._stream_task = asyncio.get_running_loop().create_task(self._run_stream())

    async def stop(self) -> None:
        if self._stream_task is not None:
            self._stream_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stream_task
            self._stream_task = None
        await self.dispatcher.stop()

    async def _run_stream(self) -> None:
        while True:
            stream = self.stream
            if stream.rate <= 0:
                await asyncio.sleep(0.25)
                continue
            await asyncio.sleep(min(5.0, stream.rng.expovariate(2 * stream.rate)))
            try:
                self.stream.step()
            except StateError as exc:
                logger.debug("live stream step failed: %s", exc)


def create_app(
    options: ShopifySandboxOptions | None = None,
    *,
    clock: Clock | None = None,
) -> FastAPI:
    """Build the ASGI app of a Shopify sandbox.

    ``app.state.sandbox`` is the :class:`ShopifySandbox`. Background work (webhook
    delivery, the live order stream) runs between the app's startup and shutdown
    (uvicorn's lifespan).
    """
    sandbox = ShopifySandbox(options or ShopifySandboxOptions(), clock=clock)

    async def admin(request: Request) -> Response:
        return await sandbox.api.handle(request)

    async def fallback(_request: Request) -> Response:
        return Response(
            dump(not_found().body()), status_code=404, media_type="application/json; charset=utf-8"
        )

    return sandbox_app(
        sandbox,
        title="ShopBridge Shopify sandbox",
        description="Emulated Shopify Admin REST API plus the /_sandbox control plane.",
        control=build_control_router(sandbox),
        routes={"/admin/{path:path}": admin},
        fallback=fallback,
    )


def run(
    options: ShopifySandboxOptions | None = None, host: str = "127.0.0.1", port: int = 8081
) -> None:
    """Serve a Shopify sandbox with uvicorn until interrupted."""
    serve(create_app(options), host=host, port=port)


Options = ShopifySandboxOptions
"""The options model the `shopbridge sandbox` command builds from its flags."""
