from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shopbridge.core import MASK_PII_CONTEXT, Order, unified_model_json_schema
from shopbridge.core.schema import PUBLIC_MODELS, render_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "schema" / "unified-model.schema.json"


def test_committed_schema_is_up_to_date() -> None:
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed == render_schema() + "\n", (
        "docs/schema/unified-model.schema.json is stale: run `make schema` "
        "(python -m shopbridge.core.schema > docs/schema/unified-model.schema.json)"
    )


def test_command_line_prints_the_schema() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-m", "shopbridge.core.schema"],
        capture_output=True,
        check=True,
        text=True,
        encoding="utf-8",
    )
    assert result.stdout == render_schema() + "\n"
    assert result.stderr == ""


def test_schema_document_shape() -> None:
    schema = unified_model_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    defs = schema["$defs"]
    for model in PUBLIC_MODELS:
        assert model.__name__ in defs
        assert defs[model.__name__]["additionalProperties"] is False
    for enum in ("OrderStatus", "RefundStatus", "AfterSaleStatus", "ShipmentStatus"):
        assert "unknown" in defs[enum]["enum"]
    # Everything the document refers to is defined in it.
    refs = {
        ref.split("/")[-1]
        for ref in _values_of(schema, "$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/")
    }
    assert refs <= set(defs)
    json.dumps(schema)


def test_schema_publishes_money_and_privacy_rules() -> None:
    defs = unified_model_json_schema()["$defs"]
    amount = defs["Money"]["properties"]["amount"]
    assert amount["type"] == "string"
    assert "pattern" in amount
    phone = defs["Party"]["properties"]["phone"]["anyOf"]
    assert {"type": "string", "x-sensitive": "phone"} in phone
    assert defs["Address"]["properties"]["lines"]["items"]["x-sensitive"] == "address"
    assert defs["Order"]["properties"]["raw"]["x-sensitive"] == "payload"
    assert "x-sensitive" not in json.dumps(defs["Address"]["properties"]["city"])
    assert defs["Order"]["properties"]["placed_at"]["format"] == "date-time"


def test_dumped_documents_conform_to_the_published_schema(order_doc: dict[str, object]) -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    validator = jsonschema_rs.Draft202012Validator(
        {**unified_model_json_schema(), "$ref": "#/$defs/Order"}
    )
    order = Order.model_validate(order_doc)
    validator.validate(order.model_dump(mode="json"))
    validator.validate(order.model_dump(mode="json", context=MASK_PII_CONTEXT))
    assert not validator.is_valid({**order.model_dump(mode="json"), "total": 1.5})


def _values_of(node: object, key: str) -> list[object]:
    found: list[object] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                found.append(v)
            found += _values_of(v, key)
    elif isinstance(node, list):
        for item in node:
            found += _values_of(item, key)
    return found
