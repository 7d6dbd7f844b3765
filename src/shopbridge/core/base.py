"""Base classes shared by every unified model.

`UnifiedModel` fixes the rules every object follows: unknown fields are an error (a typo in a
mapping must fail in tests, not silently drop data; platform-specific data goes in
`extensions`), assignment is validated like construction, and validation errors never echo
input values, because an input may hold a buyer's phone or address and errors end up in logs.
Read a field's input through `ValidationError.errors(include_input=False)` only when the
field is known not to be personal data.

`NativeRecord` is the base for objects that come from a platform: they keep the platform's own
status string, its extra fields, and the untouched payload, so a mapping gap never loses data.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shopbridge.core.money import Money
from shopbridge.core.sensitive import SensitivePayload
from shopbridge.core.types import JsonObject, ShortText

__all__ = ["NativeRecord", "UnifiedModel", "check_one_currency", "check_unique", "iter_money"]


class UnifiedModel(BaseModel):
    """Base of every unified object (see the module docstring for why each setting)."""

    model_config = ConfigDict(
        extra="forbid",
        validate_assignment=True,
        hide_input_in_errors=True,
        use_attribute_docstrings=True,
    )


class NativeRecord(UnifiedModel):
    """An object mapped from a platform, carrying what the mapping could not express."""

    native_status: ShortText | None = None
    """The platform's own status value, verbatim (`WAIT_SELLER_SEND_GOODS`, `paid`)."""

    extensions: JsonObject = Field(default_factory=dict)
    """Platform-specific fields by name that have no unified home (e.g. Douyin influencer
    commission). JSON only; never personal data (that belongs in typed sensitive fields)."""

    raw: SensitivePayload = Field(default=None, repr=False)
    """The untouched native payload this object was mapped from. May contain personal data:
    encrypted at rest, withheld from masked output, left out of `repr`."""


def iter_money(value: Any) -> Iterator[Money]:
    """Every `Money` inside `value`, walking nested models and lists (not `extensions`/`raw`)."""
    if isinstance(value, Money):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from iter_money(getattr(value, name))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from iter_money(item)


def check_one_currency(model: BaseModel, currency: str) -> None:
    """Refuse a document mixing currencies: sums across it would be silently wrong."""
    for money in iter_money(model):
        if money.currency != currency:
            raise ValueError(f"all amounts must be in {currency}, found {money.currency}")


def check_unique(ids: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"duplicate {what} {item!r}")
        seen.add(item)
