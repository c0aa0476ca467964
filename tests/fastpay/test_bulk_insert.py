"""fastpay.bulk_insert.rows_insert writes the rows bulk_create would (JSON, UUIDs, dates,
enum members, foreign keys, auto ids returned) and the database's constraints still hold."""

import uuid

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from fastpay.bulk_insert import rows_insert
from fastpay.models import OutboxEvent
from fraud.models import Assessment, Channel, RuleHit
from tests.wallets.factories import UserFactory
from wallets.risk import RiskDecision

pytestmark = pytest.mark.django_db


def _event(n: int) -> OutboxEvent:
    return OutboxEvent(
        topic="test.event",
        aggregate_type="thing",
        aggregate_id=str(n),
        payload={"n": n, "text": "é", "nested": [1, None, True]},
    )


def _assessments(pks) -> list[tuple]:
    """The stored columns but the id, subject and insert time, in subject order."""
    names = [
        f.attname
        for f in Assessment._meta.concrete_fields
        if f.attname not in ("id", "subject", "created_at")
    ]
    rows = Assessment.objects.filter(pk__in=pks).order_by("subject").values_list(*names)
    return list(rows)


def test_it_writes_the_rows_bulk_create_writes():
    ours = rows_insert(OutboxEvent, [_event(i) for i in range(3)])
    theirs = OutboxEvent.objects.bulk_create([_event(i) for i in range(3)])

    def stored(events):
        rows = OutboxEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("aggregate_id")
        return [(e.topic, e.aggregate_id, e.payload, e.dispatched_at) for e in rows]

    assert stored(ours) == stored(theirs)
    assert all(isinstance(e.pk, uuid.UUID) and not e._state.adding for e in ours)
    assert all(e.created_at is not None for e in OutboxEvent.objects.filter(pk__in=[ours[0].pk]))


def _assessment(payer, payee, usdt, subject: str, **extra) -> Assessment:
    values = {
        "subject": subject,
        "channel": Channel.OFFLINE,
        "payer": payer,
        "payee": payee,
        "token": usdt,
        "amount": 1_500_000,
        "decision": RiskDecision.REVIEW,
        "score": 42,
        "reasons": [{"rule": "velocity", "score": 42}],
        "occurred_at": timezone.now(),
    }
    return Assessment(**{**values, **extra})


def test_auto_ids_come_back_and_foreign_keys_and_enums_are_stored_as_the_orm_does(usdt):
    payer, payee = UserFactory(), UserFactory()
    when = timezone.now()
    ours = rows_insert(
        Assessment, [_assessment(payer, payee, usdt, f"a:{i}", occurred_at=when) for i in (1, 2)]
    )
    theirs = Assessment.objects.bulk_create(
        [_assessment(payer, payee, usdt, f"b:{i}", occurred_at=when) for i in (1, 2)]
    )

    assert all(a.pk is not None and a.created_at is not None for a in ours)
    assert _assessments([a.pk for a in ours]) == _assessments([a.pk for a in theirs])
    assert Assessment.objects.get(pk=ours[0].pk).decision == "review"
    hits = rows_insert(
        RuleHit, [RuleHit(assessment=a, rule="velocity", score=42, created_at=when) for a in ours]
    )
    assert {h.assessment_id for h in RuleHit.objects.filter(pk__in=[h.pk for h in hits])} == {
        a.pk for a in ours
    }


def test_the_databases_constraints_still_hold(usdt):
    payer, payee = UserFactory(), UserFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        rows_insert(Assessment, [_assessment(payer, payee, usdt, "bad", amount=0)])
    event = rows_insert(OutboxEvent, [_event(1)])[0]
    duplicate = _event(2)
    duplicate.pk = event.pk
    with pytest.raises(IntegrityError), transaction.atomic():
        rows_insert(OutboxEvent, [duplicate])


def test_nothing_to_insert_is_no_statement(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert rows_insert(OutboxEvent, []) == []
