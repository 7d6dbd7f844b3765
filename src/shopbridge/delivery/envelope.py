"""The JSON body of an event, identical in webhooks and the feed.

Buyer fields are masked unless the reader may see them (a `pii:read` key, or a webhook
endpoint explicitly allowed). The masked form is derived from the stored snapshot at send
time, so a later change of the masking rules applies to redeliveries too.
"""

from __future__ import annotations

from typing import Any

from shopbridge.core import fastjson
from shopbridge.storage.tables import OutboxEventRow
from shopbridge.storage.vault import PASSTHROUGH_MARK, Vault, order_view


def format_time(row: OutboxEventRow) -> str:
    return row.created_at.isoformat().replace("+00:00", "Z")


def event_data(row: OutboxEventRow, *, reveal: bool, vault: Vault) -> dict[str, Any]:
    """The event's data with its order snapshot opened (vault) or its personal fields put
    back from memory (pass-through), then masked unless `reveal`. Raises `UnknownDataKey`
    when the snapshot was sealed by a data key this process has not loaded yet."""
    payload = row.payload
    data = dict(payload)
    order = payload.get("order")
    if isinstance(order, dict):
        if order.get("pii") == PASSTHROUGH_MARK:
            plain = {k: v for k, v in order.items() if k != "pii"}
            order, _, available = vault.recall(
                row.subject_id or "", row.subject_version or 0, plain
            )
            data["buyer_data"] = "in_memory" if available else "dropped"
        else:
            order = vault.open_document(row.tenant_id, order)
        data["order"] = order_view(order, reveal=reveal)
    return data


def event_body(row: OutboxEventRow, *, reveal: bool, vault: Vault) -> dict[str, Any]:
    data = event_data(row, reveal=reveal, vault=vault)
    if row.subject_version is not None:
        data.setdefault("version", row.subject_version)
    return {
        "id": row.id,
        "type": row.type,
        "timestamp": format_time(row),
        "tenant_id": row.tenant_id,
        "shop_id": row.shop_id,
        "cursor": str(row.position) if row.position is not None else None,
        "data": data,
    }


def encode(body: dict[str, Any]) -> bytes:
    return fastjson.dumps(body)
