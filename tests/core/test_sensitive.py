from __future__ import annotations

import copy
import json
import logging
import pickle
import traceback
from typing import Annotated

import pytest
from pydantic import BaseModel, ValidationError

from shopbridge.core import (
    MASK_PII_CONTEXT,
    Address,
    InvoiceRequest,
    Order,
    Party,
    Sensitive,
    SensitiveKind,
    SensitiveName,
    SensitivePath,
    SensitivePayload,
    SensitivePhone,
    SensitiveText,
    iter_sensitive_paths,
    mask,
)
from shopbridge.core.enums import PartyType

PHONE = "13812345678"
NAME = "欧阳娜娜"
STREET = "文三路 478 号 华星科技大厦 7 楼"
EMAIL = "alice@example.com"


def party() -> Party:
    return Party(
        name=NAME,
        phone=PHONE,
        email=EMAIL,
        address=Address(
            country="CN",
            province="浙江省",
            city="杭州市",
            district="西湖区",
            lines=[STREET],
            postal_code="310012",
        ),
    )


def assert_no_plaintext(text: str) -> None:
    for secret in (PHONE, NAME, STREET, EMAIL, "310012", "12345678", "alice"):
        assert secret not in text


# --- masking rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("name", "张三", "张*"),
        ("name", "欧阳娜娜", "欧***"),
        ("name", "张", "*"),
        ("name", "John Smith", "J*** S****"),
        ("name", "Anne-Marie  O", "A*********  *"),
        ("phone", "13812345678", "138****5678"),
        ("phone", "18877771111-123", "188****1111-123"),
        ("phone", "+1 415 555 0123", "+* *** *** 0123"),
        ("phone", "+86 138 1234 5678", "+** *** **** 5678"),
        ("phone", "0571-88886666", "****-****6666"),
        ("phone", "1234", "****"),
        ("phone", "call 555 0123", "**** *** 0123"),
        ("email", "alice@example.com", "a****@example.com"),
        ("email", "a@example.com", "****@example.com"),
        ("email", "not-an-email", "****"),
        ("email", "@example.com", "****"),
        ("address", "文三路 478 号", "****"),
        ("postal_code", "310012", "310***"),
        ("postal_code", "SW1A 1AA", "SW1* ***"),
        ("postal_code", "94105-1234", "941**-****"),
        ("postal_code", "2000", "****"),
        ("id_number", "11010519491231002X", "1****************X"),
        ("id_number", "12", "**"),
        ("generic", "tb123456", "****"),
        ("payload", "{}", "****"),
        ("name", "", ""),
        ("phone", "", ""),
    ],
)
def test_masking_rules(kind: str, value: str, expected: str) -> None:
    assert mask(value, kind) == expected
    assert Sensitive(value, kind).masked() == expected


# --- the wrapper never shows plaintext ----------------------------------------------------


def test_repr_str_format_show_only_the_masked_form() -> None:
    secret = Sensitive(PHONE, SensitiveKind.PHONE)
    rendered = [
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        f"{secret:>30}",
        "%s" % secret,  # noqa: UP031 - the %-operator is exactly what is being tested
        "{}".format(secret),  # noqa: UP032
        repr([secret]),
        repr({"phone": secret}),
    ]
    for text in rendered:
        assert PHONE not in text
        assert "138****5678" in text
    assert repr(secret) == "Sensitive(kind='phone', masked='138****5678')"
    assert secret.reveal() == PHONE


def test_not_a_str_and_not_json_serialisable_by_accident() -> None:
    secret = Sensitive(PHONE, "phone")
    assert not isinstance(secret, str)
    assert secret != PHONE
    with pytest.raises(TypeError):
        json.dumps({"phone": secret})


def test_exception_messages_and_tracebacks_stay_masked() -> None:
    secret = Sensitive(NAME, "name")
    try:
        raise ValueError(f"cannot ship to {secret}")
    except ValueError as exc:
        assert_no_plaintext(str(exc))
        assert_no_plaintext("".join(traceback.format_exception(exc)))


