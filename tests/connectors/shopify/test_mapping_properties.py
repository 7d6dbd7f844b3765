"""Whatever Shopify sends, the mapping either returns an Order or raises MappingError."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopbridge.connectors import MappingError
from shopbridge.connectors.shopify.mapping import map_order
from shopbridge.core import Money, Order
from tests.connectors.shopify.helpers import ORDER_FIXTURES, SHOP_ID, load

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)

FIELDS = sorted({key for name in ORDER_FIXTURES for key in load(name)})
LINE_FIELDS = sorted(load("paid_unfulfilled")["line_items"][0])


def _map(payload: dict[str, Any]) -> Order | None:
    """The order, or None after checking the refusal names a path and a reason."""
    refusal: MappingError | None = None
    try:
        return map_order(payload, shop_id=SHOP_ID)
    except MappingError as exc:
        refusal = exc
    assert refusal.message
    assert refusal.path
    return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(ORDER_FIXTURES),
    field=st.sampled_from(FIELDS),
    value=json_values,
)
def test_any_top_level_value_maps_or_is_refused(name: str, field: str, value: Any) -> None:
    payload = load(name)
    payload[field] = value
    order = _map(payload)
    if order is not None:
        assert order.raw == payload


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(LINE_FIELDS), value=json_values)
def test_any_line_value_maps_or_is_refused(field: str, value: Any) -> None:
    payload = load("paid_unfulfilled")
    payload["line_items"][1][field] = value
    _map(payload)


@given(
    cents=st.integers(min_value=0, max_value=10**12),
)
def test_amounts_are_exact(cents: int) -> None:
    text = f"{cents // 100}.{cents % 100:02d}"
    payload = load("authorized")
    payload["total_price"] = text
    order = map_order(payload, shop_id=SHOP_ID)
    assert order.total == Money.from_minor(cents, "USD")
    assert str(order.total.amount) == text
