"""The README's platform table is generated from the connectors, and every installed connector
is held to the conformance suite."""

from __future__ import annotations

from pathlib import Path

from shopbridge.connectors.catalog import (
    README_END,
    README_START,
    capability_table,
    installed_infos,
)
from shopbridge.connectors.registry import installed_platforms
from tests.conformance.conftest import HARNESSES


def test_every_installed_connector_runs_the_conformance_suite() -> None:
    assert set(installed_platforms()) <= {h.platform for h in HARNESSES}


def test_readme_table_matches_the_connectors(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text()
    start = readme.index(README_START) + len(README_START)
    table = readme[start : readme.index(README_END)].strip()
    assert table == capability_table(installed_infos()), (
        "README platform table is stale: paste `shopbridge connectors --markdown` between the markers"
    )
