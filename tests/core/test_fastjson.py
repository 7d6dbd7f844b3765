"""fastjson must mean what the standard library means; only faster."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopbridge.core import fastjson

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_round_trip_means_what_the_standard_library_means(value: Any) -> None:
    stdlib = json.loads(json.dumps(value, ensure_ascii=False))
    assert fastjson.loads(fastjson.dumps(value)) == stdlib
    assert fastjson.loads(fastjson.dumps_str(value)) == stdlib
    assert fastjson.copy(value) == stdlib


@given(
    json_values | st.floats(allow_nan=False, allow_infinity=False, max_value=1e-3, min_value=-1e-3)
)
def test_canonical_is_byte_identical_to_the_standard_library(value: Any) -> None:
    expected = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert fastjson.canonical(value) == expected.encode("utf-8", "surrogatepass")


@pytest.mark.parametrize(
    "value", [1e-05, -9.2e-05, 6.1e-08, 1e-10, 1e16, 1e-4, {"b": 1e-7, "a": "e-5"}]
)
def test_canonical_small_and_large_floats(value: Any) -> None:
    expected = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert fastjson.canonical(value) == expected.encode()


def test_long_integers_keep_every_digit() -> None:
    # orjson alone would read these as floats.
    text = '{"tid": 123456789012345678901234567890, "neg": -9223372036854775809}'
    assert fastjson.loads(text) == {
        "tid": 123456789012345678901234567890,
        "neg": -9223372036854775809,
    }
    assert fastjson.loads(text.encode()) == fastjson.loads(text)
    assert fastjson.dumps({"n": 2**70}) == b'{"n":1180591620717411303424}'


def test_19_digit_ids_within_64_bits_take_the_fast_path() -> None:
    # Taobao trade ids have 19 digits; they fit in 64 bits and are read exactly either way.
    assert fastjson.loads(b'{"tid": 3950117702384416531}') == {"tid": 3950117702384416531}
    assert not fastjson._has_long_number(b'{"tid": 3950117702384416531, "n": -9223372036854775807}')
    assert fastjson._has_long_number(b'{"n": 9223372036854775808}')
    assert fastjson._has_long_number(b'{"n": 12345678901234567890123}')
    assert fastjson.loads(b"[9223372036854775808]") == [9223372036854775808]


def test_what_the_standard_library_accepts_is_still_accepted() -> None:
    assert math.isnan(fastjson.loads('{"x": NaN}')["x"])
    assert fastjson.loads('{"x": "\\ud800"}') == {"x": "\ud800"}
    assert fastjson.dumps_str({"x": "\ud800"}) == '{"x":"\ud800"}'
    assert fastjson.copy({"x": "\ud800", 1: "a"}) == {"x": "\ud800", "1": "a"}


def test_output_is_compact_utf8() -> None:
    assert (
        fastjson.dumps({"name": "张三", "a": [1, None]}) == '{"name":"张三","a":[1,null]}'.encode()
    )


@pytest.mark.parametrize("bad", [b"{bad", b"", b"[1,", "{'single': 1}"])
def test_bad_json_raises_the_standard_error(bad: bytes | str) -> None:
    with pytest.raises(json.JSONDecodeError):
        fastjson.loads(bad)
