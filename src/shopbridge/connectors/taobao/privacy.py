"""Privacy shipping on Taobao / Tmall: Cainiao e-waybills by OAID and OAID decryption, as
pure functions (the connector does the calls).

Taobao gives ISVs the recipient masked (`张**`, `139****5678`) plus an OAID. Printing needs no
plaintext: `cainiao.waybill.ii.get` takes `recipient.oaid` + `recipient.tid` (and the clear
province/city/district for routing) and returns an encrypted cloud-print document that only
Cainiao's print component renders (`print_format` `cainiao-cloudprint`). This module builds
that request with no name, phone or street at all, so nothing personal can leak even if the
order we hold were unmasked. `taobao.top.oaid.decrypt` is the audited exception (up to 20
(tid, oaid) pairs per call, a scene code per pair).

Wire facts (bububa/opentaobao `model/waybill/*`, `model/tbtrade/TaobaoTopOaidDecrypt*`,
`Receiver.go`, `ReceiverQuery.go`; shared/platforms/taobao.md §5.8, §7):

- `param_waybill_cloud_print_apply_new_request` (JSON string): `cp_code`, `sender`
  {`name`, `mobile`, `phone`, `address`{`province`, `city`, `district`, `town`, `detail`}},
  `trade_order_info_dtos[]` (≤ 10) {`object_id`, `order_info`{`order_channels_type`,
  `trade_order_list[]`}, `package_info`{`id` (letters, digits, `_`), `items[]`{`name`,
  `count`}, `weight` g, `volume` ml}, `recipient`{..., `oaid`, `tid`}, `template_url`,
  `logistics_services`}, `need_encrypt`, `multi_packages_shipment`, `product_code`;
- answer `modules` (`{"waybill_cloud_print_response": [...]}`, a plain array when
  simplified) of {`object_id`, `waybill_code`, `print_data`, `parent_waybill_code`,
  `cp_code`};
- `query_list` (JSON string) of {`tid`, `oaid`, `scene`, `secret_no_days`}; answer
  `receiver_list` of {`tid`, `oaid`, `name`, `mobile`, `phone`, `state`, `city`, `district`,
  `town`, `address_detail`, `country`, `matched`, `privacy_protection`,
  `secret_no_expire_time`}.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from shopbridge.connectors.base import (
    DecryptedReceiver,
    ReceiverQuery,
    WaybillRequest,
    WaybillResult,
)
from shopbridge.connectors.errors import MappingError, Rejected
from shopbridge.connectors.taobao.mapping import list_items, parse_time

__all__ = [
    "DECRYPT_BATCH",
    "DECRYPT_METHOD",
    "ORDER_CHANNELS",
    "PRINT_FORMAT",
    "SCENE_CODES",
    "WAYBILL_METHOD",
    "WAYBILL_OPTIONS",
    "decrypt_param",
    "parse_decrypted",
    "parse_waybill",
    "waybill_param",
]

PLATFORM: Final = "taobao"
WAYBILL_METHOD: Final = "cainiao.waybill.ii.get"
DECRYPT_METHOD: Final = "taobao.top.oaid.decrypt"
PRINT_FORMAT: Final = "cainiao-cloudprint"
DECRYPT_BATCH: Final = 20
"""`query_list` holds at most 20 queries."""
ORDER_CHANNELS: Final = frozenset({"TB", "TM"})
"""Cainiao `order_channels_type` of Taobao and Tmall orders (`settings.order_channel`)."""

SCENE_CODES: Final[Mapping[str, str]] = {
    "sf_waybill": "1001",
    "express_waybill": "1002",
    "ems_waybill": "1003",
    "other_waybill": "1004",
    "store_shipping": "1005",
    "manual_order": "1006",
    "dropship": "1007",
    "after_sales": "2001",
    "customer_care": "2002",
}
"""Neutral decrypt scene (`connectors.base.DECRYPT_SCENES`) -> TOP scene code (`1002` is
"4通一达": STO, YTO, ZTO, Best, Yunda)."""

WAYBILL_OPTIONS: Final[Mapping[str, type]] = {
    "multi_packages_shipment": bool,
    "logistics_services": str,
    "product_code": str,
}
"""What `WaybillRequest.options` may hold for Taobao: `multi_packages_shipment` (one parcel
of several: later packages hang on the first one's master waybill), `logistics_services`
(Cainiao's value-added services JSON, e.g. insurance), `product_code` (legacy)."""

_PACKAGE_ID: Final = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def _rejected(reason: str, code: str, interface: str = WAYBILL_METHOD) -> Rejected:
    return Rejected(reason, reason=reason, platform=PLATFORM, interface=interface, code=code)


def _bad_answer(path: str, reason: str, interface: str) -> MappingError:
    return MappingError(f"{path}: {reason}", path=path, platform=PLATFORM, interface=interface)


def _clean(value: Mapping[str, Any]) -> dict[str, Any]:
    """Drop empty members: Cainiao reads an empty string as a value."""
    return {k: v for k, v in value.items() if v is not None and v != ""}


def waybill_param(request: WaybillRequest, *, tid: str, cp_code: str, order_channel: str) -> str:
    """`param_waybill_cloud_print_apply_new_request` for one package of one trade.

    The recipient is the OAID, the trade id and the clear administrative divisions: no
    name, phone, mobile or street, masked or not. Raises `Rejected` (before any call) for an
    option Taobao does not know or a package id Cainiao would refuse.
    """
    package = request.package
    if not _PACKAGE_ID.fullmatch(package.id):
        raise _rejected(
            "package id: Cainiao accepts letters, digits and _ only (at most 64)", "bad_package_id"
        )
    if not package.items:
        raise _rejected("a package needs at least one item", "bad_package")
    unknown = sorted(set(request.options) - set(WAYBILL_OPTIONS))
    if unknown:
        raise _rejected(
            f"unknown Taobao waybill option {unknown[0]!r}; known: "
            + ", ".join(sorted(WAYBILL_OPTIONS)),
            "unsupported_option",
        )
    for name, value in request.options.items():
        expected = WAYBILL_OPTIONS[name]
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            raise _rejected(f"option {name} must be a {expected.__name__}", "unsupported_option")
    region = request.region
    sender = request.sender
    dto: dict[str, Any] = {
        "object_id": package.id,
        "order_info": {"order_channels_type": order_channel, "trade_order_list": [tid]},
        "package_info": _clean(
            {
                "id": package.id,
                "items": [{"name": i.name, "count": i.quantity} for i in package.items],
                "weight": package.weight_g,
                "volume": package.volume_ml,
            }
        ),
        "recipient": {
            "oaid": request.receiver_ref,
            "tid": tid,
            "address": _clean(
                {
                    "province": region.province,
                    "city": region.city,
                    "district": region.district,
                    "town": region.town,
                }
            ),
        },
        "template_url": request.template_url,
        "logistics_services": request.options.get("logistics_services"),
    }
    body: dict[str, Any] = {
        "cp_code": cp_code,
        "product_code": request.options.get("product_code"),
        "need_encrypt": True,
        "multi_packages_shipment": request.options.get("multi_packages_shipment"),
        "sender": _clean(
            {
                "name": sender.name,
                "mobile": sender.mobile,
                "phone": sender.phone,
                "address": _clean(
                    {
                        "province": sender.address.province,
                        "city": sender.address.city,
                        "district": sender.address.district,
                        "town": sender.address.town,
                        "detail": sender.address.detail,
                    }
                ),
            }
        ),
        "trade_order_info_dtos": [_clean(dto)],
    }
    return json.dumps(_clean(body), ensure_ascii=False, separators=(",", ":"))


def parse_waybill(body: Mapping[str, Any], *, object_id: str, cp_code: str) -> WaybillResult:
    """The module answering `object_id` in a `cainiao.waybill.ii.get` answer."""
    interface = WAYBILL_METHOD
    try:
        modules = list_items(body.get("modules"), "waybill_cloud_print_response", "$.modules")
    except MappingError as exc:
        exc.interface = interface
        raise
    for item, path in modules:
        if not isinstance(item, dict):
            raise _bad_answer(path, "not a JSON object", interface)
        if str(item.get("object_id") or object_id) != object_id:
            continue
        code = item.get("waybill_code")
        if not isinstance(code, str) or not code.strip():
            raise _bad_answer(f"{path}.waybill_code", "missing", interface)
        print_data = item.get("print_data")
        if not isinstance(print_data, str) or not print_data:
            raise _bad_answer(f"{path}.print_data", "missing", interface)
        parent = item.get("parent_waybill_code")
        platform_cp = item.get("real_cp_code") or item.get("cp_code") or cp_code
        return WaybillResult(
            waybill_number=code.strip(),
            platform_carrier_code=str(platform_cp),
            print_data=print_data,
            print_format=PRINT_FORMAT,
            parent_waybill_number=parent.strip() if isinstance(parent, str) and parent else None,
        )
    raise _bad_answer("$.modules", f"no waybill for object {object_id}", interface)


def decrypt_param(
    queries: Sequence[ReceiverQuery], tids: Sequence[str], secret_no_days: int
) -> str:
    """`query_list` for up to 20 queries (`tids` are the queries' trade ids, checked)."""
    if len(queries) > DECRYPT_BATCH:
        raise ValueError(f"at most {DECRYPT_BATCH} queries per call")
    rows = []
    for query, tid in zip(queries, tids, strict=True):
        scene = SCENE_CODES.get(query.scene)
        if scene is None:
            raise _rejected(
                f"unknown decrypt scene {query.scene!r}; known: {', '.join(SCENE_CODES)}",
                "bad_scene",
                DECRYPT_METHOD,
            )
        rows.append(
            {
                "tid": tid,
                "oaid": query.receiver_ref,
                "scene": scene,
                "secret_no_days": secret_no_days,
            }
        )
    return json.dumps(rows, separators=(",", ":"))


def _field(row: Mapping[str, Any], key: str) -> str | None:
    value = row.get(key)
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    return text or None


def _flag(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True


def parse_decrypted(
    body: Mapping[str, Any], queries: Sequence[ReceiverQuery], tids: Sequence[str]
) -> list[DecryptedReceiver]:
    """One `DecryptedReceiver` per query, in query order, matched on (tid, oaid).

    A row with `matched=false` keeps no personal field even if the platform sent some: the
    handle is no longer the order's recipient. Errors name paths, never values.
    """
    interface = DECRYPT_METHOD
    try:
        rows = list_items(body.get("receiver_list"), "receiver", "$.receiver_list")
    except MappingError as exc:
        exc.interface = interface
        raise
    answers: dict[tuple[str, str], tuple[Mapping[str, Any], str]] = {}
    for row, path in rows:
        if not isinstance(row, dict):
            raise _bad_answer(path, "not a JSON object", interface)
        tid = _field(row, "tid") or _field(row, "order_id")
        oaid = _field(row, "oaid")
        if tid is not None and oaid is not None:
            answers[(tid, oaid)] = (row, path)
    results: list[DecryptedReceiver] = []
    for query, tid in zip(queries, tids, strict=True):
        found = answers.get((tid, query.receiver_ref))
        if found is None:
            raise _bad_answer("$.receiver_list", f"no answer for trade {tid}", interface)
        row, path = found
        if not _flag(row.get("matched")):
            results.append(
                DecryptedReceiver(
                    platform_order_id=query.platform_order_id,
                    receiver_ref=query.receiver_ref,
                    matched=False,
                )
            )
            continue
        protected = _flag(row.get("privacy_protection"))
        expires: datetime | None = None
        if protected and _field(row, "secret_no_expire_time"):
            try:
                expires = parse_time(
                    row.get("secret_no_expire_time"), f"{path}.secret_no_expire_time"
                )
            except MappingError as exc:
                exc.interface = interface
                raise
        results.append(
            DecryptedReceiver(
                platform_order_id=query.platform_order_id,
                receiver_ref=query.receiver_ref,
                matched=True,
                name=_field(row, "name"),
                mobile=_field(row, "mobile"),
                phone=_field(row, "phone"),
                country=_field(row, "country"),
                province=_field(row, "state"),
                city=_field(row, "city"),
                district=_field(row, "district"),
                town=_field(row, "town"),
                address_detail=_field(row, "address_detail"),
                virtual_number=protected,
                virtual_number_expires_at=expires,
            )
        )
    return results
