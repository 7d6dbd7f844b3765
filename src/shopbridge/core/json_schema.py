"""Builds the published JSON Schema of the unified model.

ERP developers in other languages generate their types from this document, so it is
committed under `docs/schema/` and a test fails when it drifts from the code. The command line
lives in `shopbridge.core.schema`, a module the package does not import, so that
`python -m shopbridge.core.schema` runs it cleanly.
"""

from __future__ import annotations

import json
from typing import Any, Final

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shopbridge.core.aftersales import AfterSale, AfterSaleLine
from shopbridge.core.catalog import Listing, Product, StockLevel, Variant
from shopbridge.core.invoices import InvoiceRequest
from shopbridge.core.logistics import Shipment, ShipmentLine, TrackingEvent, Waybill
from shopbridge.core.money import Money
from shopbridge.core.orders import Discount, Order, OrderLine, PaymentSummary, PresaleInfo
from shopbridge.core.parties import Address, Party
from shopbridge.core.tenancy import Shop, Tenant

__all__ = ["PUBLIC_MODELS", "render_schema", "unified_model_json_schema"]

PUBLIC_MODELS: Final[tuple[type[BaseModel], ...]] = (
    Tenant,
    Shop,
    Order,
    OrderLine,
    Party,
    Address,
    Money,
    PaymentSummary,
    Discount,
    PresaleInfo,
    InvoiceRequest,
    Shipment,
    ShipmentLine,
    TrackingEvent,
    Waybill,
    StockLevel,
    Product,
    Variant,
    Listing,
    AfterSale,
    AfterSaleLine,
)

_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


def unified_model_json_schema() -> dict[str, Any]:
    """One draft 2020-12 document with every public model (and enum) under `$defs`.

    Validation mode: the schema describes what ShopBridge accepts, which is also exactly what
    `model_dump(mode="json")` produces.
    """
    _, top = models_json_schema(
        [(model, "validation") for model in PUBLIC_MODELS],
        title="ShopBridge unified commerce model",
        description=(
            "Objects exchanged between ShopBridge, its connectors and ERP/WMS clients. "
            "Money amounts are decimal strings; datetimes are RFC 3339 in UTC; fields "
            "marked x-sensitive hold buyer personal data."
        ),
    )
    return {"$schema": _DIALECT, **top}


def render_schema() -> str:
    """The schema as committed: sorted keys, two-space indent, UTF-8 text, final newline."""
    return json.dumps(unified_model_json_schema(), indent=2, ensure_ascii=False, sort_keys=True)
