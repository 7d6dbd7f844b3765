"""Logs never carry buyer data or secrets: whatever the call site did, the written line is
scrubbed. Each test logs recognisable markers (names, phones, e-mails, tokens) the way real
code leaks them (structured fields, messages, exception messages, tracebacks, pydantic errors,
third-party loggers) and checks the rendered output: markers gone, the rest kept."""

from __future__ import annotations

import asyncio
import copy
import gc
import io
import json
import logging
import logging.config
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import structlog
from pydantic import BaseModel, ValidationError

from shopbridge.core import Order
from shopbridge.core.sensitive import Sensitive, SensitiveKind
from shopbridge.logging import (
    PII_COLLECTOR,
    REDACTED,
    PiiCollector,
    RedactingFilter,
    collect_pii,
    configure_logging,
    get_logger,
    redact_processor,
    register_credentials,
    register_secret,
    scrub,
)
from tests.factories import order_doc


def marker(prefix: str = "Mk") -> str:
    """A unique ASCII word no pattern would catch on its own (only its context can)."""
    return f"{prefix}{secrets.token_hex(5)}"


class Logs:
    """What `configure_logging` wrote, for one test."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def assert_clean(self, *markers: str) -> None:
        text = self.text
        leaked = [m for m in markers if m in text]
        assert not leaked, f"leaked {leaked} in:\n{text}"


@pytest.fixture
def logs(request: pytest.FixtureRequest) -> Iterator[Logs]:
    """`configure_logging` into a buffer; the global logging state is restored afterwards
    (other tests in the session must not inherit our handlers or filters)."""
    fmt = getattr(request, "param", "console")
    with _restored_logging():
        # As under `shopbridge serve` (uvicorn with log_config=None): an earlier test may have
        # run uvicorn with its own logging config, whose loggers stop propagating.
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
            uvicorn_logger = logging.getLogger(name)
            uvicorn_logger.handlers.clear()
            uvicorn_logger.propagate = True
            uvicorn_logger.disabled = False
        stream = io.StringIO()
        configure_logging("INFO", fmt, stream=stream)
        yield Logs(stream)


@contextmanager
def _restored_logging() -> Iterator[None]:
    saved = structlog.get_config()
    for name in ("shopbridge", "uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        logging.getLogger(name)  # exist before the snapshot, so they are restored too
    loggers = [logging.getLogger(), *_loggers()]
    state = {
        id(lg): (lg.level, lg.propagate, list(lg.handlers), list(lg.filters)) for lg in loggers
    }
    handlers = {h for lg in loggers for h in lg.handlers}
    handler_filters = {id(h): list(h.filters) for h in handlers}
    try:
        yield
    finally:
        structlog.configure(**saved)
        for lg in [logging.getLogger(), *_loggers()]:
            if id(lg) not in state:
                continue
            level, propagate, saved_handlers, filters = state[id(lg)]
            lg.setLevel(level)
            lg.propagate = propagate
            lg.handlers[:] = saved_handlers
            lg.filters[:] = filters
        for handler in handlers:
            handler.filters[:] = handler_filters[id(handler)]


def _loggers() -> list[logging.Logger]:
    return [lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]


# -- structlog: fields, messages, exceptions ----------------------------------------------------


def test_sensitive_keys_are_replaced_whole(logs: Logs) -> None:
    name, street = marker("Name"), marker("Street")
    get_logger("test").info(
        "order_seen",
        order_id="3028689418086124",
        receiver={"name": name, "address": {"lines": [street]}},
        buyer_email=f"{marker()}@example.com",
        access_token=marker("tok"),
    )
    logs.assert_clean(name, street, "@example.com")
    assert "order_seen" in logs.text and "3028689418086124" in logs.text


def test_values_in_messages_and_fields_are_scrubbed(logs: Logs) -> None:
    log = get_logger("test")
    email = f"{marker('buyer')}@example.com"
    phones = ["13812345678", "+86 139 8765 4321", "+86-137-1111-2222", "+8615000001111"]
    privacy_number = "18877771111-123"
    tokens = [
        "sbk_" + secrets.token_urlsafe(30),
        "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw+/=",
        "shpat_" + secrets.token_hex(16),
        "shpca_" + secrets.token_hex(16),
        "shppa_" + secrets.token_hex(16),
        "shpss_" + secrets.token_hex(16),
    ]
    bearer = secrets.token_urlsafe(20)
    log.info(f"calling buyer {phones[0]} / {email} about order 3028689418086124")
    log.warning("contact", note=f"电话{phones[1]}，或 {phones[2]}；虚拟号 {privacy_number}")
    log.warning("glued", detail=f"tel:{phones[3]}")
    log.error("auth", header=f"Authorization: Bearer {bearer}", tokens=tokens)
    body = logs.text
    for secret in [email, *phones, privacy_number, *tokens, bearer]:
        assert secret not in body, secret
    assert "13812345678" not in body and "3987654321" not in body.replace(" ", "")
    assert "calling buyer" in body and "3028689418086124" in body  # the rest is kept
    assert "Bearer [redacted]" in body


def test_secret_parameters_keep_their_names(logs: Logs) -> None:
    sign, session = marker("SIGN").upper(), marker("sess")
    url = (
        "https://eco.taobao.com/router/rest?app_key=12345678&method=taobao.trade.get"
        f"&sign={sign}&sign_method=hmac-sha256&session={session}&timestamp=2026-11-11"
    )
    get_logger("test").warning("platform_call_failed", url=url)
    get_logger("test").warning(f"form: client_secret={marker('cs')}&password={marker('pw')}")
    logs.assert_clean(sign, session)
    assert "sign=[redacted]" in logs.text and "session=[redacted]" in logs.text
    assert "app_key=12345678" in logs.text and "sign_method=hmac-sha256" in logs.text
    assert "client_secret=[redacted]" in logs.text and "password=[redacted]" in logs.text


def test_exception_messages_and_tracebacks_are_scrubbed(logs: Logs) -> None:
    email = f"{marker('ex')}@example.org"
    token = "shpat_" + secrets.token_hex(16)
    try:
        try:
            raise KeyError(f"no phone 13912345678 for {email}")
        except KeyError as inner:
            raise RuntimeError(f"lookup failed with {token}") from inner
    except RuntimeError as exc:
        get_logger("test").exception("mapping_failed", shop_id="shop_1")
        get_logger("test").error("as_value", error=exc)
    logs.assert_clean(email, token, "13912345678")
    assert "Traceback" in logs.text and "RuntimeError" in logs.text
    assert "mapping_failed" in logs.text and "shop_1" in logs.text


class _Receiver(BaseModel):
    name: str
    phone: str


class _OrderLike(BaseModel):
    """Shaped like a platform order as an API schema or an SDK model declares it: plain
    pydantic, whose errors echo the offending input (ShopBridge's own `Order` hides it)."""

    order_id: str
    quantity: int
    receiver: _Receiver


def test_pydantic_validation_errors_lose_the_echoed_input(logs: Logs) -> None:
    name = marker("Buyer")
    payload = {
        "order_id": "5501000001",
        "quantity": f"two for {name}",
        "receiver": {"name": [name], "phone": 13812345678},
    }
    with pytest.raises(ValidationError) as caught:
        _OrderLike.model_validate(payload)
    assert name in str(caught.value)  # the danger is real...
    try:
        _OrderLike.model_validate(payload)
    except ValidationError as exc:
        get_logger("test").exception("order_invalid")
        get_logger("test").warning(f"invalid order: {exc}", errors=exc.errors())
        logging.getLogger("uvicorn.error").error("validation: %s", exc)
    logs.assert_clean(name, "13812345678")  # ...and gone from the log
    assert "input_value=[redacted]" in logs.text
    assert "receiver.name" in logs.text and "order_invalid" in logs.text


def test_the_unified_order_never_echoes_buyer_input(logs: Logs) -> None:
    name = marker("Buyer")
    doc = order_doc()
    doc["receiver"]["name"] = [name]
    try:
        Order.model_validate(doc)
    except ValidationError:
        get_logger("test").exception("order_invalid")
    logs.assert_clean(name)
    assert "receiver.name" in logs.text


@pytest.mark.parametrize("logs", ["json"], indirect=True)
def test_json_lines_are_scrubbed_too(logs: Logs) -> None:
    email = f"{marker('j')}@example.com"
    get_logger("test").info(f"mail {email}", phone_number_seen="13812345678", count=3)
    logging.getLogger("httpx").warning("HTTP Request: POST https://x/y?token=%s", marker("t"))
    lines = [json.loads(line) for line in logs.text.splitlines() if line.strip()]
    assert lines[0]["event"] == f"mail {REDACTED}" and lines[0]["count"] == 3
    assert lines[0]["phone_number_seen"] == REDACTED
    assert lines[1]["event"].endswith("?token=[redacted]") and lines[1]["logger"] == "httpx"
    logs.assert_clean(email)


# -- standard library loggers -----------------------------------------------------------------


def test_stdlib_loggers_go_through_the_same_redaction(logs: Logs) -> None:
    email, sign = f"{marker('u')}@example.com", marker("S")
    logging.getLogger("uvicorn.error").error("client %s sent a bad request", email)
    logging.getLogger("httpx").warning(
        "HTTP Request: GET %s", f"https://eco.taobao.com/router/rest?sign={sign}&v=2.0"
    )
    logging.getLogger("sqlalchemy.engine").warning("params: ('13612345678', %r)", email)
    logging.getLogger("shopbridge.sandbox.shopify").info("orders seeded")
    try:
        raise ValueError(f"buyer phone 13712345678, mail {email}")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    logs.assert_clean(email, sign, "13612345678", "13712345678")
    for kept in ("bad request", "HTTP Request: GET", "v=2.0", "orders seeded", "ValueError"):
        assert kept in logs.text, kept
    assert "Traceback" in logs.text


def test_third_party_info_is_quiet_unless_debug(logs: Logs) -> None:
    logging.getLogger("httpx").info("HTTP Request: GET https://example.com 200")
    get_logger("shopbridge.sync").info("sync_worker_started")
    assert "HTTP Request" not in logs.text and "sync_worker_started" in logs.text


def test_task_exception_never_retrieved_is_scrubbed(logs: Logs) -> None:
    email = f"{marker('task')}@example.com"

    async def boom() -> None:
        raise RuntimeError(f"could not reach buyer {email} at 15912345678")

    async def main() -> None:
        task: asyncio.Task[None] | None = asyncio.get_running_loop().create_task(boom())
        await asyncio.sleep(0.01)
        del task  # never awaited: asyncio logs it when the task is collected
        gc.collect()

    runner = threading.Thread(target=lambda: asyncio.run(main()))
    runner.start()
    runner.join(timeout=10)
    assert "Task exception was never retrieved" in logs.text
    logs.assert_clean(email, "15912345678")
    assert "RuntimeError" in logs.text


def test_foreign_handlers_get_the_redacting_filter() -> None:
    """A handler someone else put on a non-propagating logger before we configured."""
    stream = io.StringIO()
    with _restored_logging():
        foreign = logging.getLogger(f"foreign.{secrets.token_hex(3)}")
        foreign.propagate = False
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        foreign.addHandler(handler)
        configure_logging("INFO", stream=io.StringIO())
        email = f"{marker('f')}@example.com"
        try:
            raise ValueError(email)
        except ValueError:
            foreign.exception("failed for %s", email)
        foreign.removeHandler(handler)
    assert email not in stream.getvalue()
    assert "ValueError" in stream.getvalue() and "failed for [redacted]" in stream.getvalue()


def test_uvicorn_configuring_its_logging_afterwards_is_still_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The demo starts sandboxes under uvicorn's default logging config after
    `configure_logging`: uvicorn's loggers get handlers of their own that do not propagate."""
    from uvicorn.config import LOGGING_CONFIG

    email = f"{marker('uv')}@example.com"
    with _restored_logging():
        configure_logging("INFO", stream=io.StringIO())
        logging.config.dictConfig(copy.deepcopy(LOGGING_CONFIG))
        logging.getLogger("uvicorn.error").warning("bad request from %s", email)
        try:
            raise ValueError(f"buyer 13512345678 {email}")
        except ValueError:
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    err = capsys.readouterr().err
    assert "bad request from [redacted]" in err and "ValueError" in err
    assert email not in err and "13512345678" not in err


def test_redacting_filter_survives_bad_format_strings() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "%d items for %s", ("a",), None)
    assert RedactingFilter().filter(record)
    assert record.args == () and "%d items" in record.getMessage()


