"""Request and response bodies of privacy shipping: e-waybills and receiver decryption.

A waybill request names the order and the merchant's own data (sender, package); it never
carries the buyer: the platform resolves the recipient from its own handle (Taobao OAID).
Decrypted receivers exist only in the decrypt response body.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    model_validator,
)

from shopbridge.api.schemas import Strict
from shopbridge.api.validation import ID_PATTERN, Text
from shopbridge.core.types import MAX_QUANTITY

__all__ = [
    "MAX_DECRYPT_ORDERS",
    "DecryptIn",
    "DecryptOut",
    "DecryptedAddressOut",
    "DecryptedReceiverOut",
    "DecryptedResultOut",
    "PackageIn",
    "SenderAddressIn",
    "SenderIn",
    "WaybillCreate",
    "WaybillOut",
]

MAX_DECRYPT_ORDERS = 20
"""Orders per decrypt call: the most any platform takes in one call (Taobao: 20)."""

Division = Annotated[Text, StringConstraints(min_length=1, max_length=50)]
Street = Annotated[Text, StringConstraints(min_length=1, max_length=200)]
Phone = Annotated[Text, StringConstraints(min_length=3, max_length=20)]
PackageId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,64}$")]
"""Letters, digits and `_`: what every platform's waybill service takes as a package id."""
CarrierIn = Annotated[str, StringConstraints(min_length=1, max_length=64)]
TemplateUrl = Annotated[Text, StringConstraints(max_length=2048, pattern=r"^https?://\S+$")]
OptionValue = (
    StrictBool | StrictInt | StrictFloat | Annotated[Text, StringConstraints(max_length=2000)]
)
DecryptScene = Literal[
    "sf_waybill",
    "express_waybill",
    "ems_waybill",
    "other_waybill",
    "store_shipping",
    "manual_order",
    "dropship",
    "after_sales",
    "customer_care",
]
OrderId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class SenderAddressIn(Strict):
    province: Division
    city: Division
    district: Division | None = None
    town: Division | None = None
    detail: Street


class SenderIn(Strict):
    """The merchant's warehouse as it appears on the label (not buyer data)."""

    name: Annotated[Text, StringConstraints(min_length=1, max_length=40)]
    mobile: Phone | None = None
    phone: Phone | None = Field(default=None, description="Landline.")
    address: SenderAddressIn

    @model_validator(mode="after")
    def _a_number(self) -> SenderIn:
        if self.mobile is None and self.phone is None:
            raise ValueError("give mobile or phone: carriers call the sender")
        return self


class PackageItemIn(Strict):
    name: Annotated[Text, StringConstraints(min_length=1, max_length=200)]
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)]


class PackageIn(Strict):
    id: PackageId | None = Field(
        default=None,
        description="Your package id; the same id again returns the same waybill (a reprint), "
        "a new id a new waybill (another parcel). Generated and returned when omitted.",
    )
    items: list[PackageItemIn] = Field(min_length=1, max_length=100)
    weight_g: Annotated[StrictInt, Field(ge=1, le=10_000_000)] | None = None
    volume_ml: Annotated[StrictInt, Field(ge=1, le=10_000_000_000)] | None = None


class WaybillCreate(Strict):
    carrier: CarrierIn = Field(
        description="Unified carrier code (`GET /v1/carriers`), e.g. `SF`, `ZTO`.",
        examples=["SF"],
    )
    sender: SenderIn
    package: PackageIn
    template_url: TemplateUrl = Field(
        description="The platform's print template, e.g. "
        "`http://cloudprint.cainiao.com/template/standard/101` (Taobao / Cainiao)."
    )
    options: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], OptionValue] = (
        Field(
            default_factory=dict,
            max_length=20,
            description="Platform-specific options (see the connector's page), e.g. Taobao "
            "`multi_packages_shipment`, `logistics_services`. An option the platform does "
            "not know is refused (422).",
        )
    )


class WaybillOut(BaseModel):
    """An e-waybill: print `print_data` with the component `print_format` names."""

    id: str
    order_id: str
    shop_id: str
    carrier: str = Field(description="Unified carrier code.")
    platform_carrier_code: str = Field(description="The carrier as the platform named it.")
    waybill_number: str = Field(description="The tracking number to confirm the shipment with.")
    parent_waybill_number: str | None = Field(
        description="Multi-package shipments: the master waybill; ship with that one."
    )
    package_id: str
    print_format: str = Field(
        description="Which print component renders `print_data`: `cainiao-cloudprint` "
        "(Taobao/Tmall: Cainiao's cloud-print component)."
    )
    print_data: str = Field(
        description="The platform's print document, passed to the print component as is. "
        "Encrypted by the platform: neither ShopBridge nor the WMS can read the recipient."
    )
    state: Literal["issued", "cancelled"]
    created_at: datetime
    updated_at: datetime


class DecryptIn(Strict):
    scene: DecryptScene = Field(
        description="Why the recipient is needed: shipping with a carrier's own waybill "
        "(`sf_waybill`, `express_waybill` for STO/YTO/ZTO/Best/Yunda, `ems_waybill`, "
        "`other_waybill`), `store_shipping`, `manual_order`, `dropship`, `after_sales`, "
        "`customer_care`. Platforms grant decryption per scene."
    )
    order_ids: list[OrderId] = Field(min_length=1, max_length=MAX_DECRYPT_ORDERS)

    @model_validator(mode="after")
    def _unique(self) -> DecryptIn:
        if len(set(self.order_ids)) != len(self.order_ids):
            raise ValueError("each order id may appear once")
        return self


class DecryptedAddressOut(BaseModel):
    country: str | None
    province: str | None
    city: str | None
    district: str | None
    town: str | None
    detail: str | None


class DecryptedReceiverOut(BaseModel):
    name: str | None
    mobile: str | None = Field(
        description="With `virtual_number` a relay number (隐私号), often `number-extension`."
    )
    phone: str | None
    address: DecryptedAddressOut
    virtual_number: bool
    virtual_number_expires_at: datetime | None


class DecryptedResultOut(BaseModel):
    order_id: str
    matched: bool = Field(
        description="False: the platform's recipient handle ShopBridge holds is stale (the "
        "buyer changed the address); `receiver` is null. Wait for the order to sync again."
    )
    receiver: DecryptedReceiverOut | None


class DecryptOut(BaseModel):
    data: list[DecryptedResultOut]
