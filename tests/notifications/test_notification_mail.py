# ruff: noqa: F811  (fixtures imported by name from webhook_fixtures)
"""Email and SMS notifications: who gets which message, preferences respected, and a
redispatch of the same recipient event sends nothing twice."""

import pytest
from django.core import mail

from notifications.mail import notifications_send
from notifications.models import RecipientEvent
from notifications.preferences import NotificationPreference, SentNotification, SentState
from notifications.sms import MemorySmsBackend
from tests.notifications.webhook_fixtures import (  # noqa: F401
    dispatch_now,
    merchant,
    pay,
    relaxed_risk,
)

USDT = 10**6


@pytest.fixture
def sms(settings):
    settings.FASTPAY_SMS_BACKEND = "notifications.sms.MemorySmsBackend"
    MemorySmsBackend.outbox = []
    return MemorySmsBackend.outbox


@pytest.fixture
def flag(alice, merchant, fund, usdt, relaxed_risk, settings):
    """flag() -> a payment of alice held for review (above the 100 USDT threshold),
    dispatched: the mail sink ran. The mail outbox is emptied first."""
    from wallets.services.payments import PaymentItem, payment_create

    settings.FASTPAY_REVIEW_ABOVE_TOKENS = 100
    fund(alice, usdt, 1_000)

    def _flag():
        dispatch_now()
        mail.outbox.clear()
        payment = payment_create(
            payer=alice, item=PaymentItem(payee=merchant.username, token=usdt, amount=200 * USDT)
        )
        dispatch_now()
        return payment

    return _flag


def send_all():
    """What a redispatch does: the sink's task again, for every row there is."""
    ids = list(RecipientEvent.objects.values_list("id", flat=True))
    return notifications_send(recipient_event_ids=ids)


def test_a_flagged_payment_is_mailed_to_the_payer_only(flag, alice):
    payment = flag()

    assert [m.to for m in mail.outbox] == [[alice.email]]
    (message,) = mail.outbox
    assert "held for review" in message.subject and "200.000000 USDT" in message.subject
    assert str(payment.id) in message.body and "shop" in message.body
    event = RecipientEvent.objects.get(user=alice, type="payment.flagged")
    assert message.extra_headers["X-FastPay-Event-Id"] == str(event.event_id)


def test_the_decision_is_mailed_to_the_payer_not_the_payee(flag, alice, reviewer):
    from wallets.services.payments import payment_approve

    payment = flag()
    mail.outbox.clear()
    payment_approve(payment_id=payment.id, by=reviewer, note="ok")
    dispatch_now()

    assert [(m.to, "approved" in m.subject) for m in mail.outbox] == [([alice.email], True)]


def test_a_redispatch_sends_no_second_email(flag):
    flag()
    counts = send_all()  # the sink's task again with the same rows (a redelivered task)

    assert len(mail.outbox) == 1
    assert counts == {"sent": 0, "failed": 0, "skipped": 1}
    assert SentNotification.objects.get().state == SentState.SENT


def test_the_on_commit_path_mails_once(alice, operator, django_capture_on_commit_callbacks):
    from wallets.services.users import user_suspend

    dispatch_now()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        user_suspend(user_id=alice.pk, by=operator, reason="chargebacks")

    assert [(m.to, m.subject) for m in mail.outbox] == [
        ([alice.email], "Your FastPay account was suspended")
    ]
    assert "chargebacks" in mail.outbox[0].body


def test_account_approval_is_mailed(db, operator):
    from tests.wallets.factories import PendingUserFactory
    from wallets.services.users import user_approve

    pending = PendingUserFactory(username="newbie")
    dispatch_now()
    mail.outbox.clear()
    user_approve(user_id=pending.pk, by=operator)
    dispatch_now()

    assert [(m.to, m.subject) for m in mail.outbox] == [
        ([pending.email], "Your FastPay account was approved")
    ]


def test_a_disabled_webhook_endpoint_is_mailed_to_its_owner(merchant, db):
    from django.db import transaction

    from fastpay.events import event_record

    dispatch_now()
    mail.outbox.clear()
    with transaction.atomic():
        event_record(
            topic="webhook_endpoint.disabled",
            aggregate_type="webhook_endpoint",
            aggregate_id=5,
            payload={
                "endpoint_id": 5,
                "user_id": merchant.pk,
                "url": "https://shop.example/hooks",
                "reason": "410 Gone",
                "failing_since": None,
                "state": "disabled",
            },
        )
    dispatch_now()

    assert [m.to for m in mail.outbox] == [[merchant.email]]
    assert "https://shop.example/hooks" in mail.outbox[0].body


def test_preferences_turn_email_off_and_sms_on(flag, alice, sms):
    NotificationPreference.objects.create(
        user=alice, email_payments=False, sms_payments=True, phone_number="+41791234567"
    )
    flag()

    assert mail.outbox == []
    assert [m["to"] for m in sms] == ["+41791234567"]
    assert "held for review" in sms[0]["text"]


def test_a_user_without_an_email_address_gets_none(flag, alice):
    alice.email = ""
    alice.save(update_fields=["email"])
    flag()

    assert mail.outbox == [] and not SentNotification.objects.exists()


def test_a_backend_failure_is_recorded_and_not_sent_twice(flag, settings):
    settings.EMAIL_BACKEND = "tests.notifications.test_notification_mail.BrokenBackend"

    flag()

    row = SentNotification.objects.get()
    assert row.state == SentState.FAILED and "SMTPException" in row.error
    assert send_all()["skipped"] == 1


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        import smtplib

        raise smtplib.SMTPException("relay refused")


def test_the_sink_queues_only_what_may_need_a_message(alice, merchant, pay, monkeypatch):
    queued = []
    monkeypatch.setattr(
        "notifications.tasks.notifications_send_task.delay", lambda ids: queued.append(ids)
    )
    from notifications.mail import notify

    pay(alice, merchant, 2)  # ledger.adjusted + payment.succeeded: no email for either
    notify(list(RecipientEvent.objects.values_list("id", flat=True)))

    assert queued == []
