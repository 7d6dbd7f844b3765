"""Platform-neutral building blocks shared by every platform sandbox.

* :mod:`.clock` - injectable wall clock (timezone-aware) and monotonic clock.
* :mod:`.rand` - deterministic, named random streams derived from one seed.
* :mod:`.faults` - fault-injection rules (5xx, hang, rate limit, auth expiry).
* :mod:`.ratelimit` - request limiters: leaky bucket, fixed window with ban.
* :mod:`.push` - webhook push queue with timeout, bounded retries and backoff.
* :mod:`.runner` - serve an ASGI app with uvicorn, blocking or in a thread.

Nothing in this package knows about any platform's wire format.
"""

from shopbridge.sandbox.common.clock import Clock, OffsetClock, SystemClock
from shopbridge.sandbox.common.faults import FaultInjector, FaultKind, FaultRule
from shopbridge.sandbox.common.push import (
    AttemptRecord,
    DeliveryRecord,
    DeliveryState,
    PushDispatcher,
    PushRequest,
    RetryPolicy,
)
from shopbridge.sandbox.common.rand import DeterministicRandom
from shopbridge.sandbox.common.ratelimit import (
    BucketDecision,
    LeakyBucket,
    WindowDecision,
    WindowLimiter,
)
from shopbridge.sandbox.common.runner import RunningServer, serve, start_in_thread

__all__ = [
    "AttemptRecord",
    "BucketDecision",
    "Clock",
    "DeliveryRecord",
    "DeliveryState",
    "DeterministicRandom",
    "FaultInjector",
    "FaultKind",
    "FaultRule",
    "LeakyBucket",
    "OffsetClock",
    "PushDispatcher",
    "PushRequest",
    "RetryPolicy",
    "RunningServer",
    "SystemClock",
    "WindowDecision",
    "WindowLimiter",
    "serve",
    "start_in_thread",
]
