"""Money as an exact decimal amount plus an ISO 4217 currency, never a float.

`0.1 + 0.2 != 0.3` in binary floating point; a gateway that sums order lines in floats ends up
with totals the platform, the ERP and the tax office all disagree with. So a `float` is refused
outright (even one that "looks fine", because by the time it is a float the damage is done),
and the amount keeps its scale: `"12.30"` stays `"12.30"` through JSON, storage and back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Annotated, Final, Self

from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator, WithJsonSchema

from shopbridge.core.types import CurrencyCode

__all__ = [
    "MAX_INTEGER_DIGITS",
    "MAX_SCALE",
    "MINOR_UNIT_EXPONENTS",
    "Amount",
    "CurrencyMismatchError",
    "Money",
]

MAX_SCALE: Final = 4
"""Decimal places kept. Platforms use 2 (0 for JPY/KRW, 3 for BHD/KWD); unit prices and tax
splits sometimes need 4. More than 4 is float noise (`0.30000000000000004`), not money."""

MAX_INTEGER_DIGITS: Final = 18
"""Digits before the point; with `MAX_SCALE` it fits `NUMERIC(22, 4)` and int64 minor units."""

MINOR_UNIT_EXPONENTS: Final[dict[str, int]] = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"), 0),
    **dict.fromkeys(("RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
    **dict.fromkeys(
        (
            "AED", "AUD", "BDT", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "EGP", "EUR",
            "GBP", "HKD", "HUF", "IDR", "ILS", "INR", "MAD", "MOP", "MXN", "MYR", "NGN",
            "NOK", "NZD", "PEN", "PHP", "PKR", "PLN", "QAR", "RON", "RUB", "SAR", "SEK",
            "SGD", "THB", "TRY", "TWD", "UAH", "USD", "ZAR",
        ),
        2,
    ),
}  # fmt: skip
"""ISO 4217 minor-unit exponents for the currencies the supported platforms use. Integer
minor units of any other currency need an explicit exponent."""

_AMOUNT_TEXT: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_AMOUNT_PATTERN: Final = rf"^-?[0-9]{{1,{MAX_INTEGER_DIGITS}}}(\.[0-9]{{1,{MAX_SCALE}}})?$"
_LIMIT: Final = Decimal(10) ** MAX_INTEGER_DIGITS


class CurrencyMismatchError(ValueError):
    """Arithmetic across currencies: a conversion must be explicit, never implied by `+`."""


def _validate_amount(value: object) -> Decimal:
    if isinstance(value, float):
        raise ValueError(
            "money amount must not be a float (binary floats cannot hold decimal cents); "
            'send a string such as "12.30", an int, or a Decimal'
        )
    if isinstance(value, bool):
        raise ValueError("money amount must be a decimal string, an int or a Decimal, not bool")
    if isinstance(value, str):
        if _AMOUNT_TEXT.fullmatch(value) is None:
            raise ValueError('money amount string must look like "12.30" or "-5"')
        amount = Decimal(value)
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    else:
        raise ValueError("money amount must be a decimal string, an int or a Decimal")
    if not amount.is_finite():
        raise ValueError("money amount must be finite (no NaN or Infinity)")
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)  # finite, so never 'n'/'N'/'F'
    if exponent < -MAX_SCALE:
        raise ValueError(f"money amount has more than {MAX_SCALE} decimal places")
    if abs(amount) >= _LIMIT:
        raise ValueError(f"money amount has more than {MAX_INTEGER_DIGITS} integer digits")
    if exponent > 0:  # Decimal("1E+3"): store as 1000 so the JSON string is plain digits
        amount = amount.quantize(Decimal(1))
    if amount.is_zero() and amount.is_signed():
        amount = amount.copy_abs()
    return amount


def _serialize_amount(value: Decimal) -> str:
    return str(value)


Amount = Annotated[
    Decimal,
    PlainValidator(_validate_amount),
    PlainSerializer(_serialize_amount, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _AMOUNT_PATTERN,
            "description": "Exact decimal amount as a string, scale preserved.",
            "examples": ["12.30"],
        }
    ),
]
"""Exact decimal: `Decimal`, `int` or a plain decimal string in; a string with the same scale
out in JSON."""


class Money(BaseModel):
    """An amount in one currency. Immutable and hashable.

    Equality is numeric (`12.30 CNY == 12.3 CNY`), as with `Decimal`; the scale is still kept
    for serialization.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: Amount
    currency: CurrencyCode

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    @staticmethod
    def exponent(currency: str) -> int:
        """ISO 4217 minor-unit exponent (CNY 2, JPY 0, KWD 3); `KeyError` when not known."""
        return MINOR_UNIT_EXPONENTS[currency]

    @classmethod
    def zero(cls, currency: str) -> Self:
        """Zero with the currency's usual scale (`0.00 CNY`, `0 JPY`)."""
        places = MINOR_UNIT_EXPONENTS.get(currency, 0)
        return cls(amount=Decimal(0).scaleb(-places), currency=currency)

    @classmethod
    def from_major(cls, value: str | int | Decimal, currency: str) -> Self:
        """Parse a platform amount in major units: Taobao/JD yuan strings, Shopify `"598.94"`.

        Surrounding whitespace is dropped and trailing zeros beyond 4 places (`"12.300000"`)
        are trimmed, since they change nothing; any other extra digit is still refused.
        """
        if isinstance(value, str):
            value = value.strip()
            whole, dot, frac = value.partition(".")
            if dot and len(frac) > MAX_SCALE and frac[MAX_SCALE:].strip("0") == "":
                value = f"{whole}.{frac[:MAX_SCALE]}"
        return cls(amount=value, currency=currency)

    @classmethod
    def from_minor(cls, units: int, currency: str, exponent: int | None = None) -> Self:
        """Build from integer minor units: fen/cents (`20007 CNY` -> `200.07`), `100 JPY` -> `100`.

        `exponent` defaults to the ISO 4217 value for `currency`; it is required for
        currencies outside `MINOR_UNIT_EXPONENTS`, because guessing 2 would be off by 10x or
        100x for some of them.
        """
        if isinstance(units, bool) or not isinstance(units, int):
            raise TypeError("minor units must be an int")
        if exponent is None:
            if currency not in MINOR_UNIT_EXPONENTS:
                raise ValueError(f"unknown minor-unit exponent for {currency!r}; pass exponent=")
            exponent = MINOR_UNIT_EXPONENTS[currency]
        if not 0 <= exponent <= MAX_SCALE:
            raise ValueError(f"exponent must be between 0 and {MAX_SCALE}")
        return cls(amount=Decimal(units).scaleb(-exponent), currency=currency)

    def to_minor(self, exponent: int | None = None) -> int:
        """Integer minor units (for APIs such as `taobao.rp.refunds.agree` that take fen).

        Refuses to round: an amount with more places than the currency has is an error here.
        """
        places = self.exponent(self.currency) if exponent is None else exponent
        scaled = self.amount.scaleb(places)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{self} has more than {places} decimal places")
        return int(scaled)

    @classmethod
    def sum(cls, items: Iterable[Money], currency: str) -> Self:
        """Total of `items`, all in `currency`; `currency` makes an empty sum well defined."""
        total = Decimal(0)
        for item in items:
            if item.currency != currency:
                raise CurrencyMismatchError(f"cannot add {item.currency} to a {currency} sum")
            total += item.amount
        return cls(amount=total, currency=currency)

    def _check_same_currency(self, other: Money, op: str) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatchError(f"cannot {op} {other.currency} and {self.currency}")

    def __add__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._check_same_currency(other, "add")
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._check_same_currency(other, "subtract")
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def __neg__(self) -> Money:
        return Money(amount=-self.amount, currency=self.currency)
