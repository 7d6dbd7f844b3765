from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic import ValidationError

from shopbridge.core import CurrencyMismatchError, Money


def cny(amount: str) -> Money:
    return Money(amount=amount, currency="CNY")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12.30", "12.30"),
        ("0.01", "0.01"),
        ("-5", "-5"),
        ("123456789012345678.1234", "123456789012345678.1234"),
        (12, "12"),
        (Decimal("12.30"), "12.30"),
        (Decimal("1E+3"), "1000"),
        (Decimal("-0.00"), "0.00"),
        ("0", "0"),
    ],
)
def test_accepted_amounts_keep_their_scale(value: object, expected: str) -> None:
    money = Money(amount=value, currency="CNY")
    assert str(money.amount) == expected
    assert json.loads(money.model_dump_json()) == {"amount": expected, "currency": "CNY"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (12.3, "must not be a float"),
        (0.5, "must not be a float"),
        (12.0, "must not be a float"),
        (True, "not bool"),
        ("NaN", 'look like "12.30"'),
        ("Infinity", 'look like "12.30"'),
        (Decimal("NaN"), "finite"),
        (Decimal("-Infinity"), "finite"),
        ("0.30000000000000004", "more than 4 decimal places"),
        (Decimal("0.12345"), "more than 4 decimal places"),
        ("1" * 19, "more than 18 integer digits"),
        (10**18, "more than 18 integer digits"),
        ("1e3", 'look like "12.30"'),
        (" 12.30", 'look like "12.30"'),
        ("12,30", 'look like "12.30"'),
        ("1_000", 'look like "12.30"'),
        ("+5", 'look like "12.30"'),
        ("", 'look like "12.30"'),
        (None, "decimal string, an int or a Decimal"),
        ([1], "decimal string, an int or a Decimal"),
    ],
)
def test_rejected_amounts(value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Money(amount=value, currency="CNY")


def test_float_from_json_is_rejected_with_a_clear_error() -> None:
    with pytest.raises(ValidationError) as excinfo:
        Money.model_validate_json('{"amount": 12.3, "currency": "CNY"}')
    error = excinfo.value.errors()[0]
    assert error["loc"] == ("amount",)
    assert "float" in error["msg"]
    assert 'string such as "12.30"' in error["msg"]


def test_json_integer_amount_is_accepted() -> None:
    assert Money.model_validate_json('{"amount": 100, "currency": "JPY"}').amount == 100


@pytest.mark.parametrize("currency", ["cny", "CN", "CNYY", "1AB", "", "Cny"])
def test_currency_must_be_iso_shaped(currency: str) -> None:
    with pytest.raises(ValidationError):
        Money(amount="1", currency=currency)


def test_unknown_fields_and_mutation_are_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        Money.model_validate({"amount": "1", "currency": "CNY", "fx": "7.1"})
    money = cny("1.00")
    with pytest.raises(ValidationError, match="frozen"):
        money.amount = Decimal(2)  # type: ignore[misc]


def test_equality_is_numeric_and_hash_consistent() -> None:
    assert cny("12.30") == cny("12.3")
    assert hash(cny("12.30")) == hash(cny("12.3"))
    assert cny("12.30") != Money(amount="12.30", currency="USD")


def test_addition_and_subtraction_same_currency() -> None:
    total = cny("12.30") + cny("0.705")
    assert str(total.amount) == "13.005"
    assert total.currency == "CNY"
    assert str((cny("10.00") - cny("2.50")).amount) == "7.50"
    assert str((-cny("1.20")).amount) == "-1.20"


def test_arithmetic_across_currencies_is_refused() -> None:
    with pytest.raises(CurrencyMismatchError):
        _ = cny("1") + Money(amount="1", currency="USD")
    with pytest.raises(CurrencyMismatchError):
        _ = cny("1") - Money(amount="1", currency="USD")
    with pytest.raises(TypeError):
        _ = cny("1") + 1


def test_sum() -> None:
    assert str(Money.sum([cny("1.10"), cny("2.20"), cny("3.3")], "CNY").amount) == "6.60"
    assert Money.sum([], "JPY") == Money(amount=0, currency="JPY")
    with pytest.raises(CurrencyMismatchError):
        Money.sum([cny("1")], "USD")


def test_sum_beyond_the_cap_is_refused() -> None:
    big = cny("999999999999999999")
    with pytest.raises(ValidationError, match="18 integer digits"):
        _ = big + big


@pytest.mark.parametrize(
    ("currency", "expected"),
    [("CNY", "0.00"), ("USD", "0.00"), ("JPY", "0"), ("KRW", "0"), ("KWD", "0.000"), ("XYZ", "0")],
)
def test_zero_uses_the_currency_scale(currency: str, expected: str) -> None:
    assert str(Money.zero(currency).amount) == expected


@pytest.mark.parametrize(
    ("units", "currency", "expected"),
    [
        (20007, "CNY", "200.07"),
        (100, "CNY", "1.00"),
        (-5, "USD", "-0.05"),
        (0, "CNY", "0.00"),
        (100, "JPY", "100"),
        (5000, "KRW", "5000"),
        (1234, "BHD", "1.234"),
        (1234, "KWD", "1.234"),
    ],
)
def test_from_minor_units(units: int, currency: str, expected: str) -> None:
    money = Money.from_minor(units, currency)
    assert str(money.amount) == expected
    assert money.to_minor() == units


def test_from_minor_needs_an_exponent_for_unlisted_currencies() -> None:
    with pytest.raises(ValueError, match="pass exponent="):
        Money.from_minor(100, "XTS")
    assert str(Money.from_minor(100, "XTS", exponent=2).amount) == "1.00"
    with pytest.raises(ValueError, match="exponent must be"):
        Money.from_minor(1, "XTS", exponent=5)
    with pytest.raises(TypeError):
        Money.from_minor(1.0, "CNY")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money.from_minor(True, "CNY")


def test_to_minor_refuses_to_round() -> None:
    assert cny("200.07").to_minor() == 20007
    assert cny("200.1").to_minor() == 20010
    with pytest.raises(ValueError, match="more than 2 decimal places"):
        cny("200.075").to_minor()
    assert cny("200.075").to_minor(exponent=3) == 200075


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("200.07", "200.07"),
        (" 200.07\n", "200.07"),
        ("12.300000", "12.3000"),
        ("5", "5"),
        (7, "7"),
        (Decimal("1.5"), "1.5"),
    ],
)
def test_from_major_parses_platform_strings(text: str | int | Decimal, expected: str) -> None:
    assert str(Money.from_major(text, "CNY").amount) == expected


@pytest.mark.parametrize("text", ["12.30000001", "0.30000000000000004", "abc", "1,000.00"])
def test_from_major_still_refuses_real_extra_digits(text: str) -> None:
    with pytest.raises(ValidationError):
        Money.from_major(text, "CNY")


def test_from_major_refuses_float() -> None:
    with pytest.raises(ValidationError, match="float"):
        Money.from_major(12.3, "CNY")  # type: ignore[arg-type]


def test_str() -> None:
    assert str(cny("12.30")) == "12.30 CNY"
