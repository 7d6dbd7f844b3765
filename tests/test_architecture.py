"""Import rules that keep the layers honest, checked statically over the source tree:
connectors and sandboxes are independent implementations of each platform (neither imports
the other, so each can check the other); a platform folder imports no other platform; the
sync engine, API and storage never import a platform folder."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import shopbridge

SRC = Path(shopbridge.__file__).resolve().parent
FRAMEWORK_MODULES = {
    "__init__",
    "base",
    "errors",
    "registry",
    "ratelimit",
    "transport",
    "catalog",
    "explain",
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _violations(folder: Path, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(SRC)} imports {name}"
        for path in sorted(folder.rglob("*.py"))
        for name in _imports(path)
        if name.startswith(forbidden)
    ]


def test_connectors_never_import_sandboxes() -> None:
    assert _violations(SRC / "connectors", ("shopbridge.sandbox",)) == []


def test_sandboxes_import_nothing_of_shopbridge_but_themselves() -> None:
    forbidden = (
        "shopbridge.core",
        "shopbridge.connectors",
        "shopbridge.api",
        "shopbridge.storage",
        "shopbridge.sync",
    )
    assert _violations(SRC / "sandbox", forbidden) == []


@pytest.mark.parametrize("layer", ["core", "storage", "api", "sync", "delivery"])
def test_layers_never_import_a_platform_folder(layer: str) -> None:
    platforms = tuple(
        f"shopbridge.connectors.{p.name}"
        for p in (SRC / "connectors").iterdir()
        if p.is_dir() and p.name != "__pycache__"
    )
    assert _violations(SRC / layer, platforms) == []


def test_platform_folders_do_not_import_each_other() -> None:
    folders = [p for p in (SRC / "connectors").iterdir() if p.is_dir() and p.name != "__pycache__"]
    for folder in folders:
        others = tuple(f"shopbridge.connectors.{p.name}" for p in folders if p != folder)
        assert _violations(folder, others) == []


def test_sample_erp_receiver_stands_alone() -> None:
    """The ERP sink is a model for ERP developers to copy: it must not lean on ShopBridge."""
    assert _violations(SRC / "erpsink", ("shopbridge",)) == []
