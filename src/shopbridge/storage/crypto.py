"""Encryption at rest for secrets ShopBridge must be able to read back (shop credentials).

AES-256-GCM with a random nonce; the ciphertext records the id of the key that sealed it and
is bound to its owner (associated data) so a sealed value copied onto another row will not open.
Several keys may be configured: the first seals, all open, which allows rotation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    from shopbridge.config import Settings

_VERSION = b"sb1"
_NONCE_BYTES = 12


class EncryptionKeyError(ValueError):
    """A configured key is malformed, or a sealed value names a key we do not have."""


class SealedValueError(ValueError):
    """A sealed value is corrupt or belongs to another owner."""


def _decode_key(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError) as exc:
        raise EncryptionKeyError(
            "SHOPBRIDGE_SECRET_KEY must be urlsafe base64 of 32 bytes"
        ) from exc
    if len(raw) != 32:
        raise EncryptionKeyError("SHOPBRIDGE_SECRET_KEY must decode to exactly 32 bytes")
    return raw


def generate_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"shopbridge-key-id:" + key).hexdigest()[:16]


class SecretBox:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise EncryptionKeyError("at least one encryption key is required")
        self._keys = {key_id(k): AESGCM(k) for k in keys}
        self.active_key_id = key_id(keys[0])

    @classmethod
    def from_config(cls, secret: str | None, key_file: Path) -> SecretBox:
        """Keys from `SHOPBRIDGE_SECRET_KEY` (comma-separated, first is active), else from the
        key file, which is created with mode 0600 on first use."""
        if secret:
            return cls([_decode_key(part) for part in secret.split(",") if part.strip()])
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(generate_key() + "\n")
        lines = [ln for ln in key_file.read_text().splitlines() if ln.strip()]
        return cls([_decode_key(line) for line in lines])

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        """The master keys as configured (`SHOPBRIDGE_SECRET_KEY`, else the key file)."""
        secret = settings.secret_key.get_secret_value() if settings.secret_key else None
        return cls.from_config(secret, settings.key_file)

    def seal(self, plaintext: bytes, *, owner: str) -> tuple[bytes, str]:
        nonce = os.urandom(_NONCE_BYTES)
        kid = self.active_key_id
        ct = self._keys[kid].encrypt(nonce, plaintext, owner.encode())
        return _VERSION + b":" + kid.encode() + b":" + nonce + ct, kid

    @staticmethod
    def key_id_of(sealed: bytes) -> str | None:
        parts = sealed.split(b":", 2)
        return parts[1].decode(errors="replace") if len(parts) == 3 else None

    def open(self, sealed: bytes, *, owner: str) -> bytes:
        try:
            version, kid_b, rest = sealed.split(b":", 2)
        except ValueError as exc:
            raise SealedValueError("sealed value is malformed") from exc
        if version != _VERSION:
            raise SealedValueError("sealed value has an unknown format version")
        aead = self._keys.get(kid_b.decode(errors="replace"))
        if aead is None:
            raise EncryptionKeyError(
                "sealed with a key that is not configured (check SHOPBRIDGE_SECRET_KEY)"
            )
        try:
            return aead.decrypt(rest[:_NONCE_BYTES], rest[_NONCE_BYTES:], owner.encode())
        except InvalidTag as exc:
            raise SealedValueError("sealed value does not open for this owner/key") from exc
