"""The privacy tests deliver webhooks too: they reuse the delivery tests' real HTTP receiver,
shop and dispatcher fixtures rather than keeping a second copy in step."""

from tests.delivery.conftest import (  # noqa: F401 - fixtures, registered by import
    dispatcher_for,
    receiver,
    receiver_server,
    shop,
)
