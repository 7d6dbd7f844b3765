"""Structured logging (structlog) with a redaction layer that runs before anything is written.

Logs are copied to places buyer data must never reach (log shippers, support tickets, CI
output), so redaction cannot depend on every call site being careful. Four nets, applied to
every log line, structlog's and the standard library's (uvicorn, httpx, SQLAlchemy, asyncio)
alike:

1. **Keys.** A value whose key names a secret or a personal field (`token`, `phone`,
   `receiver`, ...) is replaced whole, so `log.info("...", receiver=order.receiver)` is safe.
2. **Patterns.** Every string, including the message itself and formatted tracebacks, is
   scrubbed of mainland mobile numbers, e-mail addresses, ShopBridge and Shopify tokens,
   `Bearer` credentials, secret query/form parameters (`sign=...`, `access_token=...`) and
   pydantic's `input_value=...` echo of validated input (which may be a buyer's name).
3. **Known secrets.** `register_secret()` / `register_credentials()` remember secret values
   (shop app secrets and access tokens, registered when credentials are opened) in a bounded
   registry; they are scrubbed wherever they appear as a run of letters and digits.
4. **Buyer values of the current context.** Inside `collect_pii()`, every
   `shopbridge.core.sensitive.Sensitive` constructed in the same task/context (an order being
   mapped, validated or stored) feeds a bounded collector, and its plaintext is scrubbed from
   log lines produced in that context, however it got there (an exception message, a
   platform's error text, an f-string).

Redaction errs towards removing too much: a log line that lost an id to a false positive is a
nuisance, a log line with a buyer's phone number is an incident.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final, TextIO

import structlog

__all__ = [
    "PII_COLLECTOR",
    "REDACTED",
    "PiiCollector",
    "RedactingFilter",
    "collect_pii",
    "configure_logging",
    "get_logger",
    "redact_processor",
    "register_credentials",
    "register_secret",
    "scrub",
]

REDACTED: Final = "[redacted]"

_SENSITIVE_KEY: Final = re.compile(
    r"(token|secret|password|passwd|authorization|api[_-]?key|signature|sign|credential|"
    r"phone|mobile|receiver|buyer_name|address|email|id_number|cookie|input_value)",
    re.IGNORECASE,
)
_SENSITIVE_EXACT_KEYS: Final = frozenset({"input"})
"""pydantic's `errors()` items carry the offending input under `input`."""

_SAFE_KEYS: Final = frozenset({"timestamp", "level", "logger", "logger_name"})
"""Keys our own processors fill with values that cannot hold buyer data: not scrubbed."""

# -- value patterns ------------------------------------------------------------------------
# One pattern per kind, each behind a C-speed precheck (`in`): a combined alternation with
# leading lookbehinds defeats `re`'s prefix scan and cost ~0.25 us per character, i.e. about a
# millisecond per traceback. Patterns start with a literal or a character class where they can.

_SECRET_PARAMS: Final = (
    "sign",
    "signature",
    "access_token",
    "refresh_token",
    "session",
    "session_key",
    "app_secret",
    "client_secret",
    "secret",
    "password",
    "passwd",
    "token",
    "api_key",
)
_SECRET_HEADERS: Final = (
    "authorization",
    "cookie",
    "x-shopify-access-token",
    "x-shopify-hmac-sha256",
    "x-shopbridge-tmc-sign",
)
_PARAM_PROBES: Final = tuple(f"{name}=" for name in _SECRET_PARAMS)
_KV_PROBES: Final = tuple(f"{name}{q}" for name in _SECRET_PARAMS + _SECRET_HEADERS for q in "'\"")
_TOKEN_PROBES: Final = ("sbk_", "whsec_", "shpat_", "shpca_", "shppa_", "shpss_")

