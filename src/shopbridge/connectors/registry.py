"""Connector discovery through the `shopbridge.connectors` entry-point group.

Built-in platforms register themselves in ShopBridge's own pyproject, exactly as a third-party
package would, so there is one discovery path and no list of platforms to keep in sync.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points

from shopbridge.connectors.base import Connector
from shopbridge.core.platforms import CONNECTOR_ENTRY_POINT_GROUP


class UnknownConnector(LookupError):
    """No installed connector serves this platform."""


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=CONNECTOR_ENTRY_POINT_GROUP)}


def installed_platforms() -> list[str]:
    return sorted(_entry_points())


def connector_class(platform: str) -> type[Connector]:
    for ep in entry_points(group=CONNECTOR_ENTRY_POINT_GROUP):
        if ep.name == platform:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Connector)):
                raise UnknownConnector(f"entry point {ep.value!r} is not a Connector")
            return cls
    raise UnknownConnector(f"no connector installed for platform {platform!r}")
