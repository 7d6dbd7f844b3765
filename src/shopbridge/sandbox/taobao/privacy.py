"""Privacy shipping (隐私发货) on the sandbox: Cainiao e-waybills by OAID and OAID decryption.

Taobao masks the recipient of every trade and names it by an OAID. A warehouse still prints
a label: it asks Cainiao for an e-waybill with ``oaid`` + ``tid`` instead of the address
(``cainiao.waybill.ii.get``), and Cainiao answers with an encrypted cloud-print payload that
only the cloud-print component can render. Decrypting an OAID into plaintext
(``taobao.top.oaid.decrypt``) is a separate, scene-bound and audited exception.

This module is what lets a test *prove* a client never sent buyer data: the sandbox keeps
each trade's plaintext recipient, so every waybill request is scanned for it. A request that
carries any of it (name, mobile, phone, street address; anywhere in the request, not just in
``recipient``) is refused with ``isv.invalid-parameter`` and counted as a violation, which
``GET /_sandbox/waybills`` reports. Records kept for the control API hold ids, flags and
field *paths*, never values.

Wire facts (bububa/opentaobao ``model/waybill``, ``model/tbtrade``):

* ``param_waybill_cloud_print_apply_new_request`` is a JSON string: ``cp_code``, ``sender``
  {``name``, ``mobile``, ``phone``, ``address``{``province``, ``city``, ``district``,
  ``town``, ``detail``}}, ``trade_order_info_dtos[]`` (at most 10) {``object_id``,
  ``order_info``{``order_channels_type``, ``trade_order_list[]``}, ``package_info``{``id``,
  ``items[]``{``name``, ``count``}, ``weight``, ``volume``}, ``recipient``{``name``,
  ``mobile``, ``phone``, ``address``, ``oaid``, ``tid``, ``caid``}, ``template_url``,
  ``user_id``, ``logistics_services``}, plus ``need_encrypt``, ``multi_packages_shipment``...
* the answer is ``cainiao_waybill_ii_get_response.modules`` of
  ``waybill_cloud_print_response`` {``object_id``, ``waybill_code``, ``print_data``,
  ``parent_waybill_code``} (the sandbox adds ``cp_code``);
* ``query_list`` is a JSON list of at most 20 {``tid``, ``oaid``, ``scene``,
  ``secret_no_days``}; the answer is ``top_oaid_decrypt_response.receiver_list.receiver[]``
  {``tid``, ``oaid``, ``name``, ``mobile``, ``phone``, ``state``, ``city``, ``district``,
  ``town``, ``address_detail``, ``country``, ``matched``, ``privacy_protection``,
  ``secret_no_expire_time``}.

Sandbox choices where the documentation is silent (UNCONFIRMED on the live platform): a
request for a Taobao trade with a stale OAID is refused rather than printed with an old
address; decrypting a stale or foreign OAID answers ``matched=false`` without personal
fields; the same (cp_code, trade, package id) always gets the same waybill number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shopbridge.sandbox.common.rand import DeterministicRandom
from shopbridge.sandbox.taobao.envelope import (
    JSON,
    ListOf,
    RenderContext,
    TopError,
    fmt_time,
    invalid_argument,
    missing_argument,
)
from shopbridge.sandbox.taobao.options import TaobaoSandboxOptions
from shopbridge.sandbox.taobao.scenarios import tracking_number
from shopbridge.sandbox.taobao.state import (
    CARRIERS_BY_CODE,
    NotFoundError,
    Receiver,
    StateError,
    TaobaoState,
    Trade,
)

__all__ = [
    "DECRYPT_SCENES",
    "MAX_DECRYPT_QUERIES",
    "MAX_WAYBILL_ORDERS",
    "PRINT_DATA_VERSION",
    "PrivacyDesk",
]

WAYBILL_PARAM: Final = "param_waybill_cloud_print_apply_new_request"
DECRYPT_PARAM: Final = "query_list"
MAX_WAYBILL_ORDERS: Final = 10
MAX_PACKAGE_ITEMS: Final = 100
MAX_DECRYPT_QUERIES: Final = 20
PRINT_DATA_VERSION: Final = "waybill_print_secret_version_1"
PRIVACY_CHANNELS: Final = frozenset({"TB", "TM"})
"""Order channels whose recipients are OAID-protected (Taobao, Tmall)."""
DECRYPT_SCENES: Final[Mapping[str, str]] = {
    "1001": "顺丰电子面单发货",
    "1002": "4通一达电子面单发货",
    "1003": "EMS电子面单发货",
    "1004": "其他电子面单发货",
    "1005": "线下门店发货",
    "1006": "手工单发货",
    "1007": "代发货",
    "2001": "客户售后服务",
    "2002": "客户关怀",
}
DEFAULT_SECRET_NO_DAYS: Final = 15
_PACKAGE_ID: Final = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_ORDER_ID: Final = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_WHITESPACE: Final = re.compile(r"\s+")
_NOT_DIGIT: Final = re.compile(r"\D+")


def _privacy_refusal(detail: str) -> StateError:
    return StateError("isv.invalid-parameter", detail)


# ---------------------------------------------------------------------------------------
# records the control API shows


@dataclass
class WaybillRequestRecord:
    """One ``cainiao.waybill.ii.get`` call: outcome and how the recipient was named."""

    at: datetime
    accepted: bool
    sub_code: str | None
    tids: list[int]
    recipient_modes: list[str]
    """Per order: ``oaid`` (OAID + tid, no plaintext) or ``plain`` (name/phone/address)."""
    plaintext_paths: list[str]
    """Where plaintext of a trade's recipient was found (JSON paths, never the values)."""

    def to_dict(self, zone: Any) -> JSON:
        return {
            "at": fmt_time(self.at, zone),
            "accepted": self.accepted,
            "sub_code": self.sub_code,
            "tids": self.tids,
            "recipient_modes": self.recipient_modes,
            "used_oaid": bool(self.recipient_modes)
            and all(mode == "oaid" for mode in self.recipient_modes),
            "plaintext_paths": self.plaintext_paths,
        }


