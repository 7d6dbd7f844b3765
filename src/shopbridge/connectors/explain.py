"""Plain explanations of platform failures, with the action an operator should take.

The sync log answers "which interface is failing, why, and what do I do about it". The
unified errors (`errors.py`) already say *what kind* of failure happened; this module turns
that, plus the platform's own error code, into a sentence an operator can act on:

1. each platform folder may ship an `explanations` module whose `EXPLANATIONS` table covers
   the platform's real codes (TOP `27`, `isv.*`; Shopify `401`, `423`...);
2. the generic code table below covers the codes the framework and every connector share
   (`timeout`, `connection`, `bad_json`, push `bad_signature`...);
3. the generic outcome table covers everything else by unified error class.

The first match wins. The matched entry's `code` also becomes the `code` label of the
platform-call metrics, so their cardinality is bounded by these tables whatever a platform
answers (unknown codes are counted as `other`).

Platform tables are found through the connector registry (the connector class's package,
module `explanations`), so the sync layer never imports a platform folder and a third-party
connector adds its table the same way the built-in ones do.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from shopbridge.connectors.errors import ConnectorError, Unavailable
from shopbridge.connectors.registry import UnknownConnector, connector_class

__all__ = [
    "GENERIC_CODES",
    "GENERIC_OUTCOMES",
    "OTHER_CODE",
    "OUTCOMES",
    "CodeExplanation",
    "Explained",
    "Explanation",
    "ExplanationTable",
    "explain",
    "outcome_of",
    "platform_table",
]


@dataclass(frozen=True)
class Explanation:
    """What happened, in plain words, and what the operator should do about it."""

    explanation: str
    action: str


_MAX_KEPT_CODE: Final = 16


@dataclass(frozen=True)
class CodeExplanation:
    """One entry of a code table. `code` is an exact code (`27`, `isv.trade-not-exist`,
    `401`) or a prefix ending in `*` (`isv.*`, `5*`); `outcomes`, when not empty, restricts
    the entry to those outcomes (an `isv.*` business error that is really a "not found"
    keeps the generic not-found explanation)."""

    code: str
    explanation: str
    action: str
    outcomes: frozenset[str] = frozenset()
    keep_code: bool = False
    """For a prefix over a small closed set (HTTP statuses: `5*`), label metrics with the
    code itself (`503`) rather than the prefix; never for open families such as `isv.*`."""

    def applies_to(self, outcome: str) -> bool:
        return not self.outcomes or outcome in self.outcomes


@dataclass(frozen=True)
class ExplanationTable:
    """A code table. Compound codes (`7/accesscontrol.limited-by-api-access-count`: TOP's
    code and sub-code) are tried whole, then part by part from the most specific (the last)
    to the least; each part exactly first, then against the prefixes, longest first."""

    entries: tuple[CodeExplanation, ...]
    _exact: dict[str, tuple[CodeExplanation, ...]] = field(init=False, repr=False)
    _prefixes: tuple[tuple[str, CodeExplanation], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        exact: dict[str, tuple[CodeExplanation, ...]] = {}
        prefixes: list[tuple[str, CodeExplanation]] = []
        for entry in self.entries:
            if entry.code.endswith("*"):
                prefixes.append((entry.code[:-1], entry))
            else:
                exact[entry.code] = (*exact.get(entry.code, ()), entry)
        prefixes.sort(key=lambda item: len(item[0]), reverse=True)
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(self, "_prefixes", tuple(prefixes))

    @classmethod
    def of(cls, entries: Iterable[CodeExplanation]) -> ExplanationTable:
        return cls(tuple(entries))

    def lookup(self, code: str, outcome: str) -> tuple[CodeExplanation, str] | None:
        """The entry for `code` and the metric label it gives, or None."""
        parts = [code, *reversed(code.split("/"))] if "/" in code else [code]
        for part in parts:
            if not part:
                continue
            for entry in self._exact.get(part, ()):
                if entry.applies_to(outcome):
                    return entry, entry.code
            for prefix, entry in self._prefixes:
                if part.startswith(prefix) and entry.applies_to(outcome):
                    bounded = entry.keep_code and len(part) <= _MAX_KEPT_CODE
                    return entry, part if bounded else entry.code
        return None


# -- outcomes ------------------------------------------------------------------------------

OUTCOMES: Final = (
    "ok",
    "rate_limited",
    "timeout",
    "unavailable",
    "auth_expired",
    "rejected",
    "not_found",
    "invalid_response",
    "error",
)
"""Every outcome a sync-log record or a platform-call metric carries."""

_OUTCOME_OF_CLASS: Final[Mapping[str, str]] = {
    "RateLimited": "rate_limited",
    "AuthExpired": "auth_expired",
    "Unavailable": "unavailable",
    "Rejected": "rejected",
    "PushRejected": "rejected",
    "NotFound": "not_found",
    "MappingError": "invalid_response",
}


_TIMEOUT_CODES: Final = frozenset({"timeout", "cancelled"})
"""`Unavailable` codes that mean "no answer in time": the HTTP client's timeout, and the
caller abandoning the call at its own deadline."""


def outcome_of(error: str | ConnectorError | None, code: str | None = None) -> str:
    """The sync-log outcome of a call that ended with `error` (an exception or the class
    name a `CallRecord` carries; None or "ok" for success). A timeout is told apart from
    the other `Unavailable`s because the operator reads it differently."""
    if error is None or error == "ok":
        return "ok"
    if isinstance(error, ConnectorError):
        name = next(
            (c.__name__ for c in type(error).__mro__ if c.__name__ in _OUTCOME_OF_CLASS),
            "",
        )
        code = code if code is not None else error.code
        if isinstance(error, Unavailable) and code in _TIMEOUT_CODES:
            return "timeout"
    else:
        name = error
    outcome = _OUTCOME_OF_CLASS.get(name, "error")
    if outcome == "unavailable" and code in _TIMEOUT_CODES:
        return "timeout"
    return outcome


# -- generic tables ------------------------------------------------------------------------

_RETRIED: Final = "Nothing to do: ShopBridge retries automatically with backoff."

GENERIC_OUTCOMES: Final[Mapping[str, Explanation]] = {
    "rate_limited": Explanation(
        "The platform asked ShopBridge to slow down (call limit reached); ShopBridge "
        "slowed down, waited and retried.",
        "Nothing to do. If it happens all day long, ask the platform for a higher quota or "
        "lower the shop's call rate.",
    ),
    "timeout": Explanation(
        "The platform did not answer in time: it is slow or overloaded.",
        _RETRIED + " If it lasts, check the platform's status page and this server's network.",
    ),
    "unavailable": Explanation(
        "The platform failed to answer (a server error or an unreachable host): the "
        "platform is slow or down.",
        _RETRIED + " If it lasts, check the platform's status page.",
    ),
    "auth_expired": Explanation(
        "The shop's access token or session is expired, revoked or wrong; sync of this "
        "shop is paused.",
        "Re-authorise the shop on the platform and store the new credentials "
        "(PATCH /v1/shops/{id}); sync resumes by itself.",
    ),
    "rejected": Explanation(
        "The platform understood the request and refused it (a business rule, a missing "
        "permission or a bad value).",
        "Read the platform's message: fix the data or the shop's settings, then retry.",
    ),
    "not_found": Explanation(
        "The platform says the object does not exist or is not visible to this shop.",
        "Check the id: the object may have been deleted, or belong to another shop.",
    ),
    "invalid_response": Explanation(
        "The platform's answer could not be understood (a missing or malformed field).",
        "Report it with the interface and the time: the platform may have changed its API "
        "and the connector needs an update. The raw payload is kept.",
    ),
    "error": Explanation(
        "The call failed for a reason ShopBridge has no explanation for.",
        "Read the platform's message; if it does not help, report it with the interface "
        "and the time.",
    ),
}
"""By outcome: the fallback when no code table knows the code."""

_SIGNING_ACTION: Final = (
    "Check the shop's app_secret credential: it must be the secret of the app the platform "
    "signs with (PATCH /v1/shops/{id}), and the platform's push settings must point to this "
    "shop."
)

GENERIC_CODES: Final = ExplanationTable.of(
    [
        CodeExplanation(
            "timeout",
            "The platform did not answer in time: it is slow or overloaded.",
            _RETRIED + " If it lasts, check the platform's status page.",
        ),
        CodeExplanation(
            "cancelled",
            "ShopBridge stopped waiting for the platform's answer: the operation's deadline "
            "passed (or the process was stopping). Whether the platform applied the call is "
            "unknown until it is checked.",
            "Nothing to do: the operation is retried and checked against the platform "
            "automatically. If it keeps happening, the platform is slow.",
        ),
        CodeExplanation(
            "connection",
            "The platform could not be reached (DNS, connection refused or reset, TLS).",
            _RETRIED + " If it lasts, check this server's network, proxy and DNS, and the "
            "shop's base_url setting.",
        ),
        CodeExplanation(
            "bad_json",
            "The platform answered with something that is not JSON (a maintenance page, a "
            "proxy error).",
            _RETRIED + " If it lasts, check the shop's base_url setting and any proxy in between.",
            frozenset({"unavailable", "error"}),
        ),
        CodeExplanation(
            "configuration",
            "The shop's settings are invalid for this platform.",
            "Fix the shop's settings (PATCH /v1/shops/{id}); the message says which one.",
        ),
        CodeExplanation(
            "no_credentials",
            "The shop has no (or incomplete) credentials stored.",
            "Store the shop's credentials (PATCH /v1/shops/{id}).",
        ),
        CodeExplanation(
            "no_token",
            "The shop has no access token stored.",
            "Re-authorise the shop and store its access token (PATCH /v1/shops/{id}).",
        ),
        CodeExplanation(
            "bad_signature",
            "A push arrived with a signature that does not match the shop's app secret; it "
            "was refused and nothing was stored.",
            _SIGNING_ACTION,
        ),
        CodeExplanation(
            "missing_signature",
            "A push arrived without a signature; it was refused and nothing was stored.",
            "Check that the platform (or the relay) signs its pushes to this URL; anything "
            "else posting here is not the platform.",
        ),
        CodeExplanation(
            "no_secret",
            "A push arrived for a shop that has no app secret to check it with; it was refused.",
            "Store the app's secret in the shop's credentials (app_secret).",
        ),
        CodeExplanation(
            "wrong_shop",
            "A push for another shop arrived at this shop's push URL; it was refused.",
            "Check the push URL configured on the platform: each shop has its own "
            "(/v1/push/{platform}/{shop_id}).",
        ),
        CodeExplanation(
            "stale",
            "A push was older than the accepted window (a replay, or a platform retry after "
            "a long outage); it was refused. The next pull catches the change.",
            "Nothing to do, unless it happens for every push: then check this server's "
            "clock (NTP).",
        ),
        CodeExplanation(
            "bad_payload",
            "A signed push could not be read; it was refused.",
            "Report it with the time: the platform may have changed its push format.",
        ),
    ]
)
"""Codes the framework and every connector share."""

OTHER_CODE: Final = "other"
"""Metric label of a code no table knows."""


# -- platform tables -----------------------------------------------------------------------

_tables: dict[str, ExplanationTable | None] = {}
_tables_lock = threading.Lock()


def platform_table(platform: str) -> ExplanationTable | None:
    """The `EXPLANATIONS` of the platform's connector package, if it has one (cached; the
    first lookup scans the entry points, a few milliseconds)."""
    if platform in _tables:
        return _tables[platform]
    table: ExplanationTable | None = None
    try:
        package = connector_class(platform).__module__.rpartition(".")[0]
    except UnknownConnector:
        package = ""
    if package:
        name = f"{package}.explanations"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise  # a broken table is a bug to see, not a table to skip
        else:
            found = getattr(module, "EXPLANATIONS", None)
            table = found if isinstance(found, ExplanationTable) else None
    with _tables_lock:
        _tables[platform] = table
    return table


# -- lookup --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Explained:
    """The outcome of one call, its metric code label and its explanation (None for a
    success)."""

    outcome: str
    code_label: str
    explanation: Explanation | None


_OK: Final = Explained("ok", "", None)
_cache: dict[tuple[str, str, str | None], Explained] = {}
_CACHE_SIZE: Final = 2048


def explain(platform: str, outcome: str, code: str | None) -> Explained:
    """Explain one failure (`outcome` from `outcome_of`). Cached: called once per failed
    call on the hot path; the cache is bounded because codes are the platform's words."""
    if outcome == "ok":
        return _OK
    key = (platform, outcome, code)
    hit = _cache.get(key)
    if hit is not None:
        return hit
    result = _explain(platform, outcome, code)
    if len(_cache) >= _CACHE_SIZE:
        _cache.clear()
    _cache[key] = result
    return result


def _explain(platform: str, outcome: str, code: str | None) -> Explained:
    generic = GENERIC_OUTCOMES.get(outcome, GENERIC_OUTCOMES["error"])
    if not code:
        return Explained(outcome, "", generic)
    for table in (platform_table(platform), GENERIC_CODES):
        found = table.lookup(code, outcome) if table is not None else None
        if found is not None:
            entry, label = found
            return Explained(outcome, label, Explanation(entry.explanation, entry.action))
    return Explained(outcome, OTHER_CODE, generic)
