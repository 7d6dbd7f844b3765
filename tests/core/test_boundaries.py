"""The core is the bottom layer: connectors, sandboxes, the API and storage depend on it, never
the other way round. A stray import would drag HTTP servers, databases or platform code into
every consumer of the model and create import cycles, so it is checked statically."""

from __future__ import annotations

import ast
from pathlib import Path

import shopbridge.core

CORE_DIR = Path(shopbridge.core.__file__).resolve().parent
FORBIDDEN = (
    "shopbridge.connectors",
    "shopbridge.sandbox",
    "shopbridge.api",
    "shopbridge.storage",
)

LEAD_API = [
    "Money",
    "Sensitive",
    "SafeStr",
    "OrderStatus",
    "RefundStatus",
    "KNOWN_PLATFORMS",
    "PLATFORM_PATTERN",
    "Tenant",
    "Shop",
    "ShopStatus",
    "Order",
    "OrderLine",
    "Party",
    "Address",
    "PaymentSummary",
    "Discount",
    "PresaleInfo",
    "Shipment",
    "ShipmentLine",
    "TrackingEvent",
    "StockLevel",
    "Product",
    "Variant",
    "Listing",
    "AfterSale",
    "InvoiceRequest",
    "unified_model_json_schema",
    "utcnow",
    "to_utc",
    "parse_platform_local",
]


def _module_name(path: Path) -> str:
    relative = path.relative_to(CORE_DIR.parent.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(source: str, package: str) -> set[str]:
    """Absolute names imported by `source`, a module of `package` (relative imports resolved)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0]
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module":
            names.update(
                a.value
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            )
    return names


def _package_of(path: Path) -> str:
    module = _module_name(path)
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _violations(names: set[str]) -> set[str]:
    return {n for n in names if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)}


def test_core_never_imports_higher_layers() -> None:
    files = sorted(CORE_DIR.rglob("*.py"))
    assert len(files) > 5
    offenders = {
        str(path.relative_to(CORE_DIR)): sorted(bad)
        for path in files
        if (bad := _violations(_imports(path.read_text(encoding="utf-8"), _package_of(path))))
    }
    assert offenders == {}


def test_the_checker_catches_relative_and_absolute_imports() -> None:
    source = (
        "import shopbridge.api.app\n"
        "from shopbridge.storage import db\n"
        "from ..connectors import taobao\n"
        "from .. import sandbox\n"
        "from . import money\n"
        "importlib.import_module('shopbridge.api')\n"
    )
    assert _violations(_imports(source, "shopbridge.core")) == {
        "shopbridge.api",
        "shopbridge.api.app",
        "shopbridge.storage",
        "shopbridge.storage.db",
        "shopbridge.connectors",
        "shopbridge.connectors.taobao",
        "shopbridge.sandbox",
    }


def test_the_lead_api_is_exported() -> None:
    for name in LEAD_API:
        assert name in shopbridge.core.__all__, name
        assert getattr(shopbridge.core, name) is not None


def test_all_lists_only_real_names() -> None:
    for name in shopbridge.core.__all__:
        assert hasattr(shopbridge.core, name), name
    assert len(shopbridge.core.__all__) == len(set(shopbridge.core.__all__))
