"""The sandbox control plane under ``/_sandbox/`` (JSON, not part of TOP).

Endpoints are ``async`` on purpose: they run on the event loop like the gateway handlers
and the live stream, so every change to the shop happens on one thread.

Tests, demos and load scenarios use it to create trades, move them through their
lifecycle (payment, presale deposit/balance, shipping, receipt, closing, refunds), read
what clients did (shipments, stock changes, TMC confirmations, calls), inspect TMC
messages and HTTP pushes, and inject faults. It is unauthenticated unless
``control_token`` is set (then send ``X-Sandbox-Token``). Control calls never count
against the call limit and never trigger faults. Trades are returned in the same JSON
shape as ``taobao.trade.fullinfo.get`` (buyer data masked).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import Field

from shopbridge.sandbox.common.control import ControlModel, StreamIn, TickIn, control_router
from shopbridge.sandbox.common.faults import FaultKind
from shopbridge.sandbox.common.push import DeliveryState
from shopbridge.sandbox.taobao.envelope import (
    ISP_MESSAGES,
    JSON,
    Fields,
    fmt_time,
    render_refund,
    render_sku,
    render_trade,
    to_wire,
)
from shopbridge.sandbox.taobao.options import EMITTED_TOPICS
from shopbridge.sandbox.taobao.scenarios import ship, tracking_number
from shopbridge.sandbox.taobao.state import (
    CARRIERS_BY_CODE,
    ZERO,
    Buyer,
    InitialStatus,
    Invoice,
    Item,
    LineDraft,
    NotFoundError,
    Receiver,
    Sku,
    StateError,
    Trade,
    TradeDraft,
    TradeType,
)

if TYPE_CHECKING:
    from shopbridge.sandbox.taobao.app import TaobaoSandbox


# ---------------------------------------------------------------------------------------
# request models


_Model = ControlModel


class LineIn(_Model):
    num_iid: int | None = None
    sku_id: int | None = None
    outer_id: str | None = None
    """SKU (or SKU-less item) merchant code, instead of ``num_iid``/``sku_id``."""
    num: int = Field(default=1, ge=1, le=10_000)
    price: Decimal | None = Field(default=None, ge=0)
    discount_fee: Decimal = Field(default=ZERO, ge=0)


class BuyerIn(_Model):
    name: str = Field(min_length=1, max_length=50)
    mobile: str = Field(min_length=5, max_length=20)
    phone: str | None = None
    state: str = "浙江省"
    city: str = "杭州市"
    district: str = "西湖区"
    town: str = "西溪街道"
    address: str = "文三路100号"
    zip: str = "310013"
    nick: str | None = None
    open_uid: str | None = None


class InvoiceIn(_Model):
    kind: Literal["1", "2", "3"] = "1"
    name: str = "个人"
    type: str = "明细"


TargetStatus = Literal[
    "TRADE_NO_CREATE_PAY",
    "WAIT_BUYER_PAY",
    "PAY_PENDING",
    "WAIT_PRE_AUTH_CONFIRM",
    "PAID_FORBID_CONSIGN",
    "WAIT_SELLER_SEND_GOODS",
    "SELLER_CONSIGNED_PART",
    "WAIT_BUYER_CONFIRM_GOODS",
    "TRADE_BUYER_SIGNED",
    "TRADE_FINISHED",
    "TRADE_CLOSED",
    "TRADE_CLOSED_BY_TAOBAO",
]
StepTarget = Literal[
    "FRONT_NOPAID_FINAL_NOPAID", "FRONT_PAID_FINAL_NOPAID", "FRONT_PAID_FINAL_PAID"
]


class CreateTradesIn(_Model):
    """Create ``count`` trades; every part that is omitted is generated."""

    count: int = Field(default=1, ge=1, le=10_000)
    type: TradeType | None = None
    """``fixed`` (default), ``step`` (presale), ``cod``, ``tmall_i18n``, ``auction``, ..."""
    status: TargetStatus | None = None
    """Move the new trade to this status (default WAIT_SELLER_SEND_GOODS; presale
    trades stay unpaid unless ``step_trade_status`` says otherwise)."""
    step_trade_status: StepTarget | None = None
    lines: list[LineIn] | None = None
    line_count: int | None = Field(default=None, ge=1, le=10)
    buyer: BuyerIn | None = None
    post_fee: Decimal | None = Field(default=None, ge=0)
    discount_fee: Decimal | None = Field(default=None, ge=0)
    deposit: Decimal | None = Field(default=None, gt=0)
    buyer_message: str | None = None
    seller_memo: str | None = None
    seller_flag: int | None = Field(default=None, ge=0, le=5)
    invoice: InvoiceIn | None = None
    privacy_protection: bool = False
    """The buyer uses a privacy number (隐私号): OAID decryption answers a relay number."""


class ReceiverIn(_Model):
    """A new delivery address for a trade (the buyer changed it): a new OAID."""

    name: str = Field(min_length=1, max_length=50)
    mobile: str = Field(min_length=5, max_length=20)
    phone: str | None = None
    state: str = "浙江省"
    city: str = "杭州市"
    district: str = "西湖区"
    town: str = "西溪街道"
    address: str = "文三路100号"
    zip: str = "310013"


class RenderIn(_Model):
    print_data: str = Field(min_length=1, max_length=100_000)


class SkuIn(_Model):
    outer_id: str = Field(default="", max_length=64)
    """The SKU's merchant code (商家编码); may be empty, as on Taobao."""
    quantity: int = Field(default=0, ge=0, le=999_999_999)
    price: Decimal | None = Field(default=None, gt=0)
    value: str | None = Field(default=None, min_length=1, max_length=30)
    """The value of the SKU's sale property (default: the code, else a generated one)."""