# -- known secrets ----------------------------------------------------------------------------


def test_registered_secrets_are_scrubbed_wherever_they_appear(logs: Logs) -> None:
    app_secret, session = secrets.token_hex(16), "6100" + secrets.token_hex(20)
    register_credentials(
        {"app_key": "12345678", "app_secret": app_secret, "session": session, "shop": "x"}
    )
    odd = "p@ss " + secrets.token_hex(2)  # no long run of letters and digits
    register_secret(odd)
    log = get_logger("test")
    log.info(f"string to sign: {app_secret}app_key12345678format_json{app_secret}")
    log.warning("retry", detail=f"session {session} expired")
    logging.getLogger("httpx").warning("sent %s", {"creds": [session], "x": odd})
    logs.assert_clean(app_secret, session, odd)
    assert "app_key12345678format_json" in logs.text  # the public parts stay


def test_the_secret_registry_is_bounded() -> None:
    from shopbridge.logging import _SecretRegistry

    registry = _SecretRegistry(capacity=4, odd_capacity=2)
    values = [secrets.token_hex(12) for _ in range(10)]
    for value in values:
        registry.add(value)
        registry.add(value)  # registering again is a no-op
    assert len(registry) == 4
    scrubbed = registry.scrub(" ".join(values))
    assert all(v not in scrubbed for v in values[-4:])
    assert all(v in scrubbed for v in values[:6])  # forgotten, oldest first

    odd = _SecretRegistry(capacity=10, odd_capacity=2)
    for value in ("p@ss-1234", "p@ss-5678", "p@ss-9999"):  # no run of 8 letters/digits
        odd.add(value)
    assert len(odd) == 2
    assert odd.scrub("p@ss-1234 p@ss-9999") == "[redacted] p@ss-9999"


