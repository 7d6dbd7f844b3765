"""Jinja2 environment of the dashboard: autoescaping everywhere, strict about missing names,
and the small display filters the templates share.

Autoescape is on for every template (not only `.html`): everything the dashboard shows comes
from platforms, ERPs or buyers (shop names, error messages, SKUs, webhook responses), none of
it is trusted markup. `StrictUndefined` turns a typo in a template into a test failure
instead of an empty cell.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _parse(value: object) -> datetime | None:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def duration(seconds: object) -> str:
    """`45 s`, `3 min`, `2.5 h`, `4 d`: as precise as an operator needs at a glance."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return "—"
    value = abs(float(seconds))
    if value < 90:
        return f"{value:.0f} s"
    if value < 90 * 60:
        return f"{value / 60:.0f} min"
    if value < 48 * 3600:
        return f"{value / 3600:.1f} h"
    return f"{value / 86400:.0f} d"


def ago(value: object, now: datetime | None = None) -> str:
    """Relative time (`12 s ago`, `in 3 d`); the templates put the exact time in a title."""
    at = _parse(value)
    if at is None:
        return "—"
    delta = ((now or datetime.now(UTC)) - at).total_seconds()
    if abs(delta) < 2:
        return "just now"
    return f"{duration(delta)} ago" if delta > 0 else f"in {duration(delta)}"


def when(value: object) -> str:
    at = _parse(value)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if at else "—"


def pct(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return f"{float(value) * 100:.0f}%"


def money(value: object) -> str:
    if isinstance(value, dict) and "amount" in value:
        return f"{value['amount']} {value.get('currency', '')}".strip()
    return "—"


def dash(value: object) -> object:
    """Show a dash for a missing value, keep 0 and False as they are."""
    return "—" if value is None or value == "" else value


def build_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(ago=ago, when=when, pct=pct, money=money, duration=duration, dash=dash)
    return env


ENV = build_environment()


def render(template: str, context: dict[str, Any]) -> str:
    return ENV.get_template(template).render(**context)
