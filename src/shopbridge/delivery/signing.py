"""Standard Webhooks signatures (https://www.standardwebhooks.com/), via the reference package.

During a secret rotation both secrets sign, space-separated in `webhook-signature`, so a
receiver that still holds the old secret keeps verifying until it switches.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format prefix, not a secret
SECRET_BYTES = 32


class InvalidSecret(ValueError):
    """A client-supplied signing secret is not `whsec_` + base64 of 24..64 bytes."""


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(os.urandom(SECRET_BYTES)).decode()


def check_secret(secret: str) -> str:
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidSecret("a signing secret starts with whsec_")
    try:
        raw = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSecret("a signing secret is whsec_ followed by base64") from exc
    if not 24 <= len(raw) <= 64:
        raise InvalidSecret("a signing secret holds 24 to 64 random bytes")
    return secret


def sign_headers(
    secrets: Sequence[str], *, message_id: str, timestamp: datetime, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt (timestamp = attempt time)."""
    text = body.decode()
    signatures = " ".join(
        Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=text)
        for secret in secrets
    )
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signatures,
    }
