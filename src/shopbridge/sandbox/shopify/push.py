"""Shopify webhook publisher: turn state changes into signed pushes.

For each :class:`~shopbridge.sandbox.shopify.state.DomainEvent` the publisher renders the
resource as the REST API would (for the subscription's API version), applies the
subscription's ``fields`` filter, signs the exact body bytes and queues one delivery per
target: ``push_url`` (all emitted topics) plus every ``webhooks.json`` subscription on the
topic. All deliveries of one event share ``X-Shopify-Event-Id``; each delivery has its
own ``X-Shopify-Webhook-Id``, which stays the same on every redelivery.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC

from shopbridge.sandbox.common.clock import Clock
from shopbridge.sandbox.common.push import PushDispatcher, PushRequest
from shopbridge.sandbox.shopify.envelope import (
    JSON,
    RenderContext,
    apply_fields,
    dump,
    render_fulfillment,
    render_inventory_level,
    render_order,
    render_refund,
)
from shopbridge.sandbox.shopify.options import ShopifySandboxOptions
from shopbridge.sandbox.shopify.signing import webhook_hmac
from shopbridge.sandbox.shopify.state import DomainEvent, ShopifyState
from shopbridge.sandbox.shopify.versions import latest_stable

USER_AGENT = "Shopify-Captain-Hook"


@dataclass(frozen=True)
class _Target:
    url: str
    fields: tuple[str, ...]
    api_version: str
    subscription_id: int | None


class ShopifyWebhookPublisher:
    """Listener for :class:`ShopifyState` that feeds a :class:`PushDispatcher`."""

    def __init__(
        self,
        state: ShopifyState,
        dispatcher: PushDispatcher,
        options: ShopifySandboxOptions,
        clock: Clock,
    ) -> None:
        self.state = state
        self.dispatcher = dispatcher
        self.options = options
        self.clock = clock

    def _targets(self, topic: str) -> list[_Target]:
        targets: list[_Target] = []
        if self.options.push_url:
            version = self.options.webhook_api_version or latest_stable(self.clock.now()).name
            targets.append(_Target(self.options.push_url, (), version, None))
        for webhook in self.state.webhooks.values():
            if webhook.topic == topic:
                targets.append(
                    _Target(webhook.address, tuple(webhook.fields), webhook.api_version, webhook.id)
                )
        return targets

    def render(self, event: DomainEvent, version: str) -> JSON | None:
        """The webhook payload for ``event``; None if the resource is gone."""
        state = self.state
        ctx = RenderContext(state, version)
        if event.resource == "deleted_order":
            return {"id": event.order_id}
        if event.resource == "inventory_level":
            if event.inventory_item_id is None or event.location_id is None:
                return None
            level = state.levels.get((event.inventory_item_id, event.location_id))
            return render_inventory_level(level, ctx) if level else None
        order = state.orders.get(event.order_id) if event.order_id is not None else None
        if order is None:
            return None
        if event.resource == "order":
            return render_order(order, ctx)
        if event.resource == "refund":
            refund = next((r for r in order.refunds if r.id == event.refund_id), None)
            return render_refund(order, refund, ctx) if refund else None
        fulfillment = next((f for f in order.fulfillments if f.id == event.fulfillment_id), None)
        return render_fulfillment(order, fulfillment, ctx) if fulfillment else None

    def on_event(self, event: DomainEvent) -> None:
        targets = self._targets(event.topic)
        if not targets:
            return
        event_id = str(uuid.uuid4())
        triggered_at = (
            self.clock.now()
            .astimezone(UTC)
            .isoformat(timespec="microseconds")
            .replace("+00:00", "Z")
        )
        payloads: dict[str, JSON | None] = {}
        for target in targets:
            if target.api_version not in payloads:
                payloads[target.api_version] = self.render(event, target.api_version)
            payload = payloads[target.api_version]
            if payload is None:
                continue
            body = dump(apply_fields(payload, list(target.fields) or None))
            webhook_id = str(uuid.uuid4())
            headers = {
                "Content-Type": "application/json",
                "X-Shopify-Topic": event.topic,
                "X-Shopify-Hmac-Sha256": webhook_hmac(body, self.options.app_secret),
                "X-Shopify-Shop-Domain": self.state.shop.myshopify_domain,
                "X-Shopify-API-Version": target.api_version,
                "X-Shopify-Webhook-Id": webhook_id,
                "X-Shopify-Event-Id": event_id,
                "X-Shopify-Triggered-At": triggered_at,
            }
            meta: dict[str, int | str | None] = {
                "subscription_id": target.subscription_id,
                "order_id": event.order_id,
            }
            self.dispatcher.submit(
                PushRequest(
                    url=target.url,
                    body=body,
                    headers=headers,
                    topic=event.topic,
                    delivery_key=webhook_id,
                    event_key=event_id,
                    meta=meta,
                )
            )
