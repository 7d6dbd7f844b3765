"""Unified carrier codes <-> Taobao logistics company codes (`company_code`).

`taobao.logistics.offline.send` takes a `company_code` from the list
`taobao.logistics.companies.get` returns. The table below is the Taobao column of the unified
carrier table (`shared/carriers.md`): only the codes a real integration confirmed. A carrier
whose cell is `?` there (J&T, EMS, JD, Deppon, Best, Cainiao, Danniao, the international
carriers) is refused before any call instead of being guessed; a shop whose operator has
checked the code against `taobao.logistics.companies.get` adds it in
`settings["carrier_codes"]` (`{"JD": "JD", "DEPPON": "DBKD"}`), which also overrides a row.

Reading back, a sub-order names its carrier by display name (`logistics_company`: `顺丰速运`),
so names are matched too; anything else is `OTHER` with the name kept.

The unified codes come from `shopbridge.core.carriers` (the single list): every code of the
table without a confirmed row here is "unconfirmed", so a carrier added to the table is
refused with advice until its Taobao code is confirmed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from shopbridge.connectors.errors import Rejected
from shopbridge.core.carriers import (
    CARRIER_CODES,
    OTHER,
    PlatformCarriers,
    declare_platform_carriers,
)

__all__ = [
    "COMPANY_NAMES",
    "OTHER",
    "SUPPORTED_CARRIERS",
    "TAOBAO_COMPANY_CODES",
    "UNCONFIRMED",
    "carrier_overrides",
    "shop_accepts_carrier",
    "taobao_company_code",
    "unified_carrier_code",
]

TAOBAO_COMPANY_CODES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "SF": "SF",
        "ZTO": "ZTO",
        "YTO": "YTO",
        "STO": "STO",
        "YUNDA": "YUNDA",
        "CHINA_POST": "POSTB",  # 邮政快递包裹
        "ZJS": "ZJS",
    }
)
"""Unified code -> Taobao `company_code`, confirmed ones only."""

UNCONFIRMED: Final[frozenset[str]] = CARRIER_CODES - set(TAOBAO_COMPANY_CODES) - {OTHER}
"""Unified carriers whose Taobao code is not confirmed (`?` in the carrier table)."""

SUPPORTED_CARRIERS: Final[frozenset[str]] = frozenset(TAOBAO_COMPANY_CODES)
"""Unified codes every Taobao shop accepts; a shop's `settings.carrier_codes` adds more.
`OTHER` is never accepted: Taobao only takes carriers from its own list."""

COMPANY_NAMES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "顺丰速运": "SF",
        "顺丰快递": "SF",
        "顺丰": "SF",
        "中通快递": "ZTO",
        "中通": "ZTO",
        "圆通速递": "YTO",
        "圆通快递": "YTO",
        "圆通": "YTO",
        "申通快递": "STO",
        "申通": "STO",
        "韵达快递": "YUNDA",
        "韵达速递": "YUNDA",
        "韵达": "YUNDA",
        "邮政快递包裹": "CHINA_POST",
        "邮政国内小包": "CHINA_POST",
        "EMS": "EMS",
        "邮政EMS": "EMS",
        "京东快递": "JD",
        "京东物流": "JD",
        "德邦快递": "DEPPON",
        "极兔速递": "JTEXPRESS",
        "极兔快递": "JTEXPRESS",
        "百世快递": "BEST",
        "宅急送": "ZJS",
        "菜鸟速递": "DANNIAO",
        "丹鸟": "DANNIAO",
    }
)
"""Carrier display names as sub-orders report them -> unified code (reading only)."""

_BY_CODE: Final[dict[str, str]] = {native: code for code, native in TAOBAO_COMPANY_CODES.items()}
_COMPANY_CODE: Final = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")
_UNIFIED_CODE: Final = re.compile(r"^[A-Z0-9][A-Z0-9_]{0,31}$")


def carrier_overrides(setting: object) -> dict[str, str]:
    """Validate `settings["carrier_codes"]`: unified code -> Taobao `company_code`."""
    if setting is None:
        return {}
    if not isinstance(setting, Mapping):
        raise _configuration("carrier_codes must map unified carrier codes to company codes")
    overrides: dict[str, str] = {}
    for code, native in setting.items():
        if not isinstance(code, str) or not _UNIFIED_CODE.fullmatch(code.strip().upper()):
            raise _configuration("carrier_codes has a key that is not a unified carrier code")
        if not isinstance(native, str) or not _COMPANY_CODE.fullmatch(native.strip()):
            raise _configuration(
                f"carrier_codes[{code!r}] must be a Taobao company_code (letters, digits, _ or -)"
            )
        overrides[code.strip().upper()] = native.strip()
    return overrides


def _configuration(reason: str) -> Rejected:
    return Rejected(reason, reason=reason, platform="taobao", code="configuration")


def taobao_company_code(carrier_code: str, *, overrides: Mapping[str, str] | None = None) -> str:
    """The `company_code` to send for a unified carrier code. Raises `Rejected` (before
    anything is sent) for a carrier without a confirmed code, saying what to do instead."""
    code = carrier_code.strip().upper()
    if overrides and code in overrides:
        return overrides[code]
    native = TAOBAO_COMPANY_CODES.get(code)
    if native is not None:
        return native
    if code == OTHER:
        reason = (
            "Taobao only takes carriers from taobao.logistics.companies.get; confirm with the "
            "carrier's unified code, or map it in settings.carrier_codes"
        )
    elif code in UNCONFIRMED:
        reason = (
            f"carrier {code} has no confirmed Taobao company_code; check it with "
            "taobao.logistics.companies.get and add it to settings.carrier_codes"
        )
    else:
        reason = f"unknown unified carrier code {code!r}; see the carrier table"
    raise Rejected(reason, reason=reason, platform="taobao", code="unsupported_carrier")


def unified_carrier_code(native: str | None) -> str | None:
    """Unified code for a Taobao company code or display name; `OTHER` for one outside the
    tables, None when there is none."""
    if native is None or not native.strip():
        return None
    text = native.strip()
    if text.upper() in _BY_CODE:
        return _BY_CODE[text.upper()]
    return COMPANY_NAMES.get(text, OTHER)


def shop_accepts_carrier(carrier_code: str, settings: Mapping[str, Any]) -> bool:
    """Whether a shop with these settings can confirm with this unified code, without
    calling Taobao: a confirmed code, or one the shop maps in `settings.carrier_codes`. Broken
    `carrier_codes` settings accept only the confirmed codes (the confirm call then names
    the setting's problem)."""
    code = carrier_code.strip().upper()
    if code in SUPPORTED_CARRIERS:
        return True
    try:
        return code in carrier_overrides(settings.get("carrier_codes"))
    except Rejected:
        return False


declare_platform_carriers(
    PlatformCarriers(platform="taobao", supported=SUPPORTED_CARRIERS, accepts=shop_accepts_carrier)
)