_INPUT_VALUE: Final = re.compile(r"input_value=(?:[^\n]*?(?=, input_type=)|[^\n]*)")
"""pydantic's `[type=..., input_value='张三', input_type=str]`: the echoed input goes."""
_KEY_VALUE: Final = re.compile(
    r"(?P<key>(?P<q>[\"'])(?i:"
    + "|".join(map(re.escape, _SECRET_PARAMS + _SECRET_HEADERS))
    + r")(?P=q)\s*:\s*)(?P<vq>[\"'])(?:\\.|(?!(?P=vq)).)*(?P=vq)"
)
"""A quoted key/value in a dict repr or JSON text: `{'app_secret': '...'}`."""
_PARAM: Final = re.compile(
    r"(?P<key>(?<![A-Za-z0-9_])(?i:"
    + "|".join(map(re.escape, _SECRET_PARAMS))
    + r")=)(?!\[redacted\])[^\s&#;,\"'<>)\]}]*"
)
"""A query or form parameter: `sign=ABC123&...` -> `sign=[redacted]&...`."""
_BEARER: Final = re.compile(r"(?P<key>(?<![A-Za-z0-9])(?i:bearer)\s+)[A-Za-z0-9\-._~+/]+=*")
_TOKEN: Final = re.compile(
    r"(?<![A-Za-z0-9])(?:sbk|whsec|shpat|shpca|shppa|shpss)_[A-Za-z0-9_\-+/=]{4,}"
)
"""ShopBridge API keys and webhook secrets; Shopify access tokens and app secrets."""
_EMAIL_DOMAIN: Final = re.compile(r"@[\w-]+(?:\.[\w-]+)+")
_EMAIL_LOCAL: Final = frozenset("._+%-")
_MOBILE: Final = re.compile(
    r"1(?<![0-9A-Za-z]1)[3-9][0-9](?:[ -]?[0-9]{4}){2}(?:-[0-9]{1,8})?(?![0-9])"
)
"""Mainland mobiles (`13812345678`, `138 1234 5678`, privacy numbers `18877771111-123`),
never a slice of a longer number or of an alphanumeric id; `+86 ` before one stays."""
_MOBILE_86: Final = re.compile(
    r"86(?:(?<=^86)|(?<=[^0-9A-Za-z]86)|(?<=^\+86)|(?<=[^0-9A-Za-z]\+86)|(?<=^0086)"
    r"|(?<=[^0-9A-Za-z]0086))1[3-9][0-9](?:[ -]?[0-9]{4}){2}(?:-[0-9]{1,8})?(?![0-9])"
)
"""The same with the country code glued on: `+8613812345678`, `008613812345678`."""


def _keep_key(match: re.Match[str]) -> str:
    return match.group("key") + REDACTED


def _keep_key_quoted(match: re.Match[str]) -> str:
    quote = match.group("vq")
    return f"{match.group('key')}{quote}{REDACTED}{quote}"


def _scrub_emails(text: str) -> str:
    """Anchored on `@` (a regex starting with the local part re-scans every word)."""
    parts: list[str] = []
    last = 0
    for match in _EMAIL_DOMAIN.finditer(text):
        start = at = match.start()
        while start > last and (text[start - 1].isalnum() or text[start - 1] in _EMAIL_LOCAL):
            start -= 1
        if start == at:
            continue  # `@` with no local part: a decorator, a handle
        parts.append(text[last:start])
        parts.append(REDACTED)
        last = match.end()
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


def _scrub_patterns(text: str) -> str:
    if "input_value=" in text:
        text = _INPUT_VALUE.sub("input_value=" + REDACTED, text)
    lowered = text.lower()
    if (
        ":" in text
        and ("'" in text or '"' in text)
        and any(probe in lowered for probe in _KV_PROBES)
    ):
        text = _KEY_VALUE.sub(_keep_key_quoted, text)
    if "=" in text and any(probe in lowered for probe in _PARAM_PROBES):
        text = _PARAM.sub(_keep_key, text)
    if "bearer" in lowered:
        text = _BEARER.sub(_keep_key, text)
    if "_" in text and any(probe in text for probe in _TOKEN_PROBES):
        text = _TOKEN.sub(REDACTED, text)
    if "@" in text:
        text = _scrub_emails(text)
    if "86" in text:
        text = _MOBILE_86.sub(REDACTED, text)
    return _MOBILE.sub(REDACTED, text)


