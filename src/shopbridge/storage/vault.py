"""The buyer-data vault: what happens to personal data on its way to disk.

Two retention modes (`SHOPBRIDGE_RETENTION`):

- `vault` (default): every field typed `Sensitive` in the unified order, and every native
  payload, is sealed with AES-256-GCM before it is written: orders, their outbox events and
  unmapped payloads hold ciphertext only. Each sealed value names the data key that sealed
  it and is bound to its tenant (associated data), so a value copied into another tenant's
  row does not open.
- `passthrough`: personal fields and native payloads are never written at all. The stored
  order keeps ids, statuses, amounts, lines and keyed hashes; the personal part lives in a
  bounded in-process memory (`TransientPii`) until its events are delivered, then it is gone.

Keys are enveloped: data keys (`data_keys` table) are random and stored wrapped by the master
key (`SHOPBRIDGE_SECRET_KEY` or the key file). Rotating a data key re-encrypts the values
sealed with it (`shopbridge keys rotate-data-key`); rotating the master key only re-wraps
the data keys. A separate search key makes phone/name/e-mail searchable by keyed hash
(HMAC-SHA256, salted with the tenant) without ever comparing plaintext, and keys the order
content digest so that a digest cannot be brute-forced back into a phone number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.config import Settings
from shopbridge.core import Order, fastjson
from shopbridge.core.ids import new_id
from shopbridge.core.sensitive import SensitiveKind, iter_sensitive_paths, mask
from shopbridge.core.time import utcnow
from shopbridge.storage.crypto import SealedValueError, SecretBox
from shopbridge.storage.tables import DataKeyRow

Retention = Literal["vault", "passthrough"]
PII: Final = "pii"
SEARCH: Final = "search"
SEARCH_KEY_ID: Final = "dk_search"
"""Fixed id: two processes starting at once on an empty database collide on the primary key
instead of creating two search keys (which would split the hashes)."""

SEALED_PREFIX: Final = "sbv1:"
_NONCE: Final = 12
KEY_REFRESH_SECONDS: Final = 30.0
"""How soon a running process starts sealing with a data key another process rotated in."""

PASSTHROUGH_MARK: Final = "memory"
"""`pii` value of a stored document whose personal fields were kept in memory only."""


class UnknownDataKey(LookupError):
    """A sealed value names a data key this process has not loaded (rotated elsewhere)."""


class VaultNotAttached(RuntimeError):
    """A session writes orders without a vault: that would store buyer data in clear."""


# --- paths of personal data inside a JSON order document ---------------------------------


@dataclass(frozen=True)
class _Path:
    parts: tuple[str, ...]
    kind: SensitiveKind
    text: str


def _order_paths() -> tuple[_Path, ...]:
    paths = []
    for p in iter_sensitive_paths(Order):
        if p.path == "raw":  # the top-level native payload is its own column
            continue
        parts = tuple(p.path.replace("[]", ".[]").split("."))
        paths.append(_Path(parts, p.kind, p.path))
    return tuple(paths)


ORDER_PATHS: Final = _order_paths()


def visit(node: Any, parts: tuple[str, ...], fn: Callable[[Any], Any]) -> None:
    """Replaces, in place, every value at `parts` below `node` with `fn(value)` (None and
    absent values are left alone)."""
    if not parts or node is None:
        return
    head, rest = parts[0], parts[1:]
    if head == "[]":
        if isinstance(node, list):
            for index, item in enumerate(node):
                if rest:
                    visit(item, rest, fn)
                elif item is not None:
                    node[index] = fn(item)
        return
    if not isinstance(node, dict) or node.get(head) is None:
        return
    if rest:
        visit(node[head], rest, fn)
    else:
        node[head] = fn(node[head])


def _withheld(_value: Any) -> None:
    return None


def _masker(kind: SensitiveKind) -> Callable[[Any], str]:
    def masked(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"a {kind.value} field of a stored order is not a string")
        return mask(value, kind)

    return masked


_MASKERS: Final = tuple(
    (path.parts, _withheld if path.kind is SensitiveKind.PAYLOAD else _masker(path.kind))
    for path in ORDER_PATHS
)


def order_view(document: dict[str, Any], *, reveal: bool) -> dict[str, Any]:
    """An opened order document as the API and webhooks show it: without the native payload,
    and masked unless `reveal`. A copy; `document` is left as it was.

    The same as `Order.model_validate(document).model_dump(mode="json", exclude={"raw"},
    context={"mask_pii": not reveal})` for a document the current model wrote (a test holds
    the two together), at a fifth of the cost: every webhook body is built this way."""
    view: dict[str, Any] = fastjson.copy(document)
    view.pop("raw", None)
    if not reveal:
        for parts, fn in _MASKERS:
            visit(view, parts, fn)
    return view


def _collect(node: Any, parts: tuple[str, ...], prefix: str, out: dict[str, Any]) -> None:
    if not parts or node is None:
        return
    head, rest = parts[0], parts[1:]
    if head == "[]":
        if isinstance(node, list):
            for index, item in enumerate(node):
                key = f"{prefix}[{index}]"
                if rest:
                    _collect(item, rest, key, out)
                elif item is not None:
                    out[key] = item
        return
    if not isinstance(node, dict) or node.get(head) is None:
        return
    key = f"{prefix}.{head}" if prefix else head
    if rest:
        _collect(node[head], rest, key, out)
    else:
        out[key] = node[head]


_INDEX = re.compile(r"([^.\[]+)|\[(\d+)\]")


def _place(doc: dict[str, Any], key: str, value: Any) -> None:
    """Puts `value` back at a concrete key such as `receiver.address.lines[1]`."""
    tokens = [(m.group(1), m.group(2)) for m in _INDEX.finditer(key)]
    node: Any = doc
    for position, (name, index) in enumerate(tokens):
        last = position == len(tokens) - 1
        if name is not None:
            if not isinstance(node, dict):
                return
            if last:
                node[name] = value
                return
            if node.get(name) is None:
                nxt = tokens[position + 1]
                node[name] = [] if nxt[1] is not None else {}
            node = node[name]
        else:
            i = int(index)
            if not isinstance(node, list):
                return
            while len(node) <= i:
                node.append(None)
            if last:
                node[i] = value
                return
            if node[i] is None:
                node[i] = {}
            node = node[i]


def _strip_value(value: Any) -> Any:
    return None


# --- search hashes --------------------------------------------------------------------------

_PRIVACY_NUMBER = re.compile(r"^(1\d{10})-\d{1,8}$")
SEARCH_FIELDS: Final = {
    "phone": ("buyer.phone", "buyer.alt_phone", "receiver.phone", "receiver.alt_phone"),
    "name": ("buyer.name", "receiver.name"),
    "email": ("buyer.email", "receiver.email"),
}


def normalize(field: str, value: str) -> str | None:
    """The form a value is hashed in, so `+86 138-1234-5678` finds `13812345678` and
    `ZHANG San` finds `Zhang San`. None when nothing searchable is left."""
    value = unicodedata.normalize("NFKC", value).strip()
    if field == "phone":
        privacy = _PRIVACY_NUMBER.match(value.replace(" ", ""))
        digits = "".join(c for c in (privacy.group(1) if privacy else value) if c.isdigit())
        for prefix in ("0086", "86"):
            if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
                digits = digits[len(prefix) :]
        return digits if len(digits) >= 5 else None
    if field == "name":
        name = "".join(value.casefold().split())
        return name or None
    if field == "email":
        email = value.casefold()
        return email if "@" in email else None
    raise ValueError(f"unknown search field {field!r}")


# --- the vault ------------------------------------------------------------------------------


class TransientPii:
    """Pass-through mode's only home for personal data: process memory, bounded by count
    and age, keyed by (order id, version) so every event finds the data of its own version.
    Nothing here is ever written anywhere."""

    def __init__(self, *, ttl_seconds: float, max_entries: int) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, int], tuple[float, dict[str, Any], Any]] = (
            OrderedDict()
        )

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, order_id: str, version: int, personal: dict[str, Any], raw: Any) -> None:
        key = (order_id, version)
        self._entries[key] = (time.monotonic() + self.ttl, personal, raw)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def get(self, order_id: str, version: int) -> tuple[dict[str, Any], Any] | None:
        entry = self._entries.get((order_id, version))
        if entry is None:
            return None
        expires, personal, raw = entry
        if expires < time.monotonic():
            self._entries.pop((order_id, version), None)
            return None
        return personal, raw

    def drop(self, order_id: str, version: int) -> None:
        self._entries.pop((order_id, version), None)

    def expire(self) -> int:
        now = time.monotonic()
        stale = [key for key, (expires, _, _) in self._entries.items() if expires < now]
        for key in stale:
            self._entries.pop(key, None)
        return len(stale)


@dataclass(frozen=True)
class StoredOrder:
    """What the order upsert writes: the document and raw payload as they go to disk, and the
    keyed digests."""

    document: dict[str, Any]
    raw: Any
    content_hash: str
    search: list[tuple[str, str]]
    personal: dict[str, Any]
    """Pass-through only: the personal values that were taken out (for `TransientPii`)."""


class Vault:
    def __init__(
        self,
        box: SecretBox,
        *,
        retention: Retention = "vault",
        memory_ttl_seconds: float = 3600,
        memory_max_orders: int = 200_000,
    ) -> None:
        self.box = box
        self.retention: Retention = retention
        self.memory = TransientPii(ttl_seconds=memory_ttl_seconds, max_entries=memory_max_orders)
        self._keys: dict[str, AESGCM] = {}
        self._active: str | None = None
        self._search_key: bytes | None = None
        self._loaded_at = 0.0
        self.db: Any = None

    async def reload(self) -> None:
        """Reloads the data keys through the attached database (a key rotated in by another
        process); `attach_vault` sets the database."""
        if self.db is None:
            raise VaultNotAttached("the vault is not attached to a database")
        async with self.db.read() as session:
            await self.load(session)

    @property
    def passthrough(self) -> bool:
        return self.retention == "passthrough"

    @property
    def active_key_id(self) -> str:
        if self._active is None:
            raise VaultNotAttached("the vault has no data key loaded")
        return self._active

    # -- keys ---------------------------------------------------------------------------------

    def _unwrap(self, row: DataKeyRow) -> bytes:
        return self.box.open(row.wrapped, owner=f"data-key:{row.id}")

    def _wrap(self, key_id: str, key: bytes) -> bytes:
        sealed, _ = self.box.seal(key, owner=f"data-key:{key_id}")
        return sealed

    def _new_key_row(self, purpose: str, key_id: str | None = None) -> DataKeyRow:
        key_id = key_id or new_id("dk")
        return DataKeyRow(
            id=key_id,
            purpose=purpose,
            wrapped=self._wrap(key_id, AESGCM.generate_key(bit_length=256)),
            master_key_id=self.box.active_key_id,
            created_at=utcnow(),
        )

    async def load(self, session: AsyncSession) -> None:
        """Loads every data key, creating the first ones on an empty database."""
        rows = list(await session.scalars(select(DataKeyRow).order_by(DataKeyRow.created_at)))
        if not any(r.purpose == PII for r in rows) or not any(r.purpose == SEARCH for r in rows):
            for purpose, key_id in ((PII, None), (SEARCH, SEARCH_KEY_ID)):
                if any(r.purpose == purpose for r in rows):
                    continue
                try:
                    async with session.begin_nested():
                        session.add(self._new_key_row(purpose, key_id))
                        await session.flush()
                except IntegrityError:
                    pass  # another process created it first
            rows = list(await session.scalars(select(DataKeyRow).order_by(DataKeyRow.created_at)))
        self._install(rows)

    def _install(self, rows: list[DataKeyRow]) -> None:
        keys: dict[str, AESGCM] = {}
        active: DataKeyRow | None = None
        for row in rows:
            if row.purpose == SEARCH:
                self._search_key = self._unwrap(row)
                continue
            keys[row.id] = AESGCM(self._unwrap(row))
            if row.retired_at is None and (active is None or row.created_at >= active.created_at):
                active = row
        if active is None or self._search_key is None:
            raise VaultNotAttached("no usable data key; run `shopbridge db upgrade` and restart")
        self._keys = keys
        self._active = active.id
        self._loaded_at = time.monotonic()

    async def refresh_if_stale(self, session: AsyncSession) -> None:
        if time.monotonic() - self._loaded_at > KEY_REFRESH_SECONDS:
            await self.load(session)

    async def rotate(self, session: AsyncSession) -> str:
        """Adds a new data key that seals from now on; returns its id."""
        row = self._new_key_row(PII)
        session.add(row)
        await session.flush()
        await self.load(session)
        return row.id

    async def rewrap(self, session: AsyncSession) -> int:
        """Re-wraps every data key with the active master key (after a master key rotation)."""
        count = 0
        for row in await session.scalars(select(DataKeyRow)):
            if row.master_key_id != self.box.active_key_id:
                row.wrapped = self._wrap(row.id, self._unwrap(row))
                row.master_key_id = self.box.active_key_id
                count += 1
        await session.flush()
        return count

    async def retire_all_but_active(self, session: AsyncSession, when: datetime) -> list[str]:
        retired = []
        for row in await session.scalars(select(DataKeyRow).where(DataKeyRow.purpose == PII)):
            if row.id != self.active_key_id and row.retired_at is None:
                row.retired_at = when
                retired.append(row.id)
        await session.flush()
        return retired

    # -- values -------------------------------------------------------------------------------

    def seal_value(self, value: Any, tenant_id: str) -> str:
        """A JSON value sealed into a string `sbv1:<key id>:<base64 nonce+ciphertext>`."""
        plaintext = fastjson.dumps(value)
        nonce = os.urandom(_NONCE)
        kid = self.active_key_id
        ciphertext = self._keys[kid].encrypt(nonce, plaintext, f"pii:{tenant_id}".encode())
        return f"{SEALED_PREFIX}{kid}:{base64.b64encode(nonce + ciphertext).decode()}"

    def open_value(self, sealed: Any, tenant_id: str) -> Any:
        if not is_sealed(sealed):
            return sealed  # written before the vault existed, or never personal
        try:
            _, kid, blob = sealed.split(":", 2)
            data = base64.b64decode(blob, validate=True)
        except ValueError as exc:
            raise SealedValueError("sealed value is malformed") from exc
        aead = self._keys.get(kid)
        if aead is None:
            raise UnknownDataKey(kid)
        try:
            plaintext = aead.decrypt(data[:_NONCE], data[_NONCE:], f"pii:{tenant_id}".encode())
        except InvalidTag as exc:
            raise SealedValueError("sealed value does not open for this tenant/key") from exc
        return fastjson.loads(plaintext)

    def key_of(self, sealed: Any) -> str | None:
        return sealed.split(":", 2)[1] if is_sealed(sealed) else None

    # -- documents ----------------------------------------------------------------------------

    def content_hash(self, document: dict[str, Any], raw: Any) -> str:
        """Keyed digest of an order's content: change detection without a digest that could
        be brute-forced back into personal data."""
        canonical = {k: v for k, v in document.items() if k not in ("id", "shop_id")}
        blob = fastjson.canonical([canonical, raw])
        return hmac.new(self._require_search_key(), blob, hashlib.sha256).hexdigest()

    def _require_search_key(self) -> bytes:
        if self._search_key is None:
            raise VaultNotAttached("the vault has no search key loaded")
        return self._search_key

    def search_digest(self, tenant_id: str, field: str, value: str) -> str | None:
        normalized = normalize(field, value)
        if normalized is None:
            return None
        message = f"{tenant_id}\x1f{field}\x1f{normalized}".encode("utf-8", "surrogatepass")
        return hmac.new(self._require_search_key(), message, hashlib.sha256).hexdigest()

    def search_digests(self, tenant_id: str, document: dict[str, Any]) -> list[tuple[str, str]]:
        found: dict[tuple[str, str], None] = {}
        for field, paths in SEARCH_FIELDS.items():
            for path in paths:
                values: dict[str, Any] = {}
                _collect(document, tuple(path.split(".")), "", values)
                for value in values.values():
                    if isinstance(value, str):
                        digest = self.search_digest(tenant_id, field, value)
                        if digest:
                            found[(field, digest)] = None
        return list(found)

    def protect_order(
        self, tenant_id: str, document: dict[str, Any], raw: Any, *, digest: str | None = None
    ) -> StoredOrder:
        """The order as it may be written: sealed (vault) or stripped (pass-through).
        `digest`: `content_hash(document, raw)` when the caller has computed it already."""
        if digest is None:
            digest = self.content_hash(document, raw)
        search = self.search_digests(tenant_id, document)
        stored: dict[str, Any] = fastjson.copy(document)  # the caller's dict never changes
        personal: dict[str, Any] = {}
        if self.passthrough:
            for path in ORDER_PATHS:
                _collect(document, path.parts, "", personal)
                visit(stored, path.parts, _strip_value)
            stored["pii"] = PASSTHROUGH_MARK
            return StoredOrder(stored, None, digest, search, personal)

        def seal(value: Any) -> Any:
            return self.seal_value(value, tenant_id)

        for path in ORDER_PATHS:
            visit(stored, path.parts, seal)
        sealed_raw = None if raw is None else self.seal_value(raw, tenant_id)
        return StoredOrder(stored, sealed_raw, digest, search, personal)

    def open_document(self, tenant_id: str, stored: dict[str, Any]) -> dict[str, Any]:
        """The stored document with personal fields opened (vault) or, in pass-through, put
        back from memory when still there. Raises `UnknownDataKey` for a key rotated in by
        another process (call `reload` and retry: `open_order` does)."""
        doc: dict[str, Any] = fastjson.copy(stored)
        if doc.pop("pii", None) == PASSTHROUGH_MARK:
            return doc

        def unseal(value: Any) -> Any:
            return self.open_value(value, tenant_id)

        for path in ORDER_PATHS:
            visit(doc, path.parts, unseal)
        return doc

    def open_raw(self, tenant_id: str, stored: Any) -> Any:
        return self.open_value(stored, tenant_id) if stored is not None else None

    def remember(self, order_id: str, version: int, personal: dict[str, Any], raw: Any) -> None:
        if self.passthrough:
            self.memory.put(order_id, version, personal, raw)

    def recall(
        self, order_id: str, version: int, doc: dict[str, Any]
    ) -> tuple[dict[str, Any], Any, bool]:
        """Pass-through: the document with the personal values put back from memory, the raw
        payload, and whether they were still there."""
        entry = self.memory.get(order_id, version)
        if entry is None:
            return doc, None, False
        personal, raw = entry
        merged: dict[str, Any] = fastjson.copy(doc)
        for key, value in personal.items():
            _place(merged, key, value)
        return merged, raw, True

    def iter_keys_in(self, stored: dict[str, Any]) -> Iterator[str]:
        """Ids of the data keys that sealed the values of a stored document."""
        for path in ORDER_PATHS:
            values: dict[str, Any] = {}
            _collect(stored, path.parts, "", values)
            for value in values.values():
                kid = self.key_of(value)
                if kid:
                    yield kid


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def vault_of(session: AsyncSession) -> Vault:
    vault = session.info.get("vault")
    if not isinstance(vault, Vault):
        raise VaultNotAttached(
            "this database has no vault attached (attach_vault) and would write buyer data in clear"
        )
    return vault


@dataclass(frozen=True)
class OpenedOrder:
    document: dict[str, Any]
    raw: Any
    personal_available: bool
    """False when pass-through memory no longer holds this version's personal data."""


