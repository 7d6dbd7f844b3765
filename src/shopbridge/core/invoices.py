"""Invoice requests (发票) from buyers, and the invoice issued back.

A company title is business data and stays in clear; a personal title is a person's name and
is typed sensitive, so the two are separate fields rather than one string whose privacy
depends on its content.
"""

from __future__ import annotations

from pydantic import model_validator

from shopbridge.core.base import NativeRecord
from shopbridge.core.enums import InvoiceMedium, InvoiceType, PartyType
from shopbridge.core.money import Money
from shopbridge.core.sensitive import SensitiveEmail, SensitiveName, SensitivePhone
from shopbridge.core.types import HttpUrl, Identifier, ShortText, UtcDatetime

__all__ = ["InvoiceRequest"]


class InvoiceRequest(NativeRecord):
    """What the buyer asked for, and once issued, the invoice's number and PDF."""

    native_id: Identifier | None = None
    """Platform id of the invoice application, where there is one."""
    type: InvoiceType = InvoiceType.NORMAL
    medium: InvoiceMedium = InvoiceMedium.ELECTRONIC
    title_type: PartyType
    """`organization` needs `company_name`; `individual` may carry `personal_name`."""
    company_name: ShortText | None = None
    personal_name: SensitiveName | None = None
    tax_number: Identifier | None = None
    """Buyer's taxpayer id (统一社会信用代码) for company titles."""
    content: ShortText | None = None
    """What the invoice lists (开票内容: `商品明细`, a category)."""
    email: SensitiveEmail | None = None
    """Where an electronic invoice is sent."""
    phone: SensitivePhone | None = None
    registered_address: ShortText | None = None
    """VAT special invoices: the company's registered address and phone and its bank."""
    registered_phone: ShortText | None = None
    bank_name: ShortText | None = None
    bank_account: ShortText | None = None
    amount: Money | None = None
    invoice_number: Identifier | None = None
    """Set once issued (发票号码)."""
    invoice_code: Identifier | None = None
    """Issued paper/legacy invoices also have a code (发票代码); fully digital ones do not."""
    issued_at: UtcDatetime | None = None
    pdf_url: HttpUrl | None = None

    @model_validator(mode="after")
    def _title_consistent(self) -> InvoiceRequest:
        if self.title_type is PartyType.ORGANIZATION:
            if not self.company_name:
                raise ValueError("an organization invoice title needs company_name")
            if self.personal_name is not None:
                raise ValueError("an organization invoice title has no personal_name")
        elif self.company_name is not None:
            raise ValueError("an individual invoice title has no company_name")
        if self.type is InvoiceType.VAT_SPECIAL and (
            self.title_type is not PartyType.ORGANIZATION or not self.tax_number
        ):
            raise ValueError("a VAT special invoice needs an organization title and tax_number")
        return self