# -- known secrets -------------------------------------------------------------------------

_ALNUM_RUN: Final = re.compile(r"[A-Za-z0-9]{8,}")
_PROBE: Final = 8


class _SecretRegistry:
    """Secret values to scrub, bounded: past `capacity` the oldest registration goes (and
    comes back the next time its credentials are opened, which registers it again).

    Checking each of thousands of secrets against each string (`in`, or one big regex
    alternation) costs ~0.2-0.8 ms per string: too slow for every log line. Instead each secret
    is indexed by the first 8 characters of its longest run of letters and digits (its
    *probe*); a string is split into such runs (in C) and only their 8-character windows are
    looked up. Secrets without such a run (short or punctuation-heavy ones) are few and are
    checked with `in`.
    """

    MIN_LENGTH: Final = 8
    """Shorter values are not secrets worth the false positives (a test's `session="s"`)."""

    def __init__(self, capacity: int = 4096, odd_capacity: int = 64) -> None:
        self.capacity = capacity
        self.odd_capacity = odd_capacity
        self._lock = threading.Lock()
        self._values: OrderedDict[str, str | None] = OrderedDict()
        """secret -> its probe (None: an odd secret, checked with `in`)."""
        self._index: dict[str, tuple[tuple[str, str], ...]] = {}
        self._odd: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self._values)

    def add(self, value: str) -> None:
        if len(value) < self.MIN_LENGTH:
            return
        values = self._values
        if value in values:  # the common case (credentials opened again): no lock needed
            return
        runs = _ALNUM_RUN.findall(value)
        probe = max(runs, key=len) if runs else None
        with self._lock:
            if value in values:
                return
            if probe is None and len(self._odd) >= self.odd_capacity:
                return
            values[value] = probe
            if probe is None:
                self._odd = (*self._odd, value)
            else:
                key = probe[:_PROBE]
                self._index[key] = (*self._index.get(key, ()), (value, probe))
            while len(values) > self.capacity:
                self._forget(*values.popitem(last=False))

    def _forget(self, value: str, probe: str | None) -> None:
        if probe is None:
            self._odd = tuple(v for v in self._odd if v != value)
            return
        key = probe[:_PROBE]
        remaining = tuple(item for item in self._index.get(key, ()) if item[0] != value)
        if remaining:
            self._index[key] = remaining
        else:
            self._index.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._index = {}
            self._odd = ()

    def scrub(self, text: str) -> str:
        index, odd = self._index, self._odd
        hits: list[tuple[str, str]] = []
        if index:
            for run in _ALNUM_RUN.findall(text):
                for start in range(len(run) - _PROBE + 1):
                    candidates = index.get(run[start : start + _PROBE])
                    if candidates:
                        hits.extend(c for c in candidates if run.startswith(c[1], start))
        for value, probe in hits:
            # Whole secret where it appears; its probe where the text merged its edges.
            text = text.replace(value, REDACTED) if value in text else text.replace(probe, REDACTED)
        for value in odd:
            if value in text:
                text = text.replace(value, REDACTED)
        return text


_secrets = _SecretRegistry()

_SECRET_CREDENTIAL: Final = re.compile(
    r"(token|secret|password|passwd|session|api[_-]?key|private|signature|cookie|refresh)",
    re.IGNORECASE,
)


def register_secret(value: object) -> None:
    """Scrub `value` from every log line from now on (cheap when already registered).

    Strings shorter than 8 characters are ignored: they are too short to be real secrets and
    would mangle ordinary words."""
    if isinstance(value, str):
        _secrets.add(value)