def test_short_values_are_not_registered() -> None:
    register_secret("s")
    register_secret("1234567")
    assert scrub("session s of 1234567 items") == "session s of 1234567 items"


def test_open_credentials_registers_the_shop_secrets(tmp_path: Path) -> None:
    from shopbridge.storage.crypto import SecretBox, generate_key
    from shopbridge.storage.shops import ShopRepository, open_credentials
    from shopbridge.storage.tables import ShopRow

    box = SecretBox.from_config(generate_key(), tmp_path / "unused.key")
    secret = secrets.token_hex(16)
    creds = {"app_key": "12345678", "app_secret": secret}
    row = ShopRow(id="shop_reg")
    ShopRepository(None, "ten_x", box)._seal(row, creds)  # type: ignore[arg-type]
    assert scrub(f"is {secret}") == f"is {secret}"  # not known yet
    assert open_credentials(box, row) == creds
    assert scrub(f"secret={secret} and {secret}") == "secret=[redacted] and [redacted]"
    assert scrub("app_key 12345678") == "app_key 12345678"


# -- buyer values of the current context ------------------------------------------------------


def test_buyer_values_seen_in_the_context_are_scrubbed(logs: Logs) -> None:
    name, street = f"{marker('Zy')} Qwop", f"{marker('Road')} 478 号"
    log = get_logger("test")
    with collect_pii() as collector:
        doc = order_doc()
        doc["receiver"]["name"] = name
        doc["receiver"]["address"]["lines"] = [street]
        order = Order.model_validate(doc)  # the mapping builds Sensitive values
        assert name in collector and street in collector
        try:
            raise ValueError(f"platform said: address {street} of {name} is not deliverable")
        except ValueError:
            log.exception("ship_failed", order_id=order.platform_order_id)
        logging.getLogger("httpx").warning("response mentions %s", name)
        log.info(f"short name: {order.receiver and order.receiver.name}")  # masked anyway
    assert PII_COLLECTOR.get() is None
    logs.assert_clean(name, street)
    assert "ship_failed" in logs.text and "not deliverable" in logs.text


