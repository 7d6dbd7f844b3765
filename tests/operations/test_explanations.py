"""The explanation catalog: the framework's generic tables plus each platform's own codes,
found through the connector registry; outcomes by error class; bounded metric labels."""

from __future__ import annotations

import pytest

from shopbridge.connectors.errors import (
    AuthExpired,
    ConnectorError,
    MappingError,
    NotFound,
    PushRejected,
    RateLimited,
    Rejected,
    Unavailable,
)
from shopbridge.connectors.explain import (
    GENERIC_CODES,
    GENERIC_OUTCOMES,
    OTHER_CODE,
    OUTCOMES,
    explain,
    outcome_of,
    platform_table,
)


@pytest.mark.parametrize(
    ("code", "outcome", "label", "in_explanation", "in_action"),
    [
        ("7/accesscontrol.limited-by-app-access-count", "rate_limited", "accesscontrol.*",
         "call limit", "Nothing to do"),
        ("7", "rate_limited", "7", "App Call Limited", "Nothing to do"),
        ("11/isv.permission-api-package-limit", "rejected", "isv.permission-api-package-limit",
         "API package", "Grant the app the API package"),
        ("11", "rejected", "11", "permission", "API package"),
        ("15/isp.top-remote-connection-error", "unavailable", "isp.*", "platform-side",
         "retries automatically"),
        ("15", "unavailable", "15", "Remote Service Error", "retries automatically"),
        ("25", "rejected", "25", "signature", "app_secret"),
        ("27/session-expired", "auth_expired", "27", "Invalid Session", "Re-authorise the shop"),
        ("27/invalid-sessionkey", "auth_expired", "27", "expired", "Re-authorise the shop"),
        ("15/isv.invalid-parameter", "rejected", "isv.*", "business reason", "fix the data"),
        ("31", "rejected", "31", "clock", "NTP"),
        ("http_503", "unavailable", "http_503", "server error", "retries automatically"),
        ("http_404", "rejected", "http_404", "base_url", "base_url"),
    ],
)  # fmt: skip
def test_taobao_codes(
    code: str, outcome: str, label: str, in_explanation: str, in_action: str
) -> None:
    explained = explain("taobao", outcome, code)
    assert explained.outcome == outcome
    assert explained.code_label == label
    assert explained.explanation is not None
    assert in_explanation in explained.explanation.explanation
    assert in_action in explained.explanation.action


@pytest.mark.parametrize(
    ("code", "outcome", "label", "in_explanation", "in_action"),
    [
        ("401", "auth_expired", "401", "access token", "Re-authorise the shop"),
        ("402", "rejected", "402", "frozen", "Shopify bill"),
        ("403", "rejected", "403", "access scope", "Grant the app"),
        ("404", "not_found", "404", "deleted", "Check the id"),
        ("423", "rejected", "423", "locked", "Shopify support"),
        ("429", "rate_limited", "429", "call limit", "Nothing to do"),
        ("503", "unavailable", "503", "server error", "retries automatically"),
        ("500", "unavailable", "500", "server error", "retries automatically"),
        ("422", "rejected", "422", "validation", "fix the data"),
    ],
)
def test_shopify_codes(
    code: str, outcome: str, label: str, in_explanation: str, in_action: str
) -> None:
    explained = explain("shopify", outcome, code)
    assert explained.code_label == label
    assert explained.explanation is not None
    assert in_explanation in explained.explanation.explanation
    assert in_action in explained.explanation.action


def test_shared_codes_come_from_the_framework() -> None:
    for platform in ("shopify", "taobao", "no-such-platform"):
        timeout = explain(platform, "timeout", "timeout")
        assert timeout.code_label == "timeout"
        assert timeout.explanation is not None
        assert "retries automatically" in timeout.explanation.action
        signature = explain(platform, "rejected", "bad_signature")
        assert signature.explanation is not None
        assert "app_secret" in signature.explanation.action


def test_unknown_codes_get_the_generic_explanation_and_the_other_label() -> None:
    explained = explain("taobao", "rejected", "99/something.unheard-of")
    assert explained.code_label == OTHER_CODE
    assert explained.explanation is not None
    assert explained.explanation.action == GENERIC_OUTCOMES["rejected"].action
    # a business "not found" keeps the not-found wording, not the isv.* one
    missing = explain("taobao", "not_found", "15/isv.trade-not-exist")
    assert missing.explanation == GENERIC_OUTCOMES["not_found"]
    assert explain("shopify", "ok", None).explanation is None
    assert explain("shopify", "error", None).explanation == GENERIC_OUTCOMES["error"]


def test_metric_labels_stay_bounded_whatever_the_platform_invents() -> None:
    labels = {
        explain("taobao", "rejected", f"15/isv.invented-code-{n}").code_label for n in range(500)
    }
    labels |= {explain("shopify", "rejected", f"x{n}").code_label for n in range(500)}
    assert labels == {"isv.*", OTHER_CODE}


def test_every_table_says_what_to_do() -> None:
    tables = [GENERIC_CODES, platform_table("taobao"), platform_table("shopify")]
    assert all(table is not None for table in tables)
    for table in tables:
        assert table is not None
        for entry in table.entries:
            assert entry.explanation.strip() and entry.action.strip(), entry.code
            assert entry.outcomes <= set(OUTCOMES), entry.code
    for outcome in OUTCOMES:
        assert outcome == "ok" or outcome in GENERIC_OUTCOMES
    assert platform_table("no-such-platform") is None


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (RateLimited("x", retry_after=1), "rate_limited"),
        (AuthExpired("x"), "auth_expired"),
        (Unavailable("x", code="timeout"), "timeout"),
        (Unavailable("x", code="cancelled"), "timeout"),
        (Unavailable("x", code="503"), "unavailable"),
        (Rejected("x", reason="x"), "rejected"),
        (PushRejected("x"), "rejected"),
        (NotFound("x"), "not_found"),
        (MappingError("x"), "invalid_response"),
        (ConnectorError("x"), "error"),
    ],
)
def test_outcomes_by_error_class(error: ConnectorError, outcome: str) -> None:
    assert outcome_of(error) == outcome
    assert outcome_of(type(error).__name__, error.code) == outcome
    assert outcome_of(None) == outcome_of("ok") == "ok"