async def open_order(
    session: AsyncSession,
    *,
    tenant_id: str,
    order_id: str,
    version: int,
    document: dict[str, Any],
    raw: Any,
) -> OpenedOrder:
    """A stored order (row or event snapshot) made readable: sealed values opened, or
    pass-through values recalled from memory. Reloads the data keys once when a value was
    sealed by a key rotated in by another process."""
    vault = vault_of(session)
    if document.get("pii") == PASSTHROUGH_MARK:
        doc = {k: v for k, v in document.items() if k != "pii"}
        merged, memory_raw, available = vault.recall(order_id, version, doc)
        return OpenedOrder(merged, memory_raw, available)
    try:
        return OpenedOrder(
            vault.open_document(tenant_id, document), vault.open_raw(tenant_id, raw), True
        )
    except UnknownDataKey:
        await vault.load(session)
        return OpenedOrder(
            vault.open_document(tenant_id, document), vault.open_raw(tenant_id, raw), True
        )


async def attach_vault(
    db: Any,
    box: SecretBox,
    *,
    retention: Retention = "vault",
    memory_ttl_seconds: float = 3600,
    memory_max_orders: int = 200_000,
) -> Vault:
    """Loads (or on a fresh database creates) the data keys and makes every session of `db`
    carry the vault, which the order repository requires before it writes anything."""
    vault = Vault(
        box,
        retention=retention,
        memory_ttl_seconds=memory_ttl_seconds,
        memory_max_orders=memory_max_orders,
    )
    async with db.transaction() as session:
        await vault.load(session)
    vault.db = db
    db.session_info["vault"] = vault
    return vault


async def attach_configured_vault(db: Any, box: SecretBox, settings: Settings) -> Vault:
    return await attach_vault(
        db,
        box,
        retention=settings.retention,
        memory_ttl_seconds=settings.passthrough_memory_seconds,
        memory_max_orders=settings.passthrough_memory_max_orders,
    )


async def fresh_vault(db: Any) -> Vault:
    """The database's vault, its data keys reloaded when they may be out of date (another
    process rotated one in during the last `KEY_REFRESH_SECONDS`)."""
    vault: Vault | None = db.session_info.get("vault")
    if vault is None:
        raise VaultNotAttached("this database has no vault attached")
    if time.monotonic() - vault._loaded_at > KEY_REFRESH_SECONDS:
        await vault.reload()
    return vault