def test_short_ascii_values_match_whole_words_only() -> None:
    collector = PiiCollector()
    collector.add("Li")
    collector.add("欧阳")
    text = "Li: Limit reached for 欧阳娜娜 (Li)"
    assert scrub(text, collector) == "[redacted]: Limit reached for [redacted]娜娜 ([redacted])"


def test_the_collector_is_bounded_and_only_active_inside() -> None:
    assert PII_COLLECTOR.get() is None
    Sensitive("Outside Name", SensitiveKind.NAME)  # no collector: nothing is kept
    with collect_pii(capacity=16) as collector:
        with collect_pii() as inner:
            assert inner is collector  # nested use joins the outer collector
        for i in range(100):
            Sensitive(f"Buyer Number{i}", SensitiveKind.NAME)
        assert len(collector) == 16
        assert "Buyer Number99" in collector and "Buyer Number0" not in collector
        assert "Outside Name" not in collector
    assert PII_COLLECTOR.get() is None


async def test_collectors_do_not_cross_tasks() -> None:
    seen: dict[str, list[str]] = {}

    async def intake(label: str) -> None:
        with collect_pii() as collector:
            Sensitive(f"{label} Buyer", SensitiveKind.NAME)
            await asyncio.sleep(0.01)
            seen[label] = list(collector)

    await asyncio.gather(intake("first"), intake("second"))
    assert seen == {"first": ["first Buyer"], "second": ["second Buyer"]}


# -- speed ------------------------------------------------------------------------------------


def test_the_processor_stays_cheap() -> None:
    """It runs on every log line: a typical one must cost microseconds, not milliseconds."""

    def event() -> dict[str, Any]:
        return {
            "event": "shop_sync_failed",
            "shop_id": "shop_01HABCDEFGHJKMNPQRSTV",
            "error_type": "Unavailable",
            "timestamp": "2026-12-04T01:34:55.123456Z",
            "url": "https://acme.myshopify.com/admin/api/2026-10/orders.json?limit=250",
        }

    runs = 2000
    started = time.perf_counter()
    for _ in range(runs):
        redact_processor(None, "warning", event())
    per_line = (time.perf_counter() - started) / runs
    assert per_line < 0.0005, f"{per_line * 1e6:.0f} us per line"