def test_logging_stays_masked(caplog: pytest.LogCaptureFixture) -> None:
    value = party()
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("buyer %s / %r", value, value)
        logging.getLogger("test").info("dump %s", value.model_dump())
    assert_no_plaintext(caplog.text)


def test_model_repr_and_python_dump_stay_masked() -> None:
    value = party()
    order_text = repr(value) + str(value) + repr(value.model_dump()) + repr(value.address)
    assert_no_plaintext(order_text)
    assert "欧***" in order_text


def test_order_repr_hides_sensitive_fields_and_raw(order_doc: dict[str, object]) -> None:
    order = Order.model_validate(order_doc)
    assert order.raw is not None
    assert "receiver_name" in order.raw
    assert_no_plaintext(repr(order) + str(order))
    assert "raw=" not in repr(order)


def test_validation_errors_never_echo_personal_data() -> None:
    bad_inputs = [
        {"phone": PHONE, "name": NAME, "email": 5},  # a type error next to plaintext
        {"phone": PHONE + "\x00", "name": NAME},  # a bad sensitive value itself
        {"phone": PHONE, "name": NAME, "shoe_size": 42},  # an unknown field
    ]
    for data in bad_inputs:
        with pytest.raises(ValidationError) as excinfo:
            Party.model_validate(data)
        error = excinfo.value
        assert_no_plaintext(str(error))
        assert_no_plaintext(repr(error))
        assert_no_plaintext(error.json(include_input=False))


def test_model_level_errors_never_echo_personal_data(order_doc: dict[str, object]) -> None:
    doc = {**order_doc, "total": {"amount": "1.00", "currency": "USD"}}
    with pytest.raises(ValidationError, match="all amounts must be in CNY") as excinfo:
        Order.model_validate(doc)
    assert_no_plaintext(str(excinfo.value))


def test_equality_hash_pickle_copy() -> None:
    a = Sensitive(PHONE, "phone")
    assert a == Sensitive(PHONE, SensitiveKind.PHONE)
    assert a != Sensitive(PHONE, "generic")
    assert a != Sensitive("13800000000", "phone")
    assert len({a, Sensitive(PHONE, "phone")}) == 1
    assert pickle.loads(pickle.dumps(a)) == a
    assert copy.copy(a) is a
    assert copy.deepcopy(a) is a


def test_immutable_and_validated() -> None:
    a = Sensitive("x", "name")
    with pytest.raises(AttributeError):
        a._value = "y"
    with pytest.raises(TypeError):
        Sensitive(13812345678, "phone")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NUL"):
        Sensitive("a\x00b")
    with pytest.raises(ValueError, match="surrogate"):
        Sensitive("a\ud800b")
    with pytest.raises(ValueError, match="longer than"):
        Sensitive("x" * 70_000)
    with pytest.raises(ValueError):
        Sensitive("x", "shoe_size")


# --- pydantic integration -----------------------------------------------------------------


class Contact(BaseModel):
    name: SensitiveName
    phone: SensitivePhone | None = None
    lines: list[SensitiveText] = []
    any_secret: Sensitive | None = None
    raw: SensitivePayload = None


def test_validation_accepts_str_and_same_kind_sensitive() -> None:
    contact = Contact(name="张三", phone=Sensitive(PHONE, "phone"), lines=["a", "b"])
    assert isinstance(contact.name, Sensitive)
    assert contact.name.kind is SensitiveKind.NAME
    assert contact.lines[1].kind is SensitiveKind.ADDRESS
    assert contact.model_copy().phone == Sensitive(PHONE, "phone")


def test_validation_rejects_other_kinds_and_non_strings() -> None:
    with pytest.raises(ValidationError, match="expected a phone value, got a name value"):
        Contact(name="x", phone=Sensitive("x", "name"))
    with pytest.raises(ValidationError, match="valid string"):
        Contact(name=123)
    with pytest.raises(ValidationError, match="valid string"):
        Contact.model_validate_json('{"name": 123}')


def test_json_dump_is_plaintext_for_lossless_storage() -> None:
    contact = Contact(name="张三", phone=PHONE, lines=[STREET], any_secret="x", raw={"n": NAME})
    doc = contact.model_dump(mode="json")
    assert doc == {
        "name": "张三",
        "phone": PHONE,
        "lines": [STREET],
        "any_secret": "x",
        "raw": {"n": NAME},
    }
    assert Contact.model_validate(doc) == contact
    assert Contact.model_validate_json(contact.model_dump_json()) == contact


