"""Retry schedule arithmetic and Standard Webhooks signing, checked against the reference
verifier of the `standardwebhooks` package."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shopbridge.config import Settings
from shopbridge.delivery.schedule import (
    InvalidSchedule,
    RetrySchedule,
    parse_retry_after,
    parse_schedule,
)
from shopbridge.delivery.signing import InvalidSecret, check_secret, generate_secret, sign_headers


def test_default_schedule_spans_more_than_three_days() -> None:
    schedule = RetrySchedule.parse(Settings().webhook_retry_schedule)
    assert schedule.total >= timedelta(days=3)
    assert schedule.delays[0] <= timedelta(seconds=5)
    assert list(schedule.delays) == sorted(schedule.delays)


@pytest.mark.parametrize("text", ["", "5", "5x", "-1s", "1s,,2s", "soon"])
def test_bad_schedules_are_refused(text: str) -> None:
    with pytest.raises(InvalidSchedule):
        parse_schedule(text)


def test_units() -> None:
    assert parse_schedule("5s, 2m,1h,1d,0.5s") == (
        timedelta(seconds=5),
        timedelta(minutes=2),
        timedelta(hours=1),
        timedelta(days=1),
        timedelta(seconds=0.5),
    )


@given(attempt=st.integers(min_value=1, max_value=3), seed=st.integers())
def test_jitter_stays_within_twenty_percent(attempt: int, seed: int) -> None:
    schedule = RetrySchedule.parse("10s,1m,1h")
    delay = schedule.next_delay(attempt, rng=random.Random(seed))
    base = schedule.delays[attempt - 1]
    assert delay is not None
    assert base * 0.8 <= delay <= base * 1.2


def test_exhausted_schedule_means_dead_letter() -> None:
    schedule = RetrySchedule.parse("1s,2s")
    assert schedule.max_attempts == 3
    assert schedule.next_delay(2) is not None
    assert schedule.next_delay(3) is None
    assert schedule.next_delay(0) is None


def test_retry_after_wins_when_longer_and_is_capped() -> None:
    schedule = RetrySchedule.parse("1s")
    assert schedule.next_delay(1, retry_after=timedelta(seconds=30)) == timedelta(seconds=30)
    now = datetime(2026, 11, 11, tzinfo=UTC)
    assert parse_retry_after("120", now) == timedelta(seconds=120)
    assert parse_retry_after("999999999", now) == timedelta(days=1)
    assert parse_retry_after("Wed, 11 Nov 2026 00:01:00 GMT", now) == timedelta(minutes=1)
    assert parse_retry_after("Tue, 10 Nov 2026 00:00:00 GMT", now) == timedelta(0)
    assert parse_retry_after("later please", now) is None
    assert parse_retry_after(None, now) is None


def test_signature_verifies_with_reference_verifier() -> None:
    secret = generate_secret()
    body = b'{"id":"evt_1","type":"order.created","data":{"order":{"id":"ord_1"}}}'
    headers = sign_headers([secret], message_id="evt_1", timestamp=datetime.now(UTC), body=body)
    assert Webhook(secret).verify(body, headers)["id"] == "evt_1"
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"ord_1", b"ord_2"), headers)
    stale = sign_headers(
        [secret], message_id="evt_1", timestamp=datetime.now(UTC) - timedelta(minutes=10), body=body
    )
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, stale)


def test_two_secrets_sign_during_rotation() -> None:
    old, new = generate_secret(), generate_secret()
    body = b"{}"
    headers = sign_headers([new, old], message_id="evt_2", timestamp=datetime.now(UTC), body=body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(body, headers)


@pytest.mark.parametrize(
    "secret", ["whsec_", "secret", "whsec_!!!", "whsec_c2hvcnQ=", "whsec_" + "QUFB" * 30]
)
def test_bad_secrets(secret: str) -> None:
    with pytest.raises(InvalidSecret):
        check_secret(secret)
