# ruff: noqa: F811 - the fixtures imported from webhook_fixtures are parameters here
"""Webhook deliveries to real HTTP receivers on 127.0.0.1: signatures verified with the
`standardwebhooks` library, retries with backoff, Retry-After, 410, timeouts, rotation,
and no event of one merchant ever reaching another's endpoint."""

import binascii
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from notifications.models import DeliveryState, RecipientEvent, WebhookDelivery, WebhookEndpoint
from notifications.webhooks import schedule
from notifications.webhooks.delivery import deliveries_attempt
from notifications.webhooks.services import secret_rotate
from tests.notifications.webhook_fixtures import (  # noqa: F401
    dispatch_now,
    endpoint_for,
    merchant,
    other_merchant,
    pay,
    relaxed_risk,
    webhooks_private,
)
from tests.notifications.webhook_receivers import Answer, Receiver

pytestmark = pytest.mark.usefixtures("relaxed_risk")


def verify(secret: str, received) -> dict:
    """What a receiver does (docs/webhooks.md): the raw body and the three headers.
    standardwebhooks 1.1.0 raises binascii.Error for a malformed entry: wrapped."""
    try:
        return Webhook(secret).verify(received.body, received.headers)
    except binascii.Error as exc:
        raise WebhookVerificationError(str(exc)) from exc


def later(seconds: float):
    return timezone.now() + timedelta(seconds=seconds)


def backoff(delivery) -> timedelta:
    """The wait chosen after the delivery's last attempt (from when it was recorded)."""
    attempt = delivery.log.order_by("-attempted_at").first()
    recorded = attempt.attempted_at + timedelta(milliseconds=attempt.latency_ms)
    return delivery.next_attempt_at - recorded


def test_a_payment_is_posted_signed_as_standard_webhooks_says(alice, merchant, pay, endpoint_for):
    with Receiver() as receiver:
        endpoint, secret = endpoint_for(merchant, receiver.url, ["payment.succeeded"])
        payment = pay(alice, merchant, 5)
        (got,) = receiver.wait_for(1)

    body = verify(secret, got)
    assert body["type"] == "payment.succeeded" and body["sequence"] == 1
    assert body["data"]["payment_id"] == str(payment.id)
    assert body["data"]["amount"] == "5.000000" and body["data"]["amount_units"] == 5_000_000
    assert got.headers["webhook-id"] == body["id"]
    assert got.headers["content-type"] == "application/json"
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.state == DeliveryState.SUCCEEDED and delivery.last_status_code == 200
    (attempt,) = delivery.log.all()
    assert attempt.status_code == 200 and attempt.response_excerpt == "ok"


def test_a_tampered_body_or_wrong_secret_fails_verification(alice, merchant, pay, endpoint_for):
    with Receiver() as receiver:
        _, secret = endpoint_for(merchant, receiver.url)
        pay(alice, merchant, 1)
        (got,) = receiver.wait_for(1)

    got.body = got.body.replace(b'"1.000000"', b'"9.000000"')
    with pytest.raises(WebhookVerificationError):
        verify(secret, got)
    _, other = WebhookEndpoint(), "whsec_" + "A" * 43 + "="
    with pytest.raises(WebhookVerificationError):
        verify(other, got)


def test_only_the_subscribed_types_are_sent(alice, merchant, pay, endpoint_for):
    with Receiver() as receiver:
        endpoint_for(merchant, receiver.url, ["payment.refunded"])
        pay(alice, merchant, 1)

    assert receiver.received == []
    assert not WebhookDelivery.objects.exists()