def register_credentials(credentials: Mapping[str, Any]) -> None:
    """Register the secret-looking values of a shop's credentials (`app_secret`,
    `access_token`, `session`, `previous_app_secret`, ...); public ones (`app_key`) are not."""
    for key, value in credentials.items():
        if isinstance(value, str) and _SECRET_CREDENTIAL.search(str(key)):
            _secrets.add(value)


# -- buyer values of the current context ---------------------------------------------------


class PiiCollector:
    """Plaintexts of the `Sensitive` values built in one context, newest kept (bounded).

    Fed by `Sensitive.__init__` while active; read only when that context logs. Short ASCII
    values (`Li`, `Wu`) are matched as whole words only, so they do not eat `Limit`."""

    __slots__ = ("_values", "capacity")

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._values: dict[str, None] = {}

    def add(self, value: str) -> None:
        values = self._values
        if value in values or len(value) < 2 or value.isspace():
            return
        values[value] = None
        if len(values) > self.capacity:
            del values[next(iter(values))]

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._values))

    def scrub(self, text: str) -> str:
        for value in list(self._values):
            if value in text:
                if len(value) < 4 and value.isascii():
                    text = _word(value).sub(REDACTED, text)
                else:
                    text = text.replace(value, REDACTED)
        return text


_word_cache: dict[str, re.Pattern[str]] = {}


def _word(value: str) -> re.Pattern[str]:
    pattern = _word_cache.get(value)
    if pattern is None:
        if len(_word_cache) > 1024:
            _word_cache.clear()
        pattern = _word_cache[value] = re.compile(
            rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])"
        )
    return pattern


PII_COLLECTOR: ContextVar[PiiCollector | None] = ContextVar("shopbridge_pii", default=None)
"""The active collector of this context, if any (`Sensitive.__init__` reads it)."""


@contextmanager
def collect_pii(capacity: int = 256) -> Iterator[PiiCollector]:
    """Within this block (and tasks it starts), scrub buyer values seen here from logs.

    Wrap the intake of platform data (a push, a shop's pull) in it: every `Sensitive` built
    while it is active is remembered, so a log line about that work cannot quote the buyer's
    name even through an exception message. Nested use joins the outer collector."""
    current = PII_COLLECTOR.get()
    if current is not None:
        yield current
        return
    collector = PiiCollector(capacity)
    token = PII_COLLECTOR.set(collector)
    try:
        yield collector
    finally:
        PII_COLLECTOR.reset(token)


# -- scrubbing -----------------------------------------------------------------------------


def scrub(text: str, collector: PiiCollector | None = None) -> str:
    """`text` without known secrets, buyer values of `collector` (default: this context's)
    and the patterns above. Literal values go first: a pattern rewriting part of a buyer's
    address first would stop the whole address from matching."""
    if collector is None:
        collector = PII_COLLECTOR.get()
    if collector is not None and collector._values:
        text = collector.scrub(text)
    if len(_secrets):
        text = _secrets.scrub(text)
    return _scrub_patterns(text)


_MAX_DEPTH: Final = 8


