"""Shopify signatures, implemented from the published algorithms (independent of any SDK).

* Webhooks: ``X-Shopify-Hmac-Sha256`` = base64(HMAC-SHA256(key=app secret, msg=raw body)).
* OAuth redirects: ``hmac`` query parameter = hex(HMAC-SHA256(key=app secret, msg=sorted,
  escaped ``key=value`` pairs joined with ``&``)), excluding ``hmac`` itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence


def webhook_hmac(body: bytes, secret: str) -> str:
    """Return the ``X-Shopify-Hmac-Sha256`` header value for a raw webhook body."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_webhook_hmac(body: bytes, header_value: str, secret: str) -> bool:
    """Constant-time check of an ``X-Shopify-Hmac-Sha256`` header."""
    expected = webhook_hmac(body, secret)
    return hmac.compare_digest(expected.encode("ascii"), header_value.strip().encode("ascii"))


def _escape_key(value: str) -> str:
    return value.replace("%", "%25").replace("=", "%3D")


def oauth_hmac(params: Mapping[str, str | Sequence[str]], secret: str) -> str:
    """Return the hex ``hmac`` Shopify puts on OAuth redirect/callback query strings."""
    pairs: list[str] = []
    for key, value in params.items():
        if key == "hmac":
            continue
        if key.endswith("[]") and not isinstance(value, str):
            key = key[:-2]
            text = json.dumps([str(item) for item in value])
        else:
            text = value if isinstance(value, str) else ",".join(value)
        pair = f"{_escape_key(key)}={text.replace('%', '%25')}".replace("&", "%26")
        pairs.append(pair)
    message = "&".join(sorted(pairs))
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()