def test_a_500_is_retried_with_backoff_then_a_200_succeeds_with_the_same_id(
    alice, merchant, pay, endpoint_for
):
    with Receiver(Answer(500, body=b"boom"), Answer(200)) as receiver:
        endpoint, secret = endpoint_for(merchant, receiver.url)
        pay(alice, merchant, 1)
        delivery = WebhookDelivery.objects.get(endpoint=endpoint)
        delivery.refresh_from_db()
        assert delivery.state == DeliveryState.PENDING and delivery.attempts == 1
        assert timedelta(seconds=5) <= backoff(delivery) <= timedelta(seconds=6)  # 5 s + jitter
        early = delivery.next_attempt_at - timedelta(seconds=1)
        assert deliveries_attempt(now=early)["succeeded"] == 0  # not due yet

        assert deliveries_attempt(now=later(7))["succeeded"] == 1
        first, second = receiver.wait_for(2)

    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert verify(secret, second)["id"] == first.headers["webhook-id"]
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SUCCEEDED
    assert [a.status_code for a in delivery.log.order_by("attempted_at")] == [500, 200]
    assert delivery.log.order_by("attempted_at").first().response_excerpt == "boom"
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_a_timeout_is_logged_and_retried(alice, merchant, pay, endpoint_for):
    with Receiver(Answer(200, delay_s=2.5)) as receiver:  # read timeout is 1 s here
        endpoint, _ = endpoint_for(merchant, receiver.url)
        pay(alice, merchant, 1)
        receiver.wait_for(1)

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.state == DeliveryState.PENDING and delivery.attempts == 1
    (attempt,) = delivery.log.all()
    assert attempt.status_code is None and attempt.error.startswith("timeout")
    assert 900 <= attempt.latency_ms < 2500
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None


def test_a_429_with_retry_after_waits_that_long(alice, merchant, pay, endpoint_for):
    with Receiver(Answer(429, headers={"Retry-After": "120"}), Answer(200)) as receiver:
        endpoint, _ = endpoint_for(merchant, receiver.url)
        pay(alice, merchant, 1)
        delivery = WebhookDelivery.objects.get(endpoint=endpoint)
        assert backoff(delivery) == timedelta(seconds=120)

        assert deliveries_attempt(now=later(60))["succeeded"] == 0
        assert deliveries_attempt(now=later(125))["succeeded"] == 1
        assert len(receiver.wait_for(2)) == 2


def test_a_410_disables_the_endpoint_and_tells_its_owner_and_staff(
    alice, merchant, pay, endpoint_for
):
    with Receiver(Answer(410)) as receiver:
        endpoint, _ = endpoint_for(merchant, receiver.url)
        pay(alice, merchant, 1)
        receiver.wait_for(1)
        pay(alice, merchant, 1)  # no second POST: the endpoint is off

        assert len(receiver.received) == 1
    endpoint.refresh_from_db()
    assert not endpoint.enabled and "410" in endpoint.disabled_reason
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.state == DeliveryState.FAILED
    notices = RecipientEvent.objects.filter(type="webhook_endpoint.disabled")
    assert {(n.audience, n.user_id) for n in notices} == {("user", merchant.pk), ("staff", None)}
    assert notices.first().event.payload["endpoint_id"] == endpoint.pk


def test_an_endpoint_failing_for_days_is_disabled(alice, merchant, pay, endpoint_for, settings):
    with Receiver(Answer(503)) as receiver:
        endpoint, _ = endpoint_for(merchant, receiver.url)
        pay(alice, merchant, 1)
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            failing_since=timezone.now() - timedelta(days=4)
        )
        assert deliveries_attempt(now=later(10))["retry"] == 1
        receiver.wait_for(2)

    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_reason.startswith("failing since")
    dispatch_now()
    assert RecipientEvent.objects.filter(type="webhook_endpoint.disabled", user=merchant).exists()


def test_a_delivery_is_given_up_after_the_last_attempt(alice, merchant, pay, endpoint_for):
    with Receiver(Answer(500)) as receiver:
        endpoint, _ = endpoint_for(merchant, receiver.url)
        pay(alice, merchant, 1)
        WebhookDelivery.objects.filter(endpoint=endpoint).update(attempts=schedule.MAX_ATTEMPTS - 1)
        deliveries_attempt(now=later(10))
        receiver.wait_for(2)

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.state == DeliveryState.FAILED and delivery.next_attempt_at is None


def test_the_schedule_spans_about_three_days_and_grows():
    delays = [schedule.retry_delay(n, rng=schedule._NoJitter) for n in range(1, 11)]
    assert delays == sorted(delays) and delays[0] == timedelta(seconds=5)
    assert timedelta(days=3) <= schedule.total_window() <= timedelta(days=3.5)
    jittered = {schedule.retry_delay(3).total_seconds() for _ in range(20)}
    assert len(jittered) > 1 and all(80 <= d <= 96 for d in jittered)


