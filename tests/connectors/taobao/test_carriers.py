"""Unified carrier codes <-> Taobao `company_code`."""

from __future__ import annotations

import pytest

from shopbridge.connectors import Rejected
from shopbridge.connectors.taobao.carriers import (
    TAOBAO_COMPANY_CODES,
    UNCONFIRMED,
    carrier_overrides,
    taobao_company_code,
    unified_carrier_code,
)


@pytest.mark.parametrize(
    ("unified", "native"),
    [
        ("SF", "SF"),
        ("ZTO", "ZTO"),
        ("YTO", "YTO"),
        ("STO", "STO"),
        ("YUNDA", "YUNDA"),
        ("CHINA_POST", "POSTB"),
        ("ZJS", "ZJS"),
        (" sf ", "SF"),
    ],
)
def test_confirmed_codes(unified: str, native: str) -> None:
    assert taobao_company_code(unified) == native


@pytest.mark.parametrize("unified", sorted(UNCONFIRMED))
def test_unconfirmed_codes_are_refused_with_what_to_do(unified: str) -> None:
    with pytest.raises(Rejected) as caught:
        taobao_company_code(unified)
    assert caught.value.code == "unsupported_carrier"
    assert "settings.carrier_codes" in caught.value.reason


def test_other_and_unknown_codes() -> None:
    with pytest.raises(Rejected, match="carrier_codes"):
        taobao_company_code("OTHER")
    with pytest.raises(Rejected, match="unknown unified carrier code"):
        taobao_company_code("PIGEON_POST")


def test_overrides_add_and_replace() -> None:
    overrides = carrier_overrides({"jd": "JD", "DEPPON": "DBKD", "SF": "SF_KY"})
    assert taobao_company_code("JD", overrides=overrides) == "JD"
    assert taobao_company_code("DEPPON", overrides=overrides) == "DBKD"
    assert taobao_company_code("SF", overrides=overrides) == "SF_KY"
    assert taobao_company_code("ZTO", overrides=overrides) == "ZTO"
    assert carrier_overrides(None) == {}


@pytest.mark.parametrize(
    "bad", [["JD"], {"JD": 3}, {"JD": "京东"}, {"": "JD"}, {"jd express": "JD"}, "JD=JD"]
)
def test_bad_overrides_are_configuration_errors(bad: object) -> None:
    with pytest.raises(Rejected) as caught:
        carrier_overrides(bad)
    assert caught.value.code == "configuration"


@pytest.mark.parametrize(
    ("native", "unified"),
    [
        ("SF", "SF"),
        ("postb", "CHINA_POST"),
        ("顺丰速运", "SF"),
        ("中通快递", "ZTO"),
        ("韵达快递", "YUNDA"),
        ("邮政快递包裹", "CHINA_POST"),
        ("京东快递", "JD"),
        ("极兔速递", "JTEXPRESS"),
        ("某某同城快递", "OTHER"),
        ("", None),
        (None, None),
    ],
)
def test_reading_back(native: str | None, unified: str | None) -> None:
    assert unified_carrier_code(native) == unified


def test_every_confirmed_code_reads_back() -> None:
    for unified, native in TAOBAO_COMPANY_CODES.items():
        assert unified_carrier_code(native) == unified
