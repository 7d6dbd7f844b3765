"""Fixtures of the conformance suite: every registered platform's sandbox, once per session,
reset before each test, and its connector built through the entry-point registry (exactly as
the sync engine will build it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from shopbridge.connectors import Connector
from shopbridge.connectors.registry import connector_class
from shopbridge.connectors.transport import CallRecord
from shopbridge.sandbox.common.runner import start_in_thread
from tests.conformance.harness import PlatformHarness
from tests.conformance.shopify_harness import ShopifyHarness
from tests.conformance.taobao_harness import TaobaoHarness

HARNESSES: list[type[PlatformHarness]] = [ShopifyHarness, TaobaoHarness]
"""A platform is "supported" when it is listed here and the whole suite passes for it."""


@pytest.fixture(scope="session", params=HARNESSES, ids=lambda h: h.platform)
def running_harness(request: pytest.FixtureRequest) -> Iterator[PlatformHarness]:
    harness: PlatformHarness = request.param()
    server = start_in_thread(harness.create_app())
    harness.base_url = server.base_url
    try:
        yield harness
    finally:
        server.stop()


@pytest.fixture
async def harness(running_harness: PlatformHarness) -> PlatformHarness:
    await running_harness.reset()
    return running_harness


@pytest.fixture
def calls() -> list[CallRecord]:
    """Every platform call the connector made during the test."""
    return []


@pytest.fixture
async def connector(harness: PlatformHarness, calls: list[CallRecord]) -> AsyncIterator[Connector]:
    instance = connector_class(harness.platform)(harness.shop_context(), observer=calls.append)
    try:
        yield instance
    finally:
        await instance.aclose()
