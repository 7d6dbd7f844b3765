"""The dashboard's sign-in session: an API key in a sealed, HttpOnly, SameSite=Strict cookie.

Why a sealed cookie and not a server-side session table: the dashboard runs in every API
process (and an install may run several behind a load balancer), and a cookie sealed with
the app's own `SecretBox` (AES-256-GCM, so authenticated *and* encrypted) opens in each of
them without shared state. The key inside is never trusted on its own: every page calls the
API with it, so a revoked or expired key stops working at once, scopes and tenant scoping
apply exactly as for any API client, and reads are audited under the key's own id.

Why encrypt and not only sign: the cookie carries a live API key. HttpOnly keeps it from
scripts, encryption keeps it out of anything that logs or stores cookies in clear (a proxy,
a browser profile backup). Key rotation works as for shop credentials: the first configured
key seals, every configured key opens.

CSRF: SameSite=Strict already keeps the cookie off cross-site requests; every form also
carries a per-session token (kept inside the sealed cookie, so it cannot be read or swapped
by another site) and POSTs are refused when it does not match. The login form, before any
session exists, uses the same idea with a short-lived pre-session cookie.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from shopbridge.storage.crypto import EncryptionKeyError, SealedValueError, SecretBox

SESSION_COOKIE = "sb_dashboard"
LOGIN_COOKIE = "sb_dashboard_login"
COOKIE_PATH = "/dashboard"
SESSION_MAX_AGE_SECONDS = 12 * 3600
"""A working day: long enough for a shift, short enough that a forgotten browser signs out."""
LOGIN_MAX_AGE_SECONDS = 3600
_OWNER = "shopbridge-dashboard-session"
_MAX_COOKIE_CHARS = 2048


@dataclass(frozen=True)
class DashboardSession:
    """What the cookie holds: the API key, the CSRF token of this sign-in, and when."""

    key: str
    csrf: str
    issued_at: float

    def expired(self, now: float | None = None) -> bool:
        age = (time.time() if now is None else now) - self.issued_at
        return age < -60 or age > SESSION_MAX_AGE_SECONDS


def new_token() -> str:
    """A random token for CSRF checks (URL- and form-safe)."""
    return secrets.token_urlsafe(24)


def seal_session(box: SecretBox, session: DashboardSession) -> str:
    payload = json.dumps(
        {"k": session.key, "c": session.csrf, "t": int(session.issued_at)},
        separators=(",", ":"),
    ).encode()
    sealed, _ = box.seal(payload, owner=_OWNER)
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def open_session(box: SecretBox, value: str | None, now: float | None = None) -> DashboardSession:
    """The session in a cookie value; `InvalidSession` when absent, forged, from a key no
    longer configured, malformed or too old (all mean the same to the user: sign in)."""
    if not value or len(value) > _MAX_COOKIE_CHARS:
        raise InvalidSession("no session")
    try:
        sealed = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        data = json.loads(box.open(sealed, owner=_OWNER))
        session = DashboardSession(
            key=str(data["k"]), csrf=str(data["c"]), issued_at=float(data["t"])
        )
    except (
        binascii.Error,
        ValueError,
        KeyError,
        TypeError,
        SealedValueError,
        EncryptionKeyError,
    ) as exc:
        raise InvalidSession("the session cookie does not open") from exc
    if session.expired(now):
        raise InvalidSession("the session has expired")
    return session


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of CSRF tokens; a missing one never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


class InvalidSession(Exception):
    """No usable session: the user signs in (again)."""
