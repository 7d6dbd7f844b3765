from __future__ import annotations

import re

import pytest
from pydantic import BaseModel, ValidationError

from shopbridge.core import (
    KNOWN_PLATFORMS,
    PLATFORM_PATTERN,
    CarrierCode,
    HttpUrl,
    Identifier,
    JsonObject,
    NativePayload,
    PlatformId,
    Quantity,
    SafeStr,
)
from shopbridge.core.types import MAX_JSON_DEPTH


class Doc(BaseModel):
    text: SafeStr = ""
    ident: Identifier = "x"
    platform: PlatformId = "taobao"
    qty: Quantity = 1
    carrier: CarrierCode = "SF"
    url: HttpUrl = "https://example.com"
    ext: JsonObject = {}
    raw: NativePayload = None


@pytest.mark.parametrize("bad", ["a\x00b", "\x00", "a\ud800", "\udfff"])
def test_safe_str_rejects_nul_and_lone_surrogates(bad: str) -> None:
    with pytest.raises(ValidationError, match=r"NUL|surrogate"):
        Doc(text=bad)
    with pytest.raises(ValidationError):
        Doc(ext={"k": bad})
    with pytest.raises(ValidationError):
        Doc(ext={bad: 1})
    with pytest.raises(ValidationError):
        Doc(raw=[{"deep": [bad]}])


def test_safe_str_keeps_everything_else_verbatim() -> None:
    text = "  tab\tnewline\n emoji 😀 中文 \u200b "
    assert Doc(text=text).text == text


def test_lone_surrogate_in_json_input_is_rejected() -> None:
    with pytest.raises(ValidationError):
        Doc.model_validate_json('{"text": "\\ud800"}')


@pytest.mark.parametrize("bad", ["", "x" * 256])
def test_identifier_is_non_empty_and_bounded(bad: str) -> None:
    with pytest.raises(ValidationError):
        Doc(ident=bad)
    assert Doc(ident="x" * 255).ident == "x" * 255


def test_identifier_must_be_a_string_not_an_int() -> None:
    with pytest.raises(ValidationError, match="valid string"):
        Doc(ident=3028689418086124)
    with pytest.raises(ValidationError, match="valid string"):
        Doc.model_validate_json('{"ident": 3028689418086124}')


def test_known_platforms_match_the_pattern() -> None:
    assert len(KNOWN_PLATFORMS) == len(set(KNOWN_PLATFORMS)) == 16
    for platform in KNOWN_PLATFORMS:
        assert re.fullmatch(PLATFORM_PATTERN, platform)
        assert Doc(platform=platform).platform == platform


@pytest.mark.parametrize("good", ["my_connector", "x1", "a" * 32])
def test_plugin_platform_ids_are_allowed(good: str) -> None:
    assert Doc(platform=good).platform == good


@pytest.mark.parametrize("bad", ["Taobao", "1688", "t", "a" * 33, "tao-bao", "taobao\n", ""])
def test_bad_platform_ids_are_rejected(bad: str) -> None:
    with pytest.raises(ValidationError):
        Doc(platform=bad)


@pytest.mark.parametrize("bad", [0, -1, 10**9 + 1, True, 2.0, "2"])
def test_quantity_is_a_strict_positive_bounded_int(bad: object) -> None:
    with pytest.raises(ValidationError):
        Doc(qty=bad)
    assert Doc(qty=10**9).qty == 10**9


@pytest.mark.parametrize("good", ["SF", "ZTO", "DHL_EXPRESS", "FOURPX", "OTHER"])
def test_carrier_codes(good: str) -> None:
    assert Doc(carrier=good).carrier == good


@pytest.mark.parametrize("bad", ["sf", "S F", "", "_SF", "X" * 33])
def test_bad_carrier_codes(bad: str) -> None:
    with pytest.raises(ValidationError):
        Doc(carrier=bad)


def test_urls_are_kept_verbatim() -> None:
    url = "https://Example.com/a?q=%E4%B8%AD"
    assert Doc(url=url).url == url
    with pytest.raises(ValidationError):
        Doc(url="javascript:alert(1)")
    with pytest.raises(ValidationError):
        Doc(url="https://exa mple.com")


def test_json_object_accepts_json_values_and_copies_them() -> None:
    source = {"a": [1, 2.5, True, None, "s", {"b": -(2**70)}]}
    doc = Doc(ext=source, raw=[source])
    source["a"].append("mutated later")
    assert doc.ext == {"a": [1, 2.5, True, None, "s", {"b": -(2**70)}]}
    assert Doc.model_validate_json(doc.model_dump_json()) == doc


@pytest.mark.parametrize(
    "bad",
    [
        {"x": float("nan")},
        {"x": float("inf")},
        {"x": (1, 2)},
        {"x": {1: "int key"}},
        {"x": {"a", "set"}},
        {"x": b"bytes"},
    ],
)
def test_json_object_rejects_non_json_values(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Doc(ext=bad)


def test_json_object_must_be_an_object_and_native_payload_object_or_array() -> None:
    with pytest.raises(ValidationError, match="JSON object"):
        Doc(ext=[1])
    with pytest.raises(ValidationError, match="JSON object, a JSON array or null"):
        Doc(raw="text")
    assert Doc(raw=[]).raw == []


def test_json_depth_is_bounded() -> None:
    deep: object = "leaf"
    for _ in range(MAX_JSON_DEPTH + 1):
        deep = [deep]
    with pytest.raises(ValidationError, match="nested deeper"):
        Doc(raw=deep)
    ok: object = "leaf"
    for _ in range(MAX_JSON_DEPTH - 1):
        ok = [ok]
    Doc(raw=[ok])
