# ruff: noqa: F811 - the fixtures imported from webhook_fixtures are parameters here
"""The dispatcher: outbox events become numbered events of their recipients, at least
once, on commit and by the beat sweep."""

import pytest
from django.db import transaction

from fastpay.events import event_record
from fastpay.models import OutboxEvent
from notifications.dispatch import outbox_dispatch, outbox_dispatch_all
from notifications.models import Audience, RecipientEvent
from notifications.tasks import events_sweep_task
from tests.notifications.webhook_fixtures import dispatch_now, merchant, pay, relaxed_risk  # noqa: F401

pytestmark = pytest.mark.usefixtures("relaxed_risk")


def _stream(user):
    return list(
        RecipientEvent.objects.filter(user=user)
        .order_by("sequence")
        .values_list("type", "sequence")
    )


def test_a_payment_reaches_its_payer_and_payee_numbered_from_one(alice, merchant, pay):
    pay(alice, merchant, 3)

    assert _stream(alice) == [("ledger.adjusted", 1), ("payment.succeeded", 2)]
    assert _stream(merchant) == [("payment.succeeded", 1)]
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()


def test_the_payload_carries_amount_strings_units_ids_and_state(alice, merchant, pay):
    payment = pay(alice, merchant, 3)

    data = RecipientEvent.objects.get(user=merchant, type="payment.succeeded").event.payload
    assert data["amount"] == "3.000000" and data["amount_units"] == 3_000_000
    assert data["payment_id"] == str(payment.id) and data["state"] == "success"
    assert (data["payer_id"], data["payee_id"]) == (alice.pk, merchant.pk)


def test_staff_events_go_to_the_staff_stream_only(alice, operator):
    from wallets.services.users import user_suspend

    user_suspend(user_id=alice.pk, by=operator, reason="test")
    dispatch_now()

    rows = RecipientEvent.objects.filter(type="user.suspended")
    assert sorted(r.audience for r in rows) == [Audience.STAFF, Audience.USER]
    assert rows.get(audience=Audience.STAFF).user_id is None


def test_an_unknown_topic_goes_to_staff_and_is_not_stuck(db):
    with transaction.atomic():
        event_record(topic="nobody.knows", aggregate_type="x", aggregate_id=1, payload={})

    dispatch_now()

    row = RecipientEvent.objects.get(type="nobody.knows")
    assert row.audience == Audience.STAFF
    assert OutboxEvent.objects.get(topic="nobody.knows").dispatched_at is not None


def test_an_event_is_dispatched_once_however_often_the_dispatcher_runs(alice, merchant, pay):
    pay(alice, merchant, 1)
    before = RecipientEvent.objects.count()

    assert outbox_dispatch() == [] and outbox_dispatch_all() == 0
    assert RecipientEvent.objects.count() == before


def test_the_commit_queues_the_dispatch(alice, merchant, pay, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        pay(alice, merchant, 2, dispatch=False)

    assert len(callbacks) >= 1  # one per transaction that recorded events
    assert _stream(merchant) == [("payment.succeeded", 1)]


def test_one_callback_per_transaction_however_many_events(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        for n in range(5):
            event_record(topic="user.signed_up", aggregate_type="user", aggregate_id=n, payload={})

    assert len(callbacks) == 1


def test_a_rolled_back_transaction_dispatches_nothing(db, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(ZeroDivisionError),
        transaction.atomic(),
    ):
        event_record(topic="user.signed_up", aggregate_type="user", aggregate_id=1, payload={})
        1 / 0  # noqa: B018

    assert callbacks == [] and not RecipientEvent.objects.exists()


def test_the_beat_sweep_dispatches_what_no_task_did(alice, merchant, pay):
    """A lost on-commit task (the broker down, a worker gone): the sweep finds the rows."""
    pay(alice, merchant, 1, dispatch=False)
    assert OutboxEvent.objects.filter(dispatched_at__isnull=True).count() == 2

    result = events_sweep_task.apply().result

    assert result["dispatched"] == 4  # ledger.adjusted to alice and staff; the payment to both
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()


def test_a_dispatcher_that_fails_before_commit_leaves_the_rows_to_the_next(alice, merchant, pay):
    pay(alice, merchant, 1, dispatch=False)

    def crash():
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        outbox_dispatch(before_commit=crash)

    assert not RecipientEvent.objects.exists()
    assert len(outbox_dispatch()) == 4
    assert _stream(merchant) == [("payment.succeeded", 1)]


def test_the_sweep_is_on_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["events-sweep"]
    assert entry["task"] == "notifications.tasks.events_sweep_task"
    from fastpay.beat import task_resolve

    assert task_resolve(entry["task"]) is events_sweep_task