@dataclass
class IssuedWaybill:
    """A waybill number handed out, with what it was issued for."""

    cp_code: str
    waybill_code: str
    order_key: str
    """The trade (``tid``) or the joined ``trade_order_list`` of a non-Taobao order."""
    tid: int | None
    package_id: str
    object_id: str
    order_channels_type: str
    recipient_mode: str
    created: datetime
    parent_waybill_code: str | None = None
    requests: int = 1
    """How often it was asked for (Cainiao answers the same number again)."""

    def to_dict(self, zone: Any) -> JSON:
        return {
            "cp_code": self.cp_code,
            "waybill_code": self.waybill_code,
            "parent_waybill_code": self.parent_waybill_code,
            "tid": self.tid,
            "tid_str": str(self.tid) if self.tid is not None else None,
            "order_key": self.order_key,
            "package_id": self.package_id,
            "object_id": self.object_id,
            "order_channels_type": self.order_channels_type,
            "recipient_mode": self.recipient_mode,
            "created": fmt_time(self.created, zone),
            "requests": self.requests,
        }


@dataclass
class DecryptRecord:
    at: datetime
    tid: int
    scene: str
    matched: bool

    def to_dict(self, zone: Any) -> JSON:
        return {
            "at": fmt_time(self.at, zone),
            "tid": self.tid,
            "tid_str": str(self.tid),
            "scene": self.scene,
            "matched": self.matched,
        }


@dataclass
class _Order:
    """One parsed ``trade_order_info_dto``."""

    index: int
    object_id: str
    channel: str
    order_ids: list[str]
    package_id: str
    recipient: Mapping[str, Any]
    address: Mapping[str, Any]
    template_url: str
    tid: int | None = None
    mode: str = "plain"