class CreateItemIn(_Model):
    """One item as the seller would publish it: with SKUs, or without (item-level stock)."""

    title: str = Field(default="沙盒测试商品", min_length=1, max_length=60)
    outer_id: str = Field(default="", max_length=64)
    price: Decimal = Field(default=Decimal("99.00"), gt=0)
    quantity: int = Field(default=0, ge=0, le=999_999_999)
    """Item-level stock (`num`) of an item without SKUs."""
    skus: list[SkuIn] = Field(default_factory=list, max_length=600)
    prop_name: str = Field(default="颜色分类", min_length=1, max_length=20)
    """The sale property the SKUs differ by."""
    approve_status: Literal["onsale", "instock"] = "onsale"


class ShipIn(_Model):
    oids: list[int] | None = None
    """Sub-orders to ship (split shipping); omit to ship everything left."""
    company_code: str | None = None
    out_sid: str | None = None


class MemoIn(_Model):
    memo: str | None = None
    flag: int | None = Field(default=None, ge=0, le=5)


class RefundIn(_Model):
    oid: int | None = None
    refund_fee: Decimal | None = Field(default=None, gt=0)
    has_good_return: bool | None = None
    reason: str = "不想要了"
    desc: str = ""


class ReturnGoodsIn(_Model):
    company_name: str = "中通快递"
    sid: str | None = None


class ResetIn(_Model):
    seed: int | None = Field(default=None, ge=0, le=100_000)
    random_seed: int | None = None


class FaultIn(_Model):
    kind: FaultKind
    count: int | None = Field(default=1, ge=1)
    """How many matching calls to affect; null = until removed."""
    api: str | None = None
    """Regular expression searched in the TOP method name, e.g. ``trade\\.fullinfo``."""
    http_method: Literal["GET", "POST"] | None = None
    status: int | None = Field(default=None, ge=500, le=599)
    """``error``/``hang``: answer with this bare HTTP status instead of a TOP error."""
    seconds: float = Field(default=0.0, ge=0, le=600)
    """``hang``: delay; ``rate_limit``: ban seconds shown in sub_msg (default 1)."""
    sub_code: str | None = None
    """``error``: the ``isp.*`` sub-code (default ``isp.top-remote-connection-error``)."""
    skip: int = Field(default=0, ge=0)
    """Matching calls to let through before the fault starts."""


class ChaosIn(_Model):
    duplicate: int = Field(default=0, ge=0)
    """The next N TMC messages appear twice (second copy with a new id)."""
    reorder: int = Field(default=0, ge=0)
    """Hold the next N messages and publish them in reverse order."""


class PermitIn(_Model):
    permitted: bool = True
    topics: list[str] | None = None


class SessionIn(_Model):
    action: Literal["expire", "rotate", "restore"]
    session: str | None = None


class RateLimitIn(_Model):
    call_limit: int | None = Field(default=None, ge=0)
    window_seconds: float | None = Field(default=None, gt=0)
    ban_seconds: float | None = Field(default=None, ge=0)
    ban: float | None = Field(default=None, ge=0)
    """Ban the app now for this many seconds."""
    reset: bool = False


class PermissionsIn(_Model):
    deny: list[str] = Field(default_factory=list)
    allow: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------
# router


