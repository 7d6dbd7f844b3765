"""Which platform identifiers this installation accepts.

The core knows platform *names* only: the roadmap's built-in list plus every connector
registered in the `shopbridge.connectors` entry-point group (so a third-party package can
add one). It never imports a connector's code.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points

from shopbridge.core.enums import KNOWN_PLATFORMS

CONNECTOR_ENTRY_POINT_GROUP = "shopbridge.connectors"


@lru_cache(maxsize=1)
def registered_platforms() -> frozenset[str]:
    return frozenset(ep.name for ep in entry_points(group=CONNECTOR_ENTRY_POINT_GROUP))


def available_platforms() -> list[str]:
    return sorted(set(KNOWN_PLATFORMS) | registered_platforms())
