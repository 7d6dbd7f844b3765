"""The catalogue of event types ShopBridge emits (outbox, webhooks and the event feed).

Webhook endpoints filter on these names, so an unknown name in a filter is refused instead of
silently matching nothing.
"""

from __future__ import annotations

EVENT_TYPES: dict[str, str] = {
    "order.created": "A platform order was seen for the first time.",
    "order.updated": "An order changed without changing its unified status.",
    "order.status_changed": "An order's unified status changed (`previous_status` says from what).",
    "order.cancelled": "An order was cancelled on the platform.",
    "stock.changed": "A SKU's on-hand, reserved or available-to-promise quantity changed.",
    "stock.push_failed": "A listing's quantity could not be pushed to its platform; "
    "`error` says why (it is retried).",
    "shipment.created": "A shipment was recorded and is being confirmed on the platform.",
    "shipment.confirmed": "The platform accepted a shipment (the order shows it shipped).",
    "shipment.failed": "The platform rejected a shipment; `error` carries its reason. "
    "Not retried: it cannot succeed as it is.",
    "shipment.tracking_updated": "New tracking events for a shipment.",
    "webhook.endpoint_disabled": "A webhook endpoint was disabled after failing; `reason` says why.",
    "webhook.test": "Sent only by `POST /v1/webhook-endpoints/{id}/test`; never in the feed.",
    "shop.sync_degraded": "A shop's sync turned `degraded` or `failing` (or moved between the "
    "two); `status`, `reasons` and `last_error` say why and what to do.",
    "shop.sync_recovered": "A shop whose sync was degraded or failing is healthy again.",
    "shop.auth_expiring": "A shop's platform token expires within 7 days (or has expired): "
    "`token_expires_at`; re-authorise the shop.",
}


def is_known_event_type(name: str) -> bool:
    return name in EVENT_TYPES