@dataclass
class _Plaintext:
    """Normalised plaintext values of one recipient, for the leak scan."""

    texts: list[str] = field(default_factory=list)
    digits: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, receiver: Receiver) -> _Plaintext:
        found = cls()
        for text in (receiver.name, receiver.address):
            norm = _WHITESPACE.sub("", text or "")
            if len(norm) >= 2:
                found.texts.append(norm)
        for number in (receiver.mobile, receiver.phone):
            digits = _NOT_DIGIT.sub("", number or "")
            if len(digits) >= 7:
                found.digits.append(digits)
        return found

    def found_in(self, value: str) -> bool:
        text = _WHITESPACE.sub("", value)
        if any(part in text for part in self.texts):
            return True
        digits = _NOT_DIGIT.sub("", value)
        return any(part in digits for part in self.digits)


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string inside a parsed JSON value, with its path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _strings(inner, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _strings(inner, f"{path}[{index}]")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    return None


def _object(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise invalid_argument(name, f"{name}必须是JSON对象")
    return value


# ---------------------------------------------------------------------------------------
# the desk


class PrivacyDesk:
    """Cainiao e-waybills and OAID decryption for one sandbox shop.

    Holds what clients asked for (waybills, requests, decrypts) until the sandbox is reset.
    Callers hold ``state.lock`` (the gateway and the control plane both do).
    """

    def __init__(self, state: TaobaoState, options: TaobaoSandboxOptions) -> None:
        self.state = state
        self.options = options
        self.waybills: dict[tuple[str, str, str], IssuedWaybill] = {}
        self.requests: list[WaybillRequestRecord] = []
        self.decrypts: list[DecryptRecord] = []
        self.plaintext_violations = 0
        # The key of the "cloud-print component": only it (here, the control API's render
        # endpoint) can read print data. Derived from the app secret so it survives reset.
        self._print_key = hashlib.sha256(f"cloudprint:{options.app_secret}".encode()).digest()

    # waybills -----------------------------------------------------------------------

    def waybill_get(self, raw: str | None, now: datetime) -> JSON:
        """``cainiao.waybill.ii.get``: one waybill per ``trade_order_info_dto``."""
        if raw is None:
            raise missing_argument(WAYBILL_PARAM)
        try:
            request = json.loads(raw)
        except ValueError:
            raise invalid_argument(WAYBILL_PARAM, "参数不是合法的JSON") from None
        request = _object(request, WAYBILL_PARAM)
        dtos = request.get("trade_order_info_dtos")
        if not isinstance(dtos, list) or not dtos:
            raise missing_argument("trade_order_info_dtos")
        if len(dtos) > MAX_WAYBILL_ORDERS:
            raise invalid_argument(
                "trade_order_info_dtos", f"一次最多申请{MAX_WAYBILL_ORDERS}个面单"
            )
        record = WaybillRequestRecord(now, False, None, [], [], [])
        self.requests.append(record)
        try:
            # The leak scan comes first: a request that carries plaintext is a violation
            # whatever else is wrong with it.
            self._scan_for_plaintext(request, dtos, record)
            orders = [self._parse_order(index, dto, record) for index, dto in enumerate(dtos)]
            cp_code = _text(request.get("cp_code"))
            if cp_code is None:
                raise missing_argument("cp_code")
            if cp_code not in CARRIERS_BY_CODE:
                raise StateError("isv.invalid-parameter", f"物流公司编码{cp_code}不存在或未开通")
            sender = _object(request.get("sender"), "sender")
            self._check_sender(sender)
            multi = request.get("multi_packages_shipment") is True
            modules = [self._issue(cp_code, order, sender, multi, now) for order in orders]
        except (StateError, TopError) as exc:
            record.sub_code = exc.sub_code or f"code {exc.code}"
            raise
        record.accepted = True
        return {"modules": ListOf("waybill_cloud_print_response", modules)}

    def _scan_for_plaintext(
        self, request: Mapping[str, Any], dtos: list[Any], record: WaybillRequestRecord
    ) -> None:
        tids: list[int] = []
        for dto in dtos:
            if not isinstance(dto, Mapping):
                continue
            recipient = dto.get("recipient")
            candidates: list[Any] = []
            if isinstance(recipient, Mapping):
                candidates.append(recipient.get("tid"))
            info = dto.get("order_info")
            if isinstance(info, Mapping) and isinstance(info.get("trade_order_list"), list):
                candidates.extend(info["trade_order_list"])
            for candidate in candidates:
                text = _text(candidate)
                tid = int(text) if text is not None and text.isdigit() else None
                if tid is not None and tid in self.state.trades and tid not in tids:
                    tids.append(tid)
        record.tids = tids
        plaintexts = [_Plaintext.of(self.state.trades[tid].buyer.receiver) for tid in tids]
        for path, value in _strings(request, ""):
            if any(plain.found_in(value) for plain in plaintexts):
                record.plaintext_paths.append(path)
        if record.plaintext_paths:
            self.plaintext_violations += 1
            raise _privacy_refusal(
                "隐私订单不允许传入收件人明文信息(姓名/电话/详细地址), 请传入oaid和tid取号: "
                "plaintext recipient data of a Taobao trade was sent at "
                f"{', '.join(record.plaintext_paths[:5])}; send recipient.oaid + "
                "recipient.tid instead"
            )

    def _parse_order(self, index: int, dto: Any, record: WaybillRequestRecord) -> _Order:
        where = f"trade_order_info_dtos[{index}]"
        dto = _object(dto, where)
        object_id = _text(dto.get("object_id"))
        if object_id is None:
            raise missing_argument(f"{where}.object_id")
        info = _object(dto.get("order_info"), f"{where}.order_info")
        channel = _text(info.get("order_channels_type"))
        if channel is None:
            raise missing_argument(f"{where}.order_info.order_channels_type")
        raw_ids = info.get("trade_order_list")
        if not isinstance(raw_ids, list) or not raw_ids:
            raise missing_argument(f"{where}.order_info.trade_order_list")
        order_ids = [_text(value) or "" for value in raw_ids]
        if len(order_ids) > 100 or not all(_ORDER_ID.fullmatch(i) for i in order_ids):
            raise invalid_argument(
                "trade_order_list", "订单号只能包含数字、字母、下划线和中划线, 最多100个"
            )
        package = _object(dto.get("package_info"), f"{where}.package_info")
        package_id = _text(package.get("id")) or ""
        if package_id and not _PACKAGE_ID.fullmatch(package_id):
            raise invalid_argument("package_info.id", "包裹id只能包含数字、字母和下划线")
        items = package.get("items")
        if not isinstance(items, list) or not items or len(items) > MAX_PACKAGE_ITEMS:
            raise invalid_argument("package_info.items", "商品信息不能为空, 最多100个")
        for item in items:
            if not isinstance(item, Mapping) or _text(item.get("name")) is None:
                raise invalid_argument("package_info.items", "商品名称不能为空")
            count = item.get("count")
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise invalid_argument("package_info.items", "商品数量必须是正整数")
        template_url = _text(dto.get("template_url"))
        if template_url is None:
            raise missing_argument(f"{where}.template_url")
        recipient = _object(dto.get("recipient"), f"{where}.recipient")
        raw_address = recipient.get("address")
        address: Mapping[str, Any] = raw_address if isinstance(raw_address, Mapping) else {}
        order = _Order(
            index, object_id, channel, order_ids, package_id, recipient, address, template_url
        )
        if _text(address.get("province")) is None or _text(address.get("city")) is None:
            raise invalid_argument("recipient.address", "收件人省、市不能为空")
        oaid = _text(recipient.get("oaid"))
        if channel in PRIVACY_CHANNELS or oaid is not None:
            order.tid = self._check_oaid(recipient, order_ids, oaid)
            order.mode = "oaid"
        else:
            if _text(recipient.get("name")) is None:
                raise missing_argument("recipient.name")
            if _text(recipient.get("mobile")) is None and _text(recipient.get("phone")) is None:
                raise missing_argument("recipient.mobile")
            if _text(address.get("detail")) is None:
                raise missing_argument("recipient.address.detail")
        record.recipient_modes.append(order.mode)
        return order

    def _check_oaid(
        self, recipient: Mapping[str, Any], order_ids: list[str], oaid: str | None
    ) -> int:
        """A Taobao/Tmall recipient: ``oaid`` and ``tid`` of a trade of this seller, the
        OAID current."""
        tid_text = _text(recipient.get("tid"))
        if oaid is None or tid_text is None:
            raise _privacy_refusal(
                "淘宝/天猫订单取号必须传入recipient.oaid和recipient.tid: Taobao and Tmall orders "
                "need recipient.oaid and recipient.tid"
            )
        if not tid_text.isdigit():
            raise invalid_argument("recipient.tid", "tid必须是淘宝交易订单号")
        tid = int(tid_text)
        trade = self.state.trades.get(tid)
        if trade is None:
            raise NotFoundError("isv.trade-not-exist", f"交易订单{tid}不存在")
        if tid_text not in order_ids:
            raise invalid_argument("recipient.tid", "recipient.tid必须在trade_order_list中")
        if oaid != trade.oaid:
            detail = (
                "oaid已失效, 请通过taobao.trade.fullinfo.get获取最新oaid"
                if (oaid in trade.previous_oaids)
                else "oaid与交易订单不匹配"
            )
            raise _privacy_refusal(f"{detail}: the oaid does not match trade {tid}")
        return tid

    @staticmethod
    def _check_sender(sender: Mapping[str, Any]) -> None:
        if _text(sender.get("name")) is None:
            raise missing_argument("sender.name")
        if _text(sender.get("mobile")) is None and _text(sender.get("phone")) is None:
            raise missing_argument("sender.mobile")
        address = _object(sender.get("address"), "sender.address")
        for part in ("province", "city", "detail"):
            if _text(address.get(part)) is None:
                raise missing_argument(f"sender.address.{part}")

    def _issue(
        self,
        cp_code: str,
        order: _Order,
        sender: Mapping[str, Any],
        multi: bool,
        now: datetime,
    ) -> JSON:
        order_key = str(order.tid) if order.tid is not None else ",".join(order.order_ids)
        key = (cp_code, order_key, order.package_id)
        issued = self.waybills.get(key)
        if issued is None:
            rng = DeterministicRandom(
                self.options.random_seed, f"waybill/{cp_code}/{order_key}/{order.package_id}"
            )
            parent: str | None = None
            if multi:
                siblings = [
                    w
                    for w in self.waybills.values()
                    if w.cp_code == cp_code and w.order_key == order_key
                ]
                if siblings:
                    first = min(siblings, key=lambda w: w.created)
                    parent = first.parent_waybill_code or first.waybill_code
            issued = IssuedWaybill(
                cp_code=cp_code,
                waybill_code=tracking_number(cp_code, rng),
                order_key=order_key,
                tid=order.tid,
                package_id=order.package_id,
                object_id=order.object_id,
                order_channels_type=order.channel,
                recipient_mode=order.mode,
                created=now,
                parent_waybill_code=parent,
            )
            self.waybills[key] = issued
        else:
            issued.requests += 1
            issued.object_id = order.object_id
        module: JSON = {
            "object_id": order.object_id,
            "waybill_code": issued.waybill_code,
            "print_data": self._print_data(issued, order, sender),
            "parent_waybill_code": issued.parent_waybill_code,
            "cp_code": cp_code,
        }
        return module

    # print data -----------------------------------------------------------------------

    def _print_data(self, issued: IssuedWaybill, order: _Order, sender: Mapping[str, Any]) -> str:
        """The cloud-print document: the label content (real recipient included) sealed
        with the print component's key, so the client cannot read what it prints."""
        if order.tid is not None:
            recipient = _label_recipient(self.state.trades[order.tid])
        else:
            address = order.address
            recipient = {
                "name": _text(order.recipient.get("name")),
                "mobile": _text(order.recipient.get("mobile")),
                "phone": _text(order.recipient.get("phone")),
                "address": {k: _text(address.get(k)) for k in _ADDRESS_PARTS},
            }
        label = {
            "waybillCode": issued.waybill_code,
            "parentWaybillCode": issued.parent_waybill_code,
            "cpCode": issued.cp_code,
            "recipient": recipient,
            "sender": {
                "name": _text(sender.get("name")),
                "mobile": _text(sender.get("mobile")),
                "phone": _text(sender.get("phone")),
            },
        }
        nonce = os.urandom(12)
        plain = json.dumps(label, ensure_ascii=False, separators=(",", ":")).encode()
        sealed = base64.b64encode(nonce + AESGCM(self._print_key).encrypt(nonce, plain, None))
        encrypted = sealed.decode("ascii")
        signature = hmac.new(self._print_key, sealed, hashlib.sha256).hexdigest()[:32]
        document = {
            "encryptedData": encrypted,
            "signature": signature,
            "templateURL": order.template_url,
            "ver": PRINT_DATA_VERSION,
        }
        return json.dumps(document, separators=(",", ":"))

    def render(self, print_data: str) -> JSON:
        """What the cloud-print component does with ``print_data``: check and decrypt it,
        and lay out the label (control API only; real Taobao does this on the printer's
        machine)."""
        try:
            document = json.loads(print_data)
            sealed = document["encryptedData"].encode("ascii")
            expected = hmac.new(self._print_key, sealed, hashlib.sha256).hexdigest()[:32]
            if not hmac.compare_digest(expected, str(document.get("signature", ""))):
                raise ValueError("bad signature")
            blob = base64.b64decode(sealed, validate=True)
            label = json.loads(AESGCM(self._print_key).decrypt(blob[:12], blob[12:], None))
        except (ValueError, KeyError, TypeError, AttributeError, InvalidTag):
            raise StateError("isv.print-data-invalid", "打印数据无效或不是本沙盒签发的") from None
        rendered: JSON = {"template_url": document.get("templateURL"), "label": label}
        return rendered

    # decrypt -------------------------------------------------------------------------

    def oaid_decrypt(self, raw: str | None, now: datetime, ctx: RenderContext) -> JSON:
        """``taobao.top.oaid.decrypt``: plaintext recipients for (tid, oaid) pairs."""
        if raw is None:
            raise missing_argument(DECRYPT_PARAM)
        try:
            queries = json.loads(raw)
        except ValueError:
            raise invalid_argument(DECRYPT_PARAM, "参数不是合法的JSON") from None
        if not isinstance(queries, list) or not queries:
            raise invalid_argument(DECRYPT_PARAM, "解密请求列表不能为空")
        if len(queries) > MAX_DECRYPT_QUERIES:
            raise invalid_argument(
                DECRYPT_PARAM, f"解密请求列表最多支持{MAX_DECRYPT_QUERIES}个, 实际{len(queries)}个"
            )
        parsed: list[tuple[Trade, str, str, int]] = []
        for index, query in enumerate(queries):
            query = _object(query, f"{DECRYPT_PARAM}[{index}]")
            tid_text = _text(query.get("tid"))
            oaid = _text(query.get("oaid"))
            scene = _text(query.get("scene"))
            if tid_text is None:
                raise missing_argument("tid")
            if oaid is None:
                raise missing_argument("oaid")
            if scene is None:
                raise missing_argument("scene")
            if scene not in DECRYPT_SCENES:
                raise invalid_argument(
                    "scene",
                    f"不支持的解密场景{scene}, 可选: {', '.join(DECRYPT_SCENES)}",
                )
            days = query.get("secret_no_days", DEFAULT_SECRET_NO_DAYS)
            if isinstance(days, str) and days.strip().isdigit():
                days = int(days.strip())
            if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 90:
                raise invalid_argument("secret_no_days", "隐私号绑定天数必须在1-90之间")
            if not tid_text.isdigit():
                raise invalid_argument("tid", "tid必须是淘宝交易订单号")
            trade = self.state.trades.get(int(tid_text))
            if trade is None:
                raise NotFoundError("isv.trade-not-exist", f"交易订单{tid_text}不存在")
            parsed.append((trade, oaid, scene, days))
        rows: list[JSON] = []
        for trade, oaid, scene, days in parsed:
            matched = oaid == trade.oaid
            self.decrypts.append(DecryptRecord(now, trade.tid, scene, matched))
            row: JSON = {"tid": str(trade.tid), "oaid": oaid, "matched": matched}
            if matched:
                row.update(self._receiver_row(trade, days, now, ctx))
            rows.append(row)
        return {"receiver_list": ListOf("receiver", rows)}

    def _receiver_row(self, trade: Trade, days: int, now: datetime, ctx: RenderContext) -> JSON:
        receiver = trade.buyer.receiver
        row: JSON = {
            "name": receiver.name,
            "mobile": receiver.mobile,
            "phone": receiver.phone,
            "country": receiver.country or None,
            "state": receiver.state,
            "city": receiver.city,
            "district": receiver.district,
            "town": receiver.town,
            "address_detail": receiver.address,
            "privacy_protection": trade.privacy_protection,
        }
        if trade.privacy_protection:
            row["mobile"] = virtual_number(trade, self.options.random_seed)
            row["phone"] = None
            row["secret_no_expire_time"] = fmt_time(now + timedelta(days=days), ctx.zone)
        return row


_ADDRESS_PARTS: Final = ("province", "city", "district", "town", "detail")


def _label_recipient(trade: Trade) -> JSON:
    receiver = trade.buyer.receiver
    return {
        "name": receiver.name,
        "mobile": receiver.mobile,
        "phone": receiver.phone,
        "address": {
            "province": receiver.state,
            "city": receiver.city,
            "district": receiver.district,
            "town": receiver.town,
            "detail": receiver.address,
        },
    }


def virtual_number(trade: Trade, seed: int) -> str:
    """The privacy number (隐私号) of a protected trade: a relay number plus an extension,
    ``18877771111-123``, stable per trade."""
    rng = DeterministicRandom(seed, f"secret-no/{trade.tid}")
    return f"170{rng.randint(10_000_000, 99_999_999)}-{rng.randint(100, 999)}"
