"""Typing for buyer personal data, so it cannot leak by accident.

Buyer names, phones, e-mails and street addresses must be encrypted at rest, masked in API
responses unless the caller may read them, and never appear in logs. A plain `str` makes all
three depend on every developer remembering; a `Sensitive` value makes the safe thing the
default: `repr`, `str`, f-strings, tracebacks and `repr(order)` only ever show the masked form,
and reading the plaintext takes an explicit, greppable `.reveal()`.

In a pydantic model, declare fields with the typed aliases (`SensitiveName`, `SensitivePhone`,
...). Validation accepts a `str` or a `Sensitive` of the same kind. `model_dump(mode="json")`
emits the plaintext, so storage round-trips losslessly (storage encrypts what
`iter_sensitive_paths` lists); with `context={"mask_pii": True}` the masked form is emitted
instead, and native payloads (`raw`) are withheld. `model_dump()` in python mode keeps the
`Sensitive` objects, so a dumped dict that reaches a log is still masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from enum import StrEnum
from functools import cache
from types import MappingProxyType, NoneType, UnionType
from typing import Annotated, Any, Final, NamedTuple, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from shopbridge.core.types import NativePayload, check_safe_str
from shopbridge.logging import PII_COLLECTOR

__all__ = [
    "MASK_PII_CONTEXT",
    "Sensitive",
    "SensitiveEmail",
    "SensitiveGeneric",
    "SensitiveIdNumber",
    "SensitiveKind",
    "SensitiveName",
    "SensitivePath",
    "SensitivePayload",
    "SensitivePhone",
    "SensitivePostalCode",
    "SensitiveText",
    "iter_sensitive_paths",
    "mask",
]

MASK_PII_CONTEXT: Final[Mapping[str, bool]] = MappingProxyType({"mask_pii": True})
"""Serialization context that makes every sensitive field dump masked."""

MAX_SENSITIVE_LENGTH: Final = 65_536
"""Generous on purpose: platform ciphertexts (Doudian, Kuaishou) and waybill print data are
far longer than the plaintext they stand for."""


class SensitiveKind(StrEnum):
    """What a sensitive value is, which decides how it is masked.

    `postal_code` is sensitive because a full postcode narrows a person down to a street (UK,
    US ZIP+4); its masked form keeps the routing prefix. `payload` marks a whole native
    document (`raw`) that may contain any of the others.
    """

    NAME = "name"
    PHONE = "phone"
    EMAIL = "email"
    ADDRESS = "address"
    POSTAL_CODE = "postal_code"
    ID_NUMBER = "id_number"
    GENERIC = "generic"
    PAYLOAD = "payload"


_CN_MOBILE: Final = re.compile(r"1[0-9]{10}(-[0-9]{1,8})?")
_PHONE_PUNCTUATION: Final = frozenset(" +-().#/")
_NON_SPACE: Final = re.compile(r"\S+")
_FULL_MASK: Final = "****"


def _mask_word(word: str) -> str:
    return "*" if len(word) == 1 else word[0] + "*" * (len(word) - 1)


def _mask_name(value: str) -> str:
    # 张三 -> 张*, 欧阳娜娜 -> 欧***, John Smith -> J*** S****.
    return _NON_SPACE.sub(lambda m: _mask_word(m.group()), value)


def _mask_phone(value: str) -> str:
    # 13812345678 -> 138****5678 (Taobao relay number 18877771111-123 keeps its extension);
    # anything else keeps only its last four digits and its punctuation.
    if _CN_MOBILE.fullmatch(value):
        return value[:3] + "****" + value[7:]
    digits = [i for i, c in enumerate(value) if "0" <= c <= "9"]
    keep = set(digits[-4:]) if len(digits) > 4 else set()
    return "".join(c if i in keep or c in _PHONE_PUNCTUATION else "*" for i, c in enumerate(value))


def _mask_email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        return _FULL_MASK
    # A fixed-width mask hides the length of the local part.
    return (local[0] if len(local) > 1 else "") + "****@" + domain


def _mask_postal_code(value: str) -> str:
    # 200001 -> 200***, SW1A 1AA -> SW1* ***: the prefix is enough to route, not to find a door.
    alnum = [i for i, c in enumerate(value) if c.isalnum()]
    keep = set(alnum[:3]) if len(alnum) >= 5 else set()
    return "".join(c if i in keep or not c.isalnum() else "*" for i, c in enumerate(value))


def _mask_id_number(value: str) -> str:
    if len(value) < 3:
        return "*" * len(value)
    return value[0] + "*" * (len(value) - 2) + value[-1]


def mask(value: str, kind: SensitiveKind | str) -> str:
    """Masked display form of `value`; deterministic, and never longer than needed to act.

    Rules: names keep the first character of each word; mainland mobiles keep 3+4 digits,
    other phones the last 4 digits; e-mail keeps the first character and the domain; postal
    codes keep their first 3 characters when they have at least 5 (else nothing); id numbers
    keep the first and last character; addresses and generic text show `****`.
    """
    if not value:
        return ""
    match SensitiveKind(kind):
        case SensitiveKind.NAME:
            return _mask_name(value)
        case SensitiveKind.PHONE:
            return _mask_phone(value)
        case SensitiveKind.EMAIL:
            return _mask_email(value)
        case SensitiveKind.POSTAL_CODE:
            return _mask_postal_code(value)
        case SensitiveKind.ID_NUMBER:
            return _mask_id_number(value)
        case _:
            return _FULL_MASK


class Sensitive:
    """A piece of personal data that only shows its masked form unless explicitly revealed.

    Not a `str` subclass on purpose: a subclass would hand the plaintext to every `str`
    operation, `%s`, `json.dumps` and logging formatter without anyone asking. Equality and
    hashing are by kind and value, so `Sensitive` fields compare like the strings they hold,
    but a `Sensitive` never equals a plain `str`.
    """

    __slots__ = ("_kind", "_value")
    _kind: SensitiveKind
    _value: str

    def __init__(self, value: str, kind: SensitiveKind | str = SensitiveKind.GENERIC) -> None:
        if not isinstance(value, str):
            raise TypeError(f"Sensitive value must be a str, not {type(value).__name__}")
        check_safe_str(value)
        if len(value) > MAX_SENSITIVE_LENGTH:
            raise ValueError(f"sensitive value longer than {MAX_SENSITIVE_LENGTH} characters")
        object.__setattr__(self, "_kind", SensitiveKind(kind))
        object.__setattr__(self, "_value", value)
        # Inside `collect_pii()` (platform intake), remember the plaintext so this context's
        # log lines are scrubbed of it; otherwise one context-variable read.
        collector = PII_COLLECTOR.get()
        if collector is not None:
            collector.add(value)

    @property
    def kind(self) -> SensitiveKind:
        return self._kind

    def reveal(self) -> str:
        """The plaintext. Every call site is a place where personal data leaves the wrapper."""
        return self._value

    def masked(self) -> str:
        return mask(self._value, self._kind)

    def __repr__(self) -> str:
        return f"Sensitive(kind={self._kind.value!r}, masked={self.masked()!r})"

    def __str__(self) -> str:
        return self.masked()

    def __format__(self, format_spec: str) -> str:
        return format(self.masked(), format_spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sensitive):
            return NotImplemented
        return self._kind is other._kind and self._value == other._value

    def __hash__(self) -> int:
        return hash((Sensitive, self._kind, self._value))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Sensitive is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Sensitive is immutable")

    def __reduce__(self) -> tuple[type[Sensitive], tuple[str, str]]:
        return (Sensitive, (self._value, self._kind.value))

    def __copy__(self) -> Sensitive:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Sensitive:
        return self

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return _sensitive_core_schema(SensitiveKind.GENERIC)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "x-sensitive": SensitiveKind.GENERIC.value}


def _mask_requested(context: object) -> bool:
    return isinstance(context, Mapping) and context.get("mask_pii") is True


def _sensitive_core_schema(kind: SensitiveKind) -> CoreSchema:
    def validate(value: object) -> Sensitive:
        if isinstance(value, Sensitive):
            if value.kind is not kind:
                raise PydanticCustomError(
                    "sensitive_kind",
                    "expected a {expected} value, got a {actual} value",
                    {"expected": kind.value, "actual": value.kind.value},
                )
            return value
        if not isinstance(value, str):
            raise PydanticCustomError("string_type", "Input should be a valid string")
        return Sensitive(value, kind)

    def serialize(value: Sensitive, info: core_schema.SerializationInfo[Any]) -> object:
        if _mask_requested(info.context):
            return value.masked()
        if info.mode_is_json():
            return value.reveal()
        return value

    return core_schema.no_info_plain_validator_function(
        validate,
        serialization=core_schema.plain_serializer_function_ser_schema(serialize, info_arg=True),
    )


class _SensitiveField:
    """`Annotated` marker that types a field as personal data of one kind."""

    __slots__ = ("kind",)

    def __init__(self, kind: SensitiveKind) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return f"SensitiveField({self.kind.value!r})"

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return _sensitive_core_schema(self.kind)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "x-sensitive": self.kind.value}


SensitiveName = Annotated[Sensitive, _SensitiveField(SensitiveKind.NAME)]
SensitivePhone = Annotated[Sensitive, _SensitiveField(SensitiveKind.PHONE)]
SensitiveEmail = Annotated[Sensitive, _SensitiveField(SensitiveKind.EMAIL)]
SensitiveText = Annotated[Sensitive, _SensitiveField(SensitiveKind.ADDRESS)]
"""Address text (street lines, detail). Masked as `****`."""
SensitivePostalCode = Annotated[Sensitive, _SensitiveField(SensitiveKind.POSTAL_CODE)]
SensitiveIdNumber = Annotated[Sensitive, _SensitiveField(SensitiveKind.ID_NUMBER)]
SensitiveGeneric = Annotated[Sensitive, _SensitiveField(SensitiveKind.GENERIC)]


class _PayloadMarker:
    """Marks a native payload as possibly holding personal data (for `iter_sensitive_paths`)."""

    __slots__ = ()


def _serialize_payload(value: Any, info: core_schema.SerializationInfo[Any]) -> Any:
    return None if _mask_requested(info.context) else value


SensitivePayload = Annotated[
    NativePayload,
    PlainSerializer(_serialize_payload),
    WithJsonSchema(
        {
            "anyOf": [{"type": "object"}, {"type": "array"}, {"type": "null"}],
            "x-sensitive": SensitiveKind.PAYLOAD.value,
        }
    ),
    _PayloadMarker(),
]
"""A native payload: stored as-is, withheld (`null`) when dumped with `mask_pii`."""


class SensitivePath(NamedTuple):
    """A field path such as `receiver.address.lines[]` (`[]` = every list item)."""

    path: str
    kind: SensitiveKind


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _walk(
    tp: Any, metadata: list[Any], path: str, stack: tuple[type[BaseModel], ...]
) -> Iterator[SensitivePath]:
    for item in metadata:
        if isinstance(item, _SensitiveField):
            yield SensitivePath(path, item.kind)
            return
        if isinstance(item, _PayloadMarker):
            yield SensitivePath(path, SensitiveKind.PAYLOAD)
            return
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is Annotated:
        yield from _walk(args[0], list(args[1:]), path, stack)
    elif tp is Sensitive:
        yield SensitivePath(path, SensitiveKind.GENERIC)
    elif isinstance(tp, type) and issubclass(tp, BaseModel):
        if tp in stack:  # a recursive model: its paths are already being listed
            return
        for name, field in tp.model_fields.items():
            yield from _walk(field.annotation, field.metadata, _join(path, name), (*stack, tp))
    elif origin in (Union, UnionType):
        for arg in args:
            if arg is not NoneType:
                yield from _walk(arg, [], path, stack)
    elif origin in (list, tuple, set, frozenset):
        for arg in args:
            if arg is not Ellipsis:
                yield from _walk(arg, [], f"{path}[]", stack)
    elif origin is dict and len(args) == 2:
        yield from _walk(args[1], [], f"{path}{{}}", stack)


@cache
def _sensitive_paths(model_cls: type[BaseModel]) -> tuple[SensitivePath, ...]:
    return tuple(dict.fromkeys(_walk(model_cls, [], "", ())))


def iter_sensitive_paths(model_cls: type[BaseModel]) -> Iterator[SensitivePath]:
    """Every field path of `model_cls` that holds personal data, nested models included.

    Storage encrypts these paths and the API masks them; a new `SensitiveX` field anywhere in
    the model is picked up without touching either layer.
    """
    return iter(_sensitive_paths(model_cls))