def build_control_router(sandbox: TaobaoSandbox) -> APIRouter:
    """All ``/_sandbox/*`` endpoints, bound to one sandbox."""

    router = control_router(lambda: sandbox.options.control_token)

    def zone() -> Any:
        return sandbox.options.zone

    def trade_json(trade: Trade) -> JSON:
        data: JSON = to_wire(render_trade(trade, sandbox.gateway.ctx, Fields.everything()), False)
        return data

    def state_error(exc: StateError) -> HTTPException:
        detail = {
            "code": exc.code,
            "msg": exc.msg,
            "sub_code": exc.sub_code,
            "sub_msg": exc.sub_msg,
        }
        return HTTPException(
            status_code=404 if isinstance(exc, NotFoundError) else 422, detail=detail
        )

    def guarded(action: Any) -> Any:
        try:
            return action()
        except StateError as exc:
            raise state_error(exc) from None

    @router.get("/health")
    async def health() -> JSON:
        return {
            "status": "ok",
            "platform": "taobao",
            "app_key": sandbox.options.app_key,
            "seller_nick": sandbox.options.seller_nick,
            "trades": len(sandbox.state.trades),
        }

    @router.get("/state")
    async def summary() -> JSON:
        state = sandbox.state
        with state.lock:
            by_status: dict[str, int] = {}
            by_type: dict[str, int] = {}
            for trade in state.trades.values():
                by_status[trade.status] = by_status.get(trade.status, 0) + 1
                by_type[trade.type] = by_type.get(trade.type, 0) + 1
            refunds: dict[str, int] = {}
            for refund in state.refunds.values():
                refunds[refund.status] = refunds.get(refund.status, 0) + 1
            now = sandbox.clock.now()
            timeout = sandbox.tmc.visibility_timeout
            tmc_states: dict[str, int] = {}
            for message in sandbox.tmc.messages():
                key = message.state(now, timeout)
                tmc_states[key] = tmc_states.get(key, 0) + 1
            pushes: dict[str, int] = {}
            for record in sandbox.dispatcher.records():
                pushes[record.state.value] = pushes.get(record.state.value, 0) + 1
            limiter = sandbox.limiter
            return {
                "seller": {
                    "nick": sandbox.options.seller_nick,
                    "user_id": sandbox.options.seller_id,
                    "shop_type": sandbox.options.shop_type,
                },
                "trades": {"total": len(state.trades), "status": by_status, "type": by_type},
                "refunds": refunds,
                "items": len(state.items),
                "skus": sum(len(i.skus) for i in state.items.values()),
                "shipments": len(state.shipments),
                "stock_changes": len(state.stock_changes),
                "tmc": {
                    "permitted": sandbox.subscription.permitted,
                    "topics": list(sandbox.subscription.topics),
                    "group": sandbox.options.tmc_group,
                    "messages": tmc_states,
                    "chaos": sandbox.tmc.chaos(),
                    "visibility_timeout_seconds": timeout,
                },
                "pushes": pushes,
                "faults": [rule.to_dict() for rule in sandbox.faults.rules()],
                "rate_limit": {
                    "call_limit": limiter.limit,
                    "window_seconds": limiter.window_seconds,
                    "ban_seconds": limiter.ban_seconds,
                    "used": limiter.used(sandbox.options.app_key),
                    "banned_for": round(limiter.banned_for(sandbox.options.app_key), 3),
                },
                "session": {
                    "expired": sandbox.sessions.expired,
                    "rotated": sandbox.sessions.current != sandbox.options.access_token,
                },
                "denied_apis": sorted(sandbox.denied_apis),
                "calls": len(sandbox.calls),
                "stream": {"orders_per_second": sandbox.stream.rate, "steps": sandbox.stream.steps},
                "privacy": {
                    "waybills": len(sandbox.gateway.privacy.waybills),
                    "waybill_requests": len(sandbox.gateway.privacy.requests),
                    "plaintext_violations": sandbox.gateway.privacy.plaintext_violations,
                    "decrypts": len(sandbox.gateway.privacy.decrypts),
                },
            }

    @router.post("/reset")
    async def reset(body: ResetIn | None = None) -> JSON:
        body = body or ResetIn()
        sandbox.reset(seed=body.seed, random_seed=body.random_seed)
        return {"status": "reset", "trades": len(sandbox.state.trades)}

    # trades ------------------------------------------------------------------------

    @router.get("/trades")
    async def list_trades(
        status: str | None = None,
        type: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ) -> JSON:
        with sandbox.state.lock:
            rows = [
                t
                for t in sandbox.state.trades.values()
                if (status is None or t.status == status) and (type is None or t.type == type)
            ]
            rows.sort(key=lambda t: (t.modified, t.tid), reverse=True)
            return {"total": len(rows), "trades": [trade_json(t) for t in rows[:limit]]}

    @router.post("/trades", status_code=201)
    async def create_trades(body: CreateTradesIn) -> JSON:
        state = sandbox.state
        created: list[Trade] = []
        with state.lock:
            for _ in range(body.count):
                draft = guarded(lambda: _draft(sandbox, body))
                trade = guarded(lambda d=draft: state.create_trade(d))
                guarded(lambda t=trade: _advance(sandbox, t, body))
                created.append(trade)
            return {"trades": [trade_json(t) for t in created]}

    @router.get("/trades/{tid}")
    async def get_trade(tid: int) -> JSON:
        return {"trade": trade_json(guarded(lambda: sandbox.state.trade(tid)))}

    def trade_action(name: str, action: Any) -> None:
        async def endpoint(tid: int) -> JSON:
            with sandbox.state.lock:
                trade = guarded(lambda: action(tid))
                return {"trade": trade_json(trade)}

        endpoint.__name__ = f"trade_{name}"
        router.add_api_route(f"/trades/{{tid}}/{name}", endpoint, methods=["POST"])

    trade_action("pay", lambda tid: sandbox.state.pay(tid))
    trade_action("pay_deposit", lambda tid: sandbox.state.pay_deposit(tid))
    trade_action("pay_balance", lambda tid: sandbox.state.pay_balance(tid))
    trade_action("release", lambda tid: sandbox.state.release(tid))
    trade_action("sign", lambda tid: sandbox.state.sign_for(tid))
    trade_action("confirm", lambda tid: sandbox.state.confirm_receipt(tid))
    trade_action("close", lambda tid: sandbox.state.close(tid))

    @router.post("/trades/{tid}/ship")
    async def ship_trade(tid: int, body: ShipIn | None = None) -> JSON:
        body = body or ShipIn()
        state = sandbox.state
        with state.lock:
            trade = guarded(lambda: state.trade(tid))
            code = (body.company_code or sandbox.generator.carrier(sandbox.stream.rng)).upper()
            if code not in CARRIERS_BY_CODE:
                raise HTTPException(status_code=422, detail=f"unknown company_code {code}")
            out_sid = body.out_sid or tracking_number(code, sandbox.stream.rng)
            guarded(
                lambda: ship(
                    state,
                    sandbox.generator,
                    sandbox.stream.rng,
                    trade,
                    oids=body.oids,
                    company_code=code,
                    out_sid=out_sid,
                )
            )
            return {"trade": trade_json(trade)}

    @router.post("/trades/{tid}/receiver")
    async def change_receiver(tid: int, body: ReceiverIn) -> JSON:
        """The buyer changes the delivery address: the trade's OAID changes and the old one
        goes stale (decrypt answers ``matched=false``, waybills with it are refused)."""
        receiver = Receiver(
            name=body.name,
            mobile=body.mobile,
            phone=body.phone,
            state=body.state,
            city=body.city,
            district=body.district,
            town=body.town,
            address=body.address,
            zip=body.zip,
        )
        with sandbox.state.lock:
            trade = guarded(lambda: sandbox.state.change_receiver(tid, receiver))
            return {"trade": trade_json(trade)}

    @router.post("/trades/{tid}/memo")
    async def memo(tid: int, body: MemoIn) -> JSON:
        with sandbox.state.lock:
            trade = guarded(lambda: sandbox.state.update_memo(tid, memo=body.memo, flag=body.flag))
            return {"trade": trade_json(trade)}

    @router.post("/trades/{tid}/refunds", status_code=201)
    async def request_refund(tid: int, body: RefundIn | None = None) -> JSON:
        body = body or RefundIn()
        state = sandbox.state
        with state.lock:
            refund = guarded(
                lambda: state.request_refund(
                    tid,
                    body.oid,
                    refund_fee=body.refund_fee,
                    has_good_return=body.has_good_return,
                    reason=body.reason,
                    desc=body.desc,
                )
            )
            return {
                "refund": render_refund(refund, state.trades.get(tid), sandbox.gateway.ctx),
                "trade": trade_json(state.trade(tid)),
            }

    # refunds -----------------------------------------------------------------------

    @router.get("/refunds")
    async def list_refunds(status: str | None = None, tid: int | None = None) -> JSON:
        state = sandbox.state
        with state.lock:
            rows = [
                render_refund(r, state.trades.get(r.tid), sandbox.gateway.ctx)
                for r in state.refunds.values()
                if (status is None or r.status == status) and (tid is None or r.tid == tid)
            ]
        return {"refunds": rows}

    def refund_action(name: str, action: Any) -> None:
        async def endpoint(refund_id: int, body: ReturnGoodsIn | None = None) -> JSON:
            state = sandbox.state
            with state.lock:
                refund = guarded(lambda: action(refund_id, body or ReturnGoodsIn()))
                return {
                    "refund": render_refund(
                        refund, state.trades.get(refund.tid), sandbox.gateway.ctx
                    ),
                    "trade": trade_json(state.trade(refund.tid)),
                }

        endpoint.__name__ = f"refund_{name}"
        router.add_api_route(f"/refunds/{{refund_id}}/{name}", endpoint, methods=["POST"])

    refund_action("agree", lambda rid, _b: sandbox.state.agree_refund(rid))
    refund_action("refuse", lambda rid, _b: sandbox.state.refuse_refund(rid))
    refund_action(
        "return_goods",
        lambda rid, b: sandbox.state.return_goods(rid, company_name=b.company_name, sid=b.sid),
    )
    refund_action("success", lambda rid, _b: sandbox.state.succeed_refund(rid))
    refund_action("close", lambda rid, _b: sandbox.state.close_refund(rid))

    # what clients did --------------------------------------------------------------

    @router.get("/shipments")
    async def shipments(tid: int | None = None, all: bool = False) -> JSON:
        state = sandbox.state
        with state.lock:
            rows = []
            for s in state.shipments:
                if tid is not None and s.tid != tid:
                    continue
                if not all and not s.api.startswith("taobao."):
                    continue
                trade = state.trades.get(s.tid)
                rows.append(
                    {
                        "id": s.id,
                        "recorded_at": fmt_time(s.created, zone()),
                        "api": s.api,
                        "tid": s.tid,
                        "tid_str": str(s.tid),
                        "oids": s.oids,
                        "company_code": s.company_code,
                        "company_name": s.company_name,
                        "out_sid": s.out_sid,
                        "is_split": s.is_split,
                        "feature": s.feature,
                        "confirmed": s.confirmed,
                        "trade_status_after": s.trade_status_after,
                        "trade_status": trade.status if trade else None,
                    }
                )
        return {"shipments": rows}

    @router.get("/stock/changes")
    async def stock_changes(num_iid: int | None = None, sku_id: int | None = None) -> JSON:
        state = sandbox.state
        with state.lock:
            rows = [
                {
                    "recorded_at": fmt_time(c.recorded_at, zone()),
                    "api": c.api,
                    "num_iid": c.num_iid,
                    "sku_id": c.sku_id,
                    "outer_id": c.outer_id,
                    "type": c.update_type,
                    "requested": c.requested,
                    "previous": c.previous,
                    "quantity": c.quantity,
                }
                for c in state.stock_changes
                if (num_iid is None or c.num_iid == num_iid)
                and (sku_id is None or c.sku_id == sku_id)
            ]
        return {"changes": rows}

    def item_json(item: Item) -> JSON:
        return {
            "num_iid": item.num_iid,
            "title": item.title,
            "outer_id": item.outer_id,
            "approve_status": item.approve_status,
            "num": item.num,
            "skus": [render_sku(s, sandbox.gateway.ctx) for s in item.skus],
        }

    @router.get("/stock")
    async def stock() -> JSON:
        state = sandbox.state
        with state.lock:
            return {"items": [item_json(item) for item in state.items.values()]}

    @router.post("/items", status_code=201)
    async def create_item(body: CreateItemIn) -> JSON:
        """Publish an item (a seller's action in the web UI; TOP's item.add is not emulated)."""
        state = sandbox.state
        with state.lock:
            item = _item(sandbox, body)
            state.add_item(item)
            return {"item": item_json(item)}

    @router.get("/calls")
    async def calls(limit: Annotated[int, Query(ge=1, le=5000)] = 200) -> JSON:
        records = list(sandbox.calls)[-limit:]
        return {"calls": [r.to_dict(zone()) for r in records]}

    # privacy shipping ----------------------------------------------------------------

    @router.get("/waybills")
    async def waybills(tid: int | None = None) -> JSON:
        """E-waybills issued (``cainiao.waybill.ii.get``), every request with how it named
        the recipient, and ``plaintext_violations``: requests refused because they carried
        a trade's plaintext recipient (a privacy-shipping client must keep this at 0).
        Nothing here holds buyer data, only ids, flags and JSON paths."""
        privacy = sandbox.gateway.privacy
        with sandbox.state.lock:
            issued = [
                w.to_dict(zone()) for w in privacy.waybills.values() if tid is None or w.tid == tid
            ]
            requests = [r.to_dict(zone()) for r in privacy.requests if tid is None or tid in r.tids]
            return {
                "plaintext_violations": privacy.plaintext_violations,
                "waybills": issued,
                "requests": requests,
            }

    @router.get("/decrypts")
    async def decrypts(tid: int | None = None) -> JSON:
        """Every OAID decrypted through ``taobao.top.oaid.decrypt`` (tid, scene, matched)."""
        privacy = sandbox.gateway.privacy
        with sandbox.state.lock:
            return {
                "decrypts": [
                    d.to_dict(zone()) for d in privacy.decrypts if tid is None or d.tid == tid
                ]
            }

    @router.post("/cloudprint/render")
    async def render(body: RenderIn) -> JSON:
        """Play the Cainiao cloud-print component: open ``print_data`` and return the label
        it would print (the real recipient included). Only the printer ever sees this."""
        return dict(guarded(lambda: sandbox.gateway.privacy.render(body.print_data)))

    # TMC and pushes ------------------------------------------------------------------

    @router.get("/tmc/messages")
    async def tmc_messages(
        topic: str | None = None,
        state: Literal["pending", "in_flight", "redeliverable", "confirmed"] | None = None,
        tid: int | None = None,
        limit: Annotated[int, Query(ge=1, le=20_000)] = 1000,
    ) -> JSON:
        now = sandbox.clock.now()
        timeout = sandbox.tmc.visibility_timeout
        rows = [
            m.to_dict(zone(), now, timeout)
            for m in sandbox.tmc.messages()
            if (topic is None or m.topic == topic)
            and (state is None or m.state(now, timeout) == state)
            and (tid is None or m.tid == tid)
        ]
        return {"messages": rows[-limit:]}

    @router.get("/tmc/confirmations")
    async def tmc_confirmations() -> JSON:
        return {
            "confirmations": [
                {
                    "at": fmt_time(c.at, zone()),
                    "group_name": c.group,
                    "s_message_ids": c.confirmed,
                    "f_message_ids": c.failed,
                    "unknown_ids": c.unknown,
                }
                for c in sandbox.tmc.confirmations
            ]
        }

    @router.post("/tmc/chaos")
    async def tmc_chaos(body: ChaosIn) -> JSON:
        sandbox.tmc.duplicate_next(body.duplicate)
        sandbox.tmc.reorder_next(body.reorder)
        return sandbox.tmc.chaos()

    @router.post("/tmc/permit")
    async def tmc_permit(body: PermitIn) -> JSON:
        topics = tuple(body.topics) if body.topics is not None else EMITTED_TOPICS
        unknown = [t for t in topics if t not in EMITTED_TOPICS]
        if unknown:
            raise HTTPException(status_code=422, detail=f"unknown topics: {unknown}")
        sub = sandbox.subscription
        sub.permitted = body.permitted
        sub.topics = topics
        sub.modified = sandbox.clock.now()
        return {"permitted": sub.permitted, "topics": list(sub.topics)}

    @router.get("/pushes")
    async def pushes(
        topic: str | None = None,
        state: DeliveryState | None = None,
        include_body: bool = False,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> JSON:
        records = [
            r
            for r in sandbox.dispatcher.records()
            if (topic is None or r.request.topic == topic) and (state is None or r.state == state)
        ]
        return {"pushes": [r.to_dict(include_body=include_body) for r in records[-limit:]]}

    @router.post("/pushes/wait")
    async def wait_pushes(within: Annotated[float, Query(gt=0, le=120)] = 10.0) -> JSON:
        return {"idle": await sandbox.dispatcher.wait_idle(within=within)}

    # faults, session, limits, permissions, stream ----------------------------------------

    @router.get("/faults")
    async def list_faults() -> JSON:
        return {"faults": [rule.to_dict() for rule in sandbox.faults.rules()]}

    @router.post("/faults", status_code=201)
    async def add_fault(body: FaultIn) -> JSON:
        if body.sub_code is not None and body.sub_code not in ISP_MESSAGES:
            raise HTTPException(
                status_code=422, detail=f"sub_code must be one of {sorted(ISP_MESSAGES)}"
            )
        try:
            rule = sandbox.faults.add(
                body.kind,
                count=body.count,
                path_pattern=body.api,
                method=body.http_method,
                status=body.status,
                seconds=body.seconds,
                skip=body.skip,
                detail=body.sub_code,
            )
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return {"fault": rule.to_dict()}

    @router.delete("/faults")
    async def clear_faults() -> JSON:
        return {"removed": sandbox.faults.clear()}

    @router.delete("/faults/{fault_id}")
    async def remove_fault(fault_id: str) -> JSON:
        if not sandbox.faults.remove(fault_id):
            raise HTTPException(status_code=404, detail=f"no fault {fault_id}")
        return {"removed": 1}

    @router.post("/session")
    async def session(body: SessionIn) -> JSON:
        sessions = sandbox.sessions
        if body.action == "expire":
            sessions.expire()
        elif body.action == "rotate":
            if not body.session:
                raise HTTPException(status_code=422, detail="rotate needs a new session")
            sessions.rotate(body.session)
        else:
            sessions.restore(body.session or sandbox.options.access_token)
        return {
            "expired": sessions.expired,
            "rotated": sessions.current != sandbox.options.access_token,
        }

    @router.get("/rate_limit")
    async def get_rate_limit() -> JSON:
        limiter = sandbox.limiter
        key = sandbox.options.app_key
        return {
            "call_limit": limiter.limit,
            "window_seconds": limiter.window_seconds,
            "ban_seconds": limiter.ban_seconds,
            "used": limiter.used(key),
            "banned_for": round(limiter.banned_for(key), 3),
        }

    @router.post("/rate_limit")
    async def set_rate_limit(body: RateLimitIn) -> JSON:
        limiter = sandbox.limiter
        if body.reset:
            limiter.reset()
        limiter.configure(
            limit=body.call_limit,
            window_seconds=body.window_seconds,
            ban_seconds=body.ban_seconds,
        )
        if body.ban is not None:
            limiter.ban(sandbox.options.app_key, body.ban)
        return await get_rate_limit()

    @router.get("/permissions")
    async def get_permissions() -> JSON:
        return {"denied_apis": sorted(sandbox.denied_apis)}

    @router.post("/permissions")
    async def set_permissions(body: PermissionsIn) -> JSON:
        sandbox.denied_apis.update(body.deny)
        sandbox.denied_apis.difference_update(body.allow)
        return {"denied_apis": sorted(sandbox.denied_apis)}

    @router.post("/stream")
    async def stream(body: StreamIn) -> JSON:
        sandbox.stream.rate = body.orders_per_second
        return {"orders_per_second": sandbox.stream.rate}

    @router.post("/tick")
    async def tick(body: TickIn | None = None) -> JSON:
        body = body or TickIn()
        return {"steps": [sandbox.stream.step().to_dict() for _ in range(body.steps)]}

    return router


# ---------------------------------------------------------------------------------------
# helpers


def _draft(sandbox: TaobaoSandbox, body: CreateTradesIn) -> TradeDraft:
    """A trade draft from explicit parts, generated values filling the gaps."""
    state = sandbox.state
    rng = sandbox.stream.rng
    line_count = body.line_count
    if line_count is None and body.status == "SELLER_CONSIGNED_PART":
        line_count = 2
    draft = sandbox.generator.draft(rng, trade_type=body.type or "fixed", lines=line_count)
    if body.lines:
        lines: list[LineDraft] = []
        for line in body.lines:
            if line.outer_id is not None:
                item, sku = state.find_sku_by_outer_id(line.outer_id)
                num_iid, sku_id = item.num_iid, sku.sku_id if sku else None
            elif line.sku_id is not None:
                num_iid, sku_id = state.item_of_sku(line.sku_id).num_iid, line.sku_id
            elif line.num_iid is not None:
                item = state.item(line.num_iid)
                if item.skus:
                    raise NotFoundError("isv.sku-not-exist", "商品有SKU, 需指定sku_id或outer_id")
                num_iid, sku_id = item.num_iid, None
            else:
                raise NotFoundError("isv.sku-not-exist", "需指定num_iid, sku_id或outer_id")
            lines.append(LineDraft(num_iid, sku_id, line.num, line.price, line.discount_fee))
        draft.lines = lines
    if body.buyer is not None:
        b = body.buyer
        generated = draft.buyer
        draft.buyer = Buyer(
            open_uid=b.open_uid or generated.open_uid,
            nick=b.nick or generated.nick,
            receiver=Receiver(
                name=b.name,
                mobile=b.mobile,
                phone=b.phone,
                state=b.state,
                city=b.city,
                district=b.district,
                town=b.town,
                address=b.address,
                zip=b.zip,
            ),
        )
    if body.post_fee is not None:
        draft.post_fee = body.post_fee
    if body.discount_fee is not None:
        draft.discount_fee = body.discount_fee
    if body.buyer_message is not None:
        draft.buyer_message = body.buyer_message
    if body.seller_memo is not None:
        draft.seller_memo = body.seller_memo
    if body.seller_flag is not None:
        draft.seller_flag = body.seller_flag
    if body.invoice is not None:
        draft.invoice = Invoice(body.invoice.kind, body.invoice.name, body.invoice.type)
    if body.deposit is not None:
        draft.deposit = body.deposit
    draft.privacy_protection = body.privacy_protection
    initial: dict[str, InitialStatus] = {
        "TRADE_NO_CREATE_PAY": "TRADE_NO_CREATE_PAY",
        "PAY_PENDING": "PAY_PENDING",
        "WAIT_PRE_AUTH_CONFIRM": "WAIT_PRE_AUTH_CONFIRM",
    }
    if body.status in initial:
        draft.initial_status = initial[body.status]
    if body.status == "WAIT_PRE_AUTH_CONFIRM":
        draft.type = "pre_auth_type"
    if body.status == "PAID_FORBID_CONSIGN":
        draft.forbid_consign = True
    return draft


def _item(sandbox: TaobaoSandbox, body: CreateItemIn) -> Item:
    """A new item (and its SKUs) from the control body, with fresh ids."""
    state = sandbox.state
    now = state.now()
    num_iid = state.ids.next("num_iid")
    item = Item(
        num_iid=num_iid,
        title=body.title,
        outer_id=body.outer_id,
        price=body.price,
        cid=50_012_036,
        pic_url=f"https://img.alicdn.com/bao/uploaded/i1/sandbox/{num_iid}.jpg",
        created=now,
        modified=now,
        list_time=now,
        delist_time=now + timedelta(days=7),
        quantity=0 if body.skus else body.quantity,
        approve_status=body.approve_status,
    )
    pid = 1_627_207 if body.prop_name == "颜色分类" else 20_000 + len(body.prop_name)
    for index, sku in enumerate(body.skus):
        vid = 3_000_000 + index * 7
        value = (sku.value or sku.outer_id or f"款式{index + 1}").replace(":", "#cln#")
        value = value.replace(";", "#scln#")  # how TOP escapes separators in names
        item.skus.append(
            Sku(
                sku_id=state.ids.next("sku"),
                num_iid=num_iid,
                outer_id=sku.outer_id,
                properties=f"{pid}:{vid}",
                properties_name=f"{pid}:{vid}:{body.prop_name}:{value}",
                price=sku.price or body.price,
                quantity=sku.quantity,
                created=now,
                modified=now,
            )
        )
    return item


def _advance(sandbox: TaobaoSandbox, trade: Trade, body: CreateTradesIn) -> None:
    """Move a new trade to the requested status along the real lifecycle."""
    state = sandbox.state
    tid = trade.tid
    if trade.type == "step":
        step = body.step_trade_status
        if (
            step is None
            and body.status is not None
            and body.status
            not in (
                "WAIT_BUYER_PAY",
                "TRADE_CLOSED_BY_TAOBAO",
            )
        ):
            step = "FRONT_PAID_FINAL_PAID"
        if step in ("FRONT_PAID_FINAL_NOPAID", "FRONT_PAID_FINAL_PAID"):
            state.pay_deposit(tid)
        if step == "FRONT_PAID_FINAL_PAID":
            state.pay_balance(tid)
    target = body.status
    if target is None:
        target = "WAIT_BUYER_PAY" if trade.type == "step" else "WAIT_SELLER_SEND_GOODS"
    if target in ("WAIT_BUYER_PAY", "TRADE_NO_CREATE_PAY", "PAY_PENDING", "WAIT_PRE_AUTH_CONFIRM"):
        return
    if target == "TRADE_CLOSED_BY_TAOBAO":
        state.close(tid)
        return
    if trade.status in (
        "WAIT_BUYER_PAY",
        "TRADE_NO_CREATE_PAY",
        "PAY_PENDING",
        "WAIT_PRE_AUTH_CONFIRM",
    ):
        state.pay(tid)
    if target in ("WAIT_SELLER_SEND_GOODS", "PAID_FORBID_CONSIGN"):
        return
    if target == "TRADE_CLOSED":
        for order in trade.orders:
            refund = state.request_refund(tid, order.oid)
            state.succeed_refund(refund.refund_id)
        return
    rng = sandbox.stream.rng
    if target == "SELLER_CONSIGNED_PART":
        if len(trade.orders) < 2:
            raise StateError("isv.invalid-parameter", "部分发货需要至少两个子订单")
        ship(state, sandbox.generator, rng, trade, oids=[trade.orders[0].oid])
        return
    code = "SF" if trade.type == "cod" else None
    ship(state, sandbox.generator, rng, trade, company_code=code)
    if target == "TRADE_BUYER_SIGNED":
        state.sign_for(tid)
    elif target == "TRADE_FINISHED":
        state.confirm_receipt(tid)