def _clean(value: Any, key: str | None, collector: PiiCollector | None, depth: int) -> Any:
    if key is not None and (key in _SENSITIVE_EXACT_KEYS or _SENSITIVE_KEY.search(key)):
        return REDACTED
    if isinstance(value, str):
        return scrub(value, collector)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= _MAX_DEPTH:
        return REDACTED if isinstance(value, dict | list | tuple) else value
    if isinstance(value, dict):
        return {k: _clean(v, str(k), collector, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v, None, collector, depth + 1) for v in value]
    if isinstance(value, bytes | bytearray):
        return scrub(bytes(value).decode("utf-8", "replace"), collector)
    if isinstance(value, BaseException):
        # Rendered later with repr(): an exception's message is where buyer data hides.
        return scrub(f"{type(value).__name__}: {value}", collector)
    return value


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: keys, patterns, known secrets and this context's buyer values.

    Runs after `format_exc_info`, so the rendered traceback (`exception`) is scrubbed too;
    the message (`event`) is scrubbed by value but never replaced for its key."""
    collector = PII_COLLECTOR.get()
    for key in list(event_dict):
        if key in _SAFE_KEYS or key.startswith("_"):
            continue  # our own fields, and ProcessorFormatter's `_record` / `_from_structlog`
        value = event_dict[key]
        if key in ("event", "exception", "stack"):
            if isinstance(value, str):
                event_dict[key] = scrub(value, collector)
            continue
        event_dict[key] = _clean(value, key, collector, 0)
    return event_dict


class RedactingFilter(logging.Filter):
    """Scrubs a standard-library record in place: its message (with arguments), traceback
    and stack. For handlers that do not format through `configure_logging`'s formatter (a
    library's own handler); since the record is changed in place, every later handler sees
    the scrubbed record too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_shopbridge_redacted", False):
            return True
        collector = PII_COLLECTOR.get()
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not turn logging into a crash
            message = str(record.msg)
        record.msg = scrub(message, collector)
        record.args = ()
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, collector)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info, collector)
        record._shopbridge_redacted = True
        return True


def _exception_text(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A record a `RedactingFilter` already handled carries its (scrubbed) traceback as
    `exc_text` only; keep it in the output."""
    record = event_dict.get("_record")
    if "exc_info" not in event_dict and isinstance(record, logging.LogRecord) and record.exc_text:
        event_dict["exception"] = record.exc_text
    return event_dict


class _RootHandler(logging.StreamHandler[TextIO]):
    """The handler `configure_logging` puts on the root logger (so it can replace it)."""


def _level(name: str) -> int:
    return logging.getLevelNamesMapping().get(name.upper(), logging.INFO)


def configure_logging(
    level: str = "INFO", fmt: str = "console", *, stream: TextIO | None = None
) -> None:
    """structlog for ShopBridge's own logs, and the root logger for everything else, both
    through the same redaction. Idempotent (reconfiguring replaces the earlier handler).

    Third-party libraries log at WARNING and above unless `level` is DEBUG: httpx alone
    would otherwise write a line per platform call. uvicorn must be run with
    `log_config=None` so its loggers propagate here (`shopbridge serve` does)."""
    out = stream if stream is not None else sys.stderr
    numeric = _level(level)
    colors = stream is None and sys.stderr.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=colors)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # Render tracebacks to text first, so the redaction sees them (and the console
            # renderer cannot print locals).
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )

    handler = _RootHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_logger_name,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.format_exc_info,
                _exception_text,
                redact_processor,
            ],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, _RootHandler):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(numeric if numeric <= logging.DEBUG else max(numeric, logging.WARNING))
    logging.getLogger("shopbridge").setLevel(numeric)
    _guard_foreign_handlers(root, handler)


_SELF_CONFIGURING_LOGGERS: Final = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
"""Loggers a library may give non-propagating handlers of its own *after* we configured
logging (uvicorn's default config does, e.g. for the demo's in-thread sandboxes)."""


def _guard_foreign_handlers(root: logging.Logger, ours: logging.Handler) -> None:
    """Handlers someone else installed (on the root, or on a logger that does not propagate)
    get the redacting filter; so do the self-configuring loggers themselves, since a
    logger's own filters survive a later `dictConfig` that replaces its handlers."""
    handlers: list[logging.Handler] = [h for h in root.handlers if h is not ours]
    for logger in _loggers():
        if not logger.propagate:
            handlers.extend(logger.handlers)
    targets: list[logging.Handler | logging.Logger] = [*handlers]
    targets.extend(logging.getLogger(name) for name in _SELF_CONFIGURING_LOGGERS)
    for target in targets:
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter())


def _loggers() -> Iterable[logging.Logger]:
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            yield logger


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
