"""Taobao sandbox entry points: :func:`create_app` (ASGI) and :func:`run` (uvicorn).

Usage::

    from shopbridge.sandbox.taobao.app import TaobaoSandboxOptions, create_app, run

    app = create_app(TaobaoSandboxOptions(seed=200, push_url="http://127.0.0.1:9000/tmc"))
    run(TaobaoSandboxOptions(), host="127.0.0.1", port=8082)   # blocking

Point a TOP client at ``http://HOST:PORT/router/rest`` (``/top/router/rest`` also works).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from shopbridge.sandbox.common.asgi import sandbox_app
from shopbridge.sandbox.common.clock import Clock, OffsetClock, SystemClock
from shopbridge.sandbox.common.faults import FaultInjector
from shopbridge.sandbox.common.push import PushDispatcher, RetryPolicy
from shopbridge.sandbox.common.rand import DeterministicRandom
from shopbridge.sandbox.common.ratelimit import WindowLimiter
from shopbridge.sandbox.common.runner import serve
from shopbridge.sandbox.taobao.control import build_control_router
from shopbridge.sandbox.taobao.envelope import dump, invalid_method, new_request_id
from shopbridge.sandbox.taobao.options import TaobaoSandboxOptions
from shopbridge.sandbox.taobao.push import (
    USER_AGENT,
    HttpPusher,
    TmcPublisher,
    TmcQueue,
    default_subscription,
)
from shopbridge.sandbox.taobao.routes import (
    GATEWAY_PATHS,
    CallRecord,
    SessionRegistry,
    TaobaoGateway,
)
from shopbridge.sandbox.taobao.scenarios import LiveStream, ShopGenerator, seed_shop
from shopbridge.sandbox.taobao.state import StateError, TaobaoState

__all__ = ["TaobaoSandbox", "TaobaoSandboxOptions", "create_app", "run"]

logger = logging.getLogger("shopbridge.sandbox.taobao")


class TaobaoSandbox:
    """One running emulated shop: state, gateway, TMC, pushes, faults and the live stream."""

    def __init__(
        self,
        options: TaobaoSandboxOptions,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.options = options
        if clock is None:
            clock = OffsetClock(options.start_time) if options.start_time else SystemClock()
        self.clock = clock
        self.faults = FaultInjector(clock)
        self.limiter = WindowLimiter(
            options.call_limit,
            options.call_limit_window_seconds,
            options.call_limit_ban_seconds,
            clock.monotonic,
        )
        self.sessions = SessionRegistry(options.access_token)
        self.denied_apis: set[str] = set(options.denied_apis)
        self.calls: deque[CallRecord] = deque(maxlen=5000)
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
        options = self.options
        rng = DeterministicRandom(random_seed)
        state = TaobaoState(options, self.clock, rng)
        generator = ShopGenerator(state, rng)
        now = state.now()
        generator.build_catalog(now)
        seed_shop(state, generator, count=seed, days=options.seed_days, now=now)
        tmc = TmcQueue(
            self.clock,
            rng.child("tmc"),
            visibility_timeout=options.tmc_visibility_timeout_seconds,
            retention=options.tmc_retention,
        )
        subscription = default_subscription(options, self.clock.now())
        state.add_listener(TmcPublisher(state, tmc, subscription, options).on_event)
        tmc.on_enqueue.append(HttpPusher(self.dispatcher, options))
        self.state = state
        self.generator = generator
        self.tmc = tmc
        self.subscription = subscription
        self.stream = LiveStream(state, generator, rng.child("live"), rate)
        self.gateway = TaobaoGateway(
            state,
            options=options,
            clock=self.clock,
            faults=self.faults,
            limiter=self.limiter,
            sessions=self.sessions,
            tmc=tmc,
            subscription=subscription,
            denied_apis=self.denied_apis,
            calls=self.calls,
        )

    def reset(self, *, seed: int | None = None, random_seed: int | None = None) -> None:
        """Back to the initial state: rebuild the shop from seeds; restore the session,
        call limit, permissions and stream rate from the options; clear faults, TMC
        messages, pushes and the call log."""
        options = self.options
        self.faults.clear()
        self.dispatcher.clear()
        self.limiter.reset()
        self.limiter.configure(
            limit=options.call_limit,
            window_seconds=options.call_limit_window_seconds,
            ban_seconds=options.call_limit_ban_seconds,
        )
        self.sessions.restore(options.access_token)
        self.denied_apis.clear()
        self.denied_apis.update(options.denied_apis)
        self.calls.clear()
        self._build(
            options.seed if seed is None else seed,
            options.random_seed if random_seed is None else random_seed,
            options.orders_per_second,
        )

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
        """Step the live stream about ``2 * orders_per_second`` times per second (one step
        in two creates a trade) and release held TMC messages when their time is due."""
        loop = asyncio.get_running_loop()
        next_step: float | None = None
        while True:
            self.tmc.flush_due()
            stream = self.stream
            if stream.rate <= 0:
                next_step = None
                await asyncio.sleep(0.25)
                continue
            now = loop.time()
            if next_step is None:
                next_step = now + stream.rng.expovariate(2 * stream.rate)
            if now < next_step:
                await asyncio.sleep(min(0.25, next_step - now))
                continue
            next_step = None
            try:
                with self.state.lock:
                    stream.step()
            except StateError as exc:
                logger.debug("live stream step failed: %s", exc.sub_code)


def create_app(
    options: TaobaoSandboxOptions | None = None,
    *,
    clock: Clock | None = None,
) -> FastAPI:
    """Build the ASGI app of a Taobao sandbox.

    ``app.state.sandbox`` is the :class:`TaobaoSandbox`. Background work (HTTP pushes,
    the live stream, release of reordered TMC messages) runs between the app's startup
    and shutdown (uvicorn's lifespan).
    """
    sandbox = TaobaoSandbox(options or TaobaoSandboxOptions(), clock=clock)

    async def gateway(request: Request) -> Response:
        return await sandbox.gateway.handle(request)

    async def fallback(_request: Request) -> Response:
        body = dump(invalid_method().body(new_request_id()))
        return Response(body, status_code=404, media_type="text/javascript;charset=UTF-8")

    return sandbox_app(
        sandbox,
        title="ShopBridge Taobao (TOP) sandbox",
        description="Emulated Taobao Open Platform gateway plus the /_sandbox control plane.",
        control=build_control_router(sandbox),
        routes=dict.fromkeys(GATEWAY_PATHS, gateway),
        fallback=fallback,
    )


def run(
    options: TaobaoSandboxOptions | None = None, host: str = "127.0.0.1", port: int = 8082
) -> None:
    """Serve a Taobao sandbox with uvicorn until interrupted."""
    serve(create_app(options), host=host, port=port)


Options = TaobaoSandboxOptions
"""The options model the `shopbridge sandbox` command builds from its flags."""
