"""TOP request signatures, implemented from the published algorithm (no SDK code).

All request parameters (system and business, from the query string and the form body,
except ``sign`` itself and file parameters) are sorted by name (byte order) and joined as
``name1value1name2value2...`` (no separators, values as sent, UTF-8). Then:

* ``md5``: ``MD5(secret + joined + secret)``;
* ``hmac``: ``HMAC-MD5(key=secret, msg=joined)``;
* ``hmac-sha256``: ``HMAC-SHA256(key=secret, msg=joined)``;

and ``sign`` is the digest in upper-case hexadecimal. Published vector (secret ``test``):
``app_key=test, fields=nick, format=xml, method=taobao.user.seller.get, session=test,
sign_method=md5, timestamp=2013-05-06 13:52:03, v=2.0`` signs to
``72CB4D809B375A54502C09360D879C64``.

SDKs disagree on empty values: the Java SDK leaves empty parameters out of the string,
the legacy Python SDK signs them as ``name`` + empty value. :func:`verify_signature`
accepts either form.

The optional HTTP push of TMC messages (a sandbox convenience, not a TOP feature) is
signed with :func:`push_signature`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Literal

SignMethod = Literal["md5", "hmac", "hmac-sha256"]
SIGN_METHODS: tuple[SignMethod, ...] = ("md5", "hmac", "hmac-sha256")


def canonical_string(params: Mapping[str, str], *, skip_empty: bool = False) -> str:
    """The ``k1v1k2v2...`` string of ``params`` sorted by name, without ``sign``."""
    keys = sorted(
        (key for key in params if key != "sign" and not (skip_empty and params[key] == "")),
        key=lambda key: key.encode("utf-8"),
    )
    return "".join(f"{key}{params[key]}" for key in keys)


def sign_string(text: str, secret: str, method: SignMethod) -> str:
    """Sign an already canonical string."""
    key = secret.encode("utf-8")
    data = text.encode("utf-8")
    if method == "md5":
        digest = hashlib.md5(key + data + key).hexdigest()  # noqa: S324 - TOP's algorithm
    elif method == "hmac":
        digest = hmac.new(key, data, hashlib.md5).hexdigest()
    else:
        digest = hmac.new(key, data, hashlib.sha256).hexdigest()
    return digest.upper()


def sign_params(
    params: Mapping[str, str], secret: str, method: SignMethod = "md5", *, skip_empty: bool = False
) -> str:
    """Return the ``sign`` value for ``params`` (``sign`` itself is ignored)."""
    return sign_string(canonical_string(params, skip_empty=skip_empty), secret, method)


def verify_signature(params: Mapping[str, str], secret: str, method: SignMethod) -> bool:
    """Constant-time check of ``params["sign"]`` (case-insensitive hex)."""
    given = params.get("sign", "").strip().upper().encode("ascii", errors="replace")
    candidates = {sign_params(params, secret, method)}
    if any(value == "" for key, value in params.items() if key != "sign"):
        candidates.add(sign_params(params, secret, method, skip_empty=True))
    ok = False
    for expected in candidates:
        ok |= hmac.compare_digest(expected.encode("ascii"), given)
    return ok


def push_signature(body: bytes, secret: str) -> str:
    """``X-Shopbridge-Tmc-Sign`` of an HTTP push: upper-case hex HMAC-SHA256(secret, body)."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest().upper()


def verify_push_signature(body: bytes, header_value: str, secret: str) -> bool:
    """Constant-time check of an ``X-Shopbridge-Tmc-Sign`` header."""
    expected = push_signature(body, secret).encode("ascii")
    return hmac.compare_digest(expected, header_value.strip().upper().encode("ascii", "replace"))
