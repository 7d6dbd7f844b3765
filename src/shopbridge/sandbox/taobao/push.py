"""TMC (Taobao Message Channel) emulation: message queue, publisher, optional HTTP push.

Each :class:`~shopbridge.sandbox.taobao.state.DomainEvent` becomes one TMC message
(``id``, ``topic``, ``pub_app_key``, ``pub_time``, ``user_id``, ``user_nick`` and
``content``, a JSON *string* such as ``{"tid":...,"oid":...,"status":...}``) in the
queue of the seller's user group, provided the seller is enabled for TMC
(``taobao.tmc.user.permit``) and the topic is among the seller's topics.

Clients pull with ``taobao.tmc.messages.consume`` and acknowledge with
``taobao.tmc.messages.confirm``. A consumed message that is not confirmed within
``tmc_visibility_timeout_seconds`` is delivered again (same id); ids listed in
``f_message_ids`` are delivered again on the next consume. Chaos switches make the next N
messages appear twice (a second message with a new id and identical content) or hold the
next K messages and release them in reverse order.

If ``push_url`` is set, every message is also POSTed there as JSON - a sandbox
convenience (Taobao's real push channel is the TMC WebSocket), signed with
``X-Shopbridge-Tmc-Sign`` = upper-case hex HMAC-SHA256(app_secret, raw body).
Buyer data in messages is masked; message bodies are never logged.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shopbridge.sandbox.common.clock import Clock
from shopbridge.sandbox.common.push import PushDispatcher, PushRequest
from shopbridge.sandbox.common.rand import DeterministicRandom
from shopbridge.sandbox.taobao.envelope import JSON, dump, fmt_time, mask_nick, money
from shopbridge.sandbox.taobao.options import EMITTED_TOPICS, TaobaoSandboxOptions
from shopbridge.sandbox.taobao.signing import push_signature
from shopbridge.sandbox.taobao.state import DomainEvent, IdAllocator, TaobaoState

USER_AGENT = "ShopBridge-Sandbox-TMC/1.0"

# ``pub_app_key`` of trade and refund messages: the app key of Taobao's own trade
# platform as seen in captured messages (not confirmed from an official document).
TAOBAO_PUB_APP_KEY = "12497914"


@dataclass
class TmcMessage:
    id: int
    topic: str
    content: str
    pub_time: datetime
    pub_app_key: str
    user_id: int
    user_nick: str
    group: str
    tid: int
    sequence: int
    """Position in the queue (publication order after chaos)."""
    duplicate_of: int | None = None
    reordered: bool = False
    deliveries: list[datetime] = field(default_factory=list)
    confirmed_at: datetime | None = None
    redeliver_now: bool = False
    """Set by ``f_message_ids``: deliver on the next consume, whatever the timeout."""

    def state(self, now: datetime, timeout: float) -> str:
        if self.confirmed_at is not None:
            return "confirmed"
        if not self.deliveries:
            return "pending"
        if self.redeliver_now or now - self.deliveries[-1] >= timedelta(seconds=timeout):
            return "redeliverable"
        return "in_flight"

    def render(self, zone: Any) -> JSON:
        """The ``tmc_message`` object of ``taobao.tmc.messages.consume``."""
        return {
            "id": self.id,
            "topic": self.topic,
            "pub_app_key": self.pub_app_key,
            "pub_time": fmt_time(self.pub_time, zone),
            "user_id": self.user_id,
            "user_nick": self.user_nick,
            "content": self.content,
        }

    def to_dict(self, zone: Any, now: datetime, timeout: float) -> JSON:
        data = self.render(zone)
        data.update(
            {
                "group_name": self.group,
                "tid": self.tid,
                "state": self.state(now, timeout),
                "deliveries": [fmt_time(d, zone) for d in self.deliveries],
                "delivery_count": len(self.deliveries),
                "confirmed_at": fmt_time(self.confirmed_at, zone),
                "duplicate_of": self.duplicate_of,
                "reordered": self.reordered,
                "sequence": self.sequence,
            }
        )
        return data


@dataclass
class ConfirmRecord:
    at: datetime
    group: str
    confirmed: list[int]
    failed: list[int]
    unknown: list[int]


class TmcQueue:
    """Per-group message queues with at-least-once delivery. Thread-safe."""

    def __init__(
        self,
        clock: Clock,
        rng: DeterministicRandom,
        *,
        visibility_timeout: float,
        retention: int,
        reorder_flush_seconds: float = 2.0,
    ) -> None:
        self.clock = clock
        self.ids = IdAllocator(rng)
        self.visibility_timeout = visibility_timeout
        self.retention = retention
        self.reorder_flush_seconds = reorder_flush_seconds
        self._lock = threading.Lock()
        self._messages: list[TmcMessage] = []
        self._by_id: dict[int, TmcMessage] = {}
        self._sequence = 0
        self._held: list[TmcMessage] = []
        self._held_since: datetime | None = None
        self._duplicate_remaining = 0
        self._reorder_remaining = 0
        self.confirmations: list[ConfirmRecord] = []
        self.on_enqueue: list[Callable[[TmcMessage], None]] = []

    # chaos ----------------------------------------------------------------------------

    def duplicate_next(self, count: int) -> None:
        with self._lock:
            self._duplicate_remaining = max(0, count)

    def reorder_next(self, count: int) -> None:
        with self._lock:
            self._reorder_remaining = max(0, count)

    def chaos(self) -> dict[str, int]:
        with self._lock:
            return {
                "duplicate_remaining": self._duplicate_remaining,
                "reorder_remaining": self._reorder_remaining,
                "held": len(self._held),
            }

    # publish --------------------------------------------------------------------------

    def new_id(self) -> int:
        return self.ids.next("tmc")

    def publish(self, message: TmcMessage) -> None:
        """Add a message (applying the chaos switches); notify ``on_enqueue`` hooks."""
        released: list[TmcMessage] = []
        with self._lock:
            batch = [message]
            if self._duplicate_remaining > 0:
                self._duplicate_remaining -= 1
                copy = TmcMessage(
                    id=self.ids.next("tmc"),
                    topic=message.topic,
                    content=message.content,
                    pub_time=message.pub_time,
                    pub_app_key=message.pub_app_key,
                    user_id=message.user_id,
                    user_nick=message.user_nick,
                    group=message.group,
                    tid=message.tid,
                    sequence=0,
                    duplicate_of=message.id,
                )
                batch.append(copy)
            if self._reorder_remaining > 0:
                self._reorder_remaining -= 1
                for item in batch:
                    item.reordered = True
                if not self._held:
                    self._held_since = self.clock.now()
                self._held.extend(batch)
                if self._reorder_remaining == 0:
                    released = self._take_held()
            else:
                released = batch
            for item in released:
                self._append(item)
        self._notify(released)

    def flush_due(self) -> None:
        """Release held (reordered) messages once ``reorder_flush_seconds`` passed."""
        released: list[TmcMessage] = []
        with self._lock:
            since = self._held_since
            flush = timedelta(seconds=self.reorder_flush_seconds)
            if self._held and since is not None and self.clock.now() - since >= flush:
                self._reorder_remaining = 0
                released = self._take_held()
                for item in released:
                    self._append(item)
        self._notify(released)

    def _take_held(self) -> list[TmcMessage]:
        held, self._held = self._held, []
        self._held_since = None
        held.reverse()
        return held

    def _append(self, message: TmcMessage) -> None:
        self._sequence += 1
        message.sequence = self._sequence
        self._messages.append(message)
        self._by_id[message.id] = message
        if len(self._messages) > self.retention:
            keep: list[TmcMessage] = []
            excess = len(self._messages) - self.retention
            for item in self._messages:
                if excess > 0 and item.confirmed_at is not None:
                    excess -= 1
                    self._by_id.pop(item.id, None)
                    continue
                keep.append(item)
            self._messages = keep

    def _notify(self, messages: list[TmcMessage]) -> None:
        for message in messages:
            for hook in list(self.on_enqueue):
                hook(message)

    # consume / confirm ----------------------------------------------------------------

    def consume(self, group: str, quantity: int) -> list[TmcMessage]:
        """Up to ``quantity`` deliverable messages of ``group``, oldest first."""
        self.flush_due()
        now = self.clock.now()
        out: list[TmcMessage] = []
        with self._lock:
            for message in self._messages:
                if len(out) >= quantity:
                    break
                if message.group != group:
                    continue
                if message.state(now, self.visibility_timeout) in ("pending", "redeliverable"):
                    message.deliveries.append(now)
                    message.redeliver_now = False
                    out.append(message)
        return out

    def confirm(self, group: str, confirmed: list[int], failed: list[int]) -> ConfirmRecord:
        now = self.clock.now()
        unknown: list[int] = []
        with self._lock:
            for message_id in confirmed:
                message = self._by_id.get(message_id)
                if message is None or message.group != group:
                    unknown.append(message_id)
                    continue
                if message.confirmed_at is None:
                    message.confirmed_at = now
            for message_id in failed:
                message = self._by_id.get(message_id)
                if message is None or message.group != group:
                    unknown.append(message_id)
                    continue
                if message.confirmed_at is None:
                    message.redeliver_now = True
            record = ConfirmRecord(now, group, list(confirmed), list(failed), unknown)
            self.confirmations.append(record)
            if len(self.confirmations) > self.retention:
                del self.confirmations[: len(self.confirmations) - self.retention]
            return record

    def messages(self) -> list[TmcMessage]:
        with self._lock:
            return list(self._messages)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self._by_id.clear()
            self._held.clear()
            self._held_since = None
            self._duplicate_remaining = 0
            self._reorder_remaining = 0
            self.confirmations.clear()


@dataclass
class TmcSubscription:
    """Whether the seller is enabled for TMC, and for which topics."""

    permitted: bool
    topics: tuple[str, ...]
    created: datetime
    modified: datetime


class TmcPublisher:
    """Listener for :class:`TaobaoState` that turns events into TMC messages."""

    def __init__(
        self,
        state: TaobaoState,
        queue: TmcQueue,
        subscription: TmcSubscription,
        options: TaobaoSandboxOptions,
    ) -> None:
        self.state = state
        self.queue = queue
        self.subscription = subscription
        self.options = options

    def content(self, event: DomainEvent) -> JSON:
        """The ``content`` object of a message (serialised as a JSON string)."""
        trade = self.state.trades[event.tid]
        buyer = {
            "buyer_nick": mask_nick(trade.buyer.nick),
            "buyer_open_uid": trade.buyer.open_uid,
            "seller_nick": self.options.seller_nick,
        }
        if event.refund_id is not None:
            refund = self.state.refunds[event.refund_id]
            return {
                **buyer,
                "bill_type": "return_bill" if refund.has_good_return else "refund_bill",
                "modified": fmt_time(refund.modified, self.options.zone),
                "oid": refund.oid,
                "refund_fee": money(refund.refund_fee),
                "refund_id": refund.refund_id,
                "refund_phase": refund.refund_phase,
                "tid": trade.tid,
            }
        order = trade.order(event.oid) if event.oid is not None else None
        data: JSON = {
            **buyer,
            "oid": order.oid if order is not None else trade.orders[0].oid,
            "payment": money(trade.order_payment(order) if order is not None else trade.payment),
            "status": trade.status,
            "tid": trade.tid,
            "type": trade.type,
        }
        if trade.type == "step":
            data["step_trade_status"] = trade.step_trade_status
            data["step_paid_fee"] = money(trade.step_paid_fee)
        if event.topic == "taobao_trade_TradeMemoModified":
            data["seller_flag"] = trade.seller_flag
        return data

    def on_event(self, event: DomainEvent) -> None:
        sub = self.subscription
        if not sub.permitted or event.topic not in sub.topics:
            return
        content = self.content(event)
        message = TmcMessage(
            id=self.queue.new_id(),
            topic=event.topic,
            content=json.dumps(content, ensure_ascii=False, separators=(",", ":")),
            pub_time=event.occurred_at,
            pub_app_key=TAOBAO_PUB_APP_KEY,
            user_id=self.options.seller_id,
            user_nick=self.options.seller_nick,
            group=self.options.tmc_group,
            tid=event.tid,
            sequence=0,
        )
        self.queue.publish(message)


class HttpPusher:
    """``on_enqueue`` hook: POST each message to ``push_url`` through the dispatcher."""

    def __init__(self, dispatcher: PushDispatcher, options: TaobaoSandboxOptions) -> None:
        self.dispatcher = dispatcher
        self.options = options

    def __call__(self, message: TmcMessage) -> None:
        url = self.options.push_url
        if not url:
            return
        body = dump(message.render(self.options.zone))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Shopbridge-Tmc-Topic": message.topic,
            "X-Shopbridge-Tmc-Message-Id": str(message.id),
            "X-Shopbridge-Tmc-Sign": push_signature(body, self.options.app_secret),
        }
        self.dispatcher.submit(
            PushRequest(
                url=url,
                body=body,
                headers=headers,
                topic=message.topic,
                delivery_key=str(message.id),
                event_key=str(message.duplicate_of or message.id),
                meta={"tid": message.tid, "message_id": message.id},
            )
        )


def default_subscription(options: TaobaoSandboxOptions, now: datetime) -> TmcSubscription:
    return TmcSubscription(options.tmc_permitted, EMITTED_TOPICS, now, now)