def test_mask_context_masks_and_withholds_raw() -> None:
    contact = Contact(name="张三", phone=PHONE, lines=[STREET], any_secret="x", raw={"n": NAME})
    expected = {
        "name": "张*",
        "phone": "138****5678",
        "lines": ["****"],
        "any_secret": "****",
        "raw": None,
    }
    assert contact.model_dump(mode="json", context={"mask_pii": True}) == expected
    assert contact.model_dump(context=MASK_PII_CONTEXT) == expected
    assert json.loads(contact.model_dump_json(context=MASK_PII_CONTEXT)) == expected
    # Only an explicit True masks; anything else is the plaintext dump.
    assert contact.model_dump(mode="json", context={"mask_pii": "no"})["phone"] == PHONE


def test_json_schema_marks_sensitive_fields() -> None:
    props = Contact.model_json_schema()["properties"]
    assert props["name"] == {"type": "string", "x-sensitive": "name", "title": "Name"}
    assert {"type": "string", "x-sensitive": "phone"} in props["phone"]["anyOf"]
    assert props["lines"]["items"] == {"type": "string", "x-sensitive": "address"}
    assert {"type": "string", "x-sensitive": "generic"} in props["any_secret"]["anyOf"]
    assert props["raw"]["x-sensitive"] == "payload"


# --- sensitive paths ----------------------------------------------------------------------


def test_iter_sensitive_paths_of_a_small_model() -> None:
    assert list(iter_sensitive_paths(Contact)) == [
        SensitivePath("name", SensitiveKind.NAME),
        SensitivePath("phone", SensitiveKind.PHONE),
        SensitivePath("lines[]", SensitiveKind.ADDRESS),
        SensitivePath("any_secret", SensitiveKind.GENERIC),
        SensitivePath("raw", SensitiveKind.PAYLOAD),
    ]


def test_iter_sensitive_paths_of_party_and_order() -> None:
    party_paths = {p.path: p.kind.value for p in iter_sensitive_paths(Party)}
    assert party_paths == {
        "name": "name",
        "phone": "phone",
        "alt_phone": "phone",
        "email": "email",
        "nickname": "generic",
        "address.lines[]": "address",
        "address.postal_code": "postal_code",
    }
    order_paths = {p.path for p in iter_sensitive_paths(Order)}
    for path in party_paths:
        assert f"buyer.{path}" in order_paths
        assert f"receiver.{path}" in order_paths
    assert {
        "raw",
        "lines[].raw",
        "shipments[].raw",
        "invoice_request.personal_name",
        "invoice_request.email",
        "invoice_request.phone",
    } <= order_paths
    # Administrative divisions and platform tokens are deliberately not personal data.
    assert not {p for p in order_paths if p.endswith((".city", ".oaid", ".open_id", "country"))}


def test_iter_sensitive_paths_handles_dicts_and_recursion() -> None:
    class Node(BaseModel):
        label: SensitiveName
        by_key: dict[str, SensitivePhone] = {}
        children: list[Node] = []

    class Holder(BaseModel):
        tree: Node
        pair: tuple[SensitiveText, int]
        alias: Annotated[Sensitive, "unrelated metadata"]

    paths = [p.path for p in iter_sensitive_paths(Holder)]
    assert paths == ["tree.label", "tree.by_key{}", "pair[]", "alias"]


def test_invoice_request_name_privacy_depends_on_title_type() -> None:
    personal = InvoiceRequest(title_type=PartyType.INDIVIDUAL, personal_name="张三")
    company = InvoiceRequest(title_type=PartyType.ORGANIZATION, company_name="杭州某某科技有限公司")
    assert personal.model_dump(mode="json", context=MASK_PII_CONTEXT)["personal_name"] == "张*"
    masked_company = company.model_dump(mode="json", context=MASK_PII_CONTEXT)
    assert masked_company["company_name"] == "杭州某某科技有限公司"