class TestRotation:
    def test_both_secrets_verify_during_the_grace_period(self, alice, merchant, pay, endpoint_for):
        with Receiver() as receiver:
            endpoint, old = endpoint_for(merchant, receiver.url)
            _, new = secret_rotate(user=merchant, endpoint_id=endpoint.pk, grace_s=3600)
            pay(alice, merchant, 1)
            (got,) = receiver.wait_for(1)

        assert len(got.headers["webhook-signature"].split(" ")) == 2
        assert verify(old, got)["type"] == "payment.succeeded"
        assert verify(new, got)["type"] == "payment.succeeded"

    def test_the_old_secret_is_refused_after_the_grace_period(
        self, alice, merchant, pay, endpoint_for
    ):
        with Receiver() as receiver:
            endpoint, old = endpoint_for(merchant, receiver.url)
            _, new = secret_rotate(user=merchant, endpoint_id=endpoint.pk, grace_s=3600)
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
                previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
            )
            pay(alice, merchant, 1)
            (got,) = receiver.wait_for(1)

        assert len(got.headers["webhook-signature"].split(" ")) == 1
        assert verify(new, got)
        with pytest.raises(WebhookVerificationError):
            verify(old, got)

    def test_a_delivery_replayed_later_is_refused_by_its_timestamp(
        self, alice, merchant, pay, endpoint_for, monkeypatch
    ):
        """An attacker who captured a delivery sends it again ten minutes later: the
        signature still matches, the timestamp is outside the 5-minute window."""
        import standardwebhooks.webhooks as library

        with Receiver() as receiver:
            _, secret = endpoint_for(merchant, receiver.url)
            pay(alice, merchant, 1)
            (got,) = receiver.wait_for(1)
        assert verify(secret, got)  # fresh: accepted

        class Later(library.datetime):
            @classmethod
            def now(cls, tz=None):
                return super().now(tz) + timedelta(minutes=10)

        monkeypatch.setattr(library, "datetime", Later)
        with pytest.raises(WebhookVerificationError, match="too old"):
            verify(secret, got)

    def test_a_changed_timestamp_breaks_the_signature(self, alice, merchant, pay, endpoint_for):
        with Receiver() as receiver:
            _, secret = endpoint_for(merchant, receiver.url)
            pay(alice, merchant, 1)
            (got,) = receiver.wait_for(1)

        got.headers["webhook-timestamp"] = str(int(got.headers["webhook-timestamp"]) + 1)
        with pytest.raises(WebhookVerificationError):
            verify(secret, got)


def test_a_merchant_never_receives_another_merchants_event(
    alice, merchant, other_merchant, pay, endpoint_for
):
    with Receiver() as mine, Receiver() as theirs:
        endpoint_for(merchant, mine.url)
        endpoint_for(other_merchant, theirs.url)
        pay(alice, merchant, 2)
        mine.wait_for(1)

    assert [r.json["data"]["payee_id"] for r in mine.received] == [merchant.pk]
    assert theirs.received == []


def _docs_verify():
    """The no-library receiver check of docs/webhooks.md, run as written there."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    blocks = text.split("```python\n")[1:]
    (code,) = [b.split("```", 1)[0] for b in blocks if "def verify(" in b]
    namespace: dict = {}
    exec(compile(code, "docs/webhooks.md", "exec"), namespace)  # our own docs
    return namespace["verify"]


def test_the_documented_receiver_check_accepts_ours_and_refuses_a_tampered_body(
    alice, merchant, pay, endpoint_for
):
    verify_as_documented = _docs_verify()
    with Receiver() as receiver:
        _, secret = endpoint_for(merchant, receiver.url)
        pay(alice, merchant, 1)
        (got,) = receiver.wait_for(1)

    assert verify_as_documented(secret, got.headers, got.body) is True
    assert verify_as_documented(secret, got.headers, got.body.replace(b"1.0", b"9.0")) is False
    _, other = endpoint_for(merchant, receiver.url)
    assert verify_as_documented(other, got.headers, got.body) is False
