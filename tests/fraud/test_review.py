"""The review queue's decisions: balances after approve and reject, four eyes, notes,
parties to a payment, permissions, events and the audit log."""

import pytest
from django.db import DatabaseError, transaction

from fastpay.models import OutboxEvent
from fraud.errors import NoteRequired, ReviewClosed, ReviewForbidden
from fraud.models import AuditAction, AuditLog, Review, ReviewOutcome, ReviewState
from fraud.services.reviews import review_decide
from tests.wallets.factories import StaffFactory
from wallets.models import AccountKind, PaymentState
from wallets.services.ledger import user_account
from wallets.services.payments import PaymentItem, payment_create

USDT = 10**6


@pytest.fixture
def held(alice, bob, usdt, fund, rule):
    """alice pays bob 600 USDT, held by a 500 USDT large-amount threshold (alone)."""
    rule("large_amount", review_at_tokens=500)
    rule("new_payee", enabled=False)
    fund(alice, usdt, 1_000)

    def _pay(whole=600):
        payment = payment_create(
            payer=alice, item=PaymentItem(payee="bob", token=usdt, amount=whole * USDT)
        )
        assert payment.state == PaymentState.FLAGGED
        return Review.objects.get(payment=payment)

    return _pay


def balances(alice, bob, usdt):
    return (
        user_account(alice, usdt).balance // USDT,
        user_account(alice, usdt, AccountKind.HELD).balance // USDT,
        user_account(bob, usdt).balance // USDT,
    )


def test_a_held_payment_opens_a_review_with_its_reasons(held, alice, bob, usdt):
    review = held()

    assert review.state == ReviewState.OPEN
    assert review.top_rule == "large_amount"
    assert review.score == 60
    assert (
        review.assessment.reasons[0]["text"] == "600 USDT at or above the 500 USDT review threshold"
    )
    assert balances(alice, bob, usdt) == (400, 600, 0)
    event = OutboxEvent.objects.get(topic="review.opened")
    assert event.payload["payment_id"] == str(review.payment_id)
    assert event.payload["rules"] == ["large_amount"]


def test_approval_releases_the_money_to_the_payee(held, alice, bob, usdt, reviewer):
    review = review_decide(review_id=held().pk, by=reviewer, verdict="approve", note="known buyer")

    assert review.state == ReviewState.CLOSED
    assert review.outcome == ReviewOutcome.APPROVED
    assert review.payment.state == PaymentState.SUCCESS
    assert balances(alice, bob, usdt) == (400, 0, 600)
    closed = OutboxEvent.objects.get(topic="review.closed")
    assert closed.payload["reason"] == "approved"
    assert closed.payload["note"] == "known buyer"


def test_rejection_returns_the_money_to_the_payer(held, alice, bob, usdt, reviewer):
    review = review_decide(review_id=held().pk, by=reviewer, verdict="reject", note="stolen phone")

    assert review.outcome == ReviewOutcome.REJECTED
    review.payment.refresh_from_db()
    assert review.payment.state == PaymentState.FAILED
    assert balances(alice, bob, usdt) == (1_000, 0, 0)
    assert OutboxEvent.objects.get(topic="review.closed").payload["reason"] == "rejected"


def test_a_decision_needs_a_note(held, reviewer, alice, bob, usdt):
    review = held()

    with pytest.raises(NoteRequired):
        review_decide(review_id=review.pk, by=reviewer, verdict="approve", note="   ")
    assert balances(alice, bob, usdt) == (400, 600, 0)


def test_a_closed_review_cannot_be_decided_again(held, reviewer, reviewer2, alice, bob, usdt):
    review = held()
    review_decide(review_id=review.pk, by=reviewer, verdict="reject", note="no")

    with pytest.raises(ReviewClosed):
        review_decide(review_id=review.pk, by=reviewer2, verdict="approve", note="yes")
    assert balances(alice, bob, usdt) == (1_000, 0, 0)


class TestFourEyes:
    def test_a_large_payment_needs_two_different_reviewers(
        self, held, rule, reviewer, reviewer2, alice, bob, usdt
    ):
        rule("four_eyes", above_tokens=600)
        review = held(600)
        assert review.required_approvals == 2

        review = review_decide(review_id=review.pk, by=reviewer, verdict="approve", note="ok")
        assert review.state == ReviewState.OPEN
        assert balances(alice, bob, usdt) == (400, 600, 0)

        with pytest.raises(ReviewForbidden, match="second reviewer"):
            review_decide(review_id=review.pk, by=reviewer, verdict="approve", note="ok again")

        review = review_decide(review_id=review.pk, by=reviewer2, verdict="approve", note="agree")
        assert review.outcome == ReviewOutcome.APPROVED
        assert balances(alice, bob, usdt) == (400, 0, 600)
        assert sorted(OutboxEvent.objects.get(topic="review.closed").payload["reviewers"]) == [
            "rev",
            "rev2",
        ]

    def test_just_under_the_threshold_one_reviewer_is_enough(self, held, rule, reviewer):
        rule("four_eyes", above_tokens=601)
        review = held(600)

        assert review.required_approvals == 1
        assert review_decide(
            review_id=review.pk, by=reviewer, verdict="approve", note="ok"
        ).outcome == (ReviewOutcome.APPROVED)

    def test_one_reviewer_can_reject_alone(self, held, rule, reviewer, alice, bob, usdt):
        rule("four_eyes", above_tokens=100)
        review = review_decide(review_id=held().pk, by=reviewer, verdict="reject", note="fraud")

        assert review.outcome == ReviewOutcome.REJECTED
        assert balances(alice, bob, usdt) == (1_000, 0, 0)


class TestWhoMayDecide:
    def test_a_non_reviewer_cannot_decide(self, held, operator, alice, bob, usdt):
        review = held()

        with pytest.raises(ReviewForbidden):
            review_decide(review_id=review.pk, by=operator, verdict="approve", note="me too")
        assert balances(alice, bob, usdt) == (400, 600, 0)

    def test_a_reviewer_cannot_decide_a_payment_they_made(self, usdt, fund, bob, rule):
        rule("large_amount", review_at_tokens=500)
        payer = StaffFactory(username="rev-payer", group="reviewer")
        fund(payer, usdt, 1_000)
        payment = payment_create(
            payer=payer, item=PaymentItem(payee="bob", token=usdt, amount=600 * USDT)
        )

        with pytest.raises(ReviewForbidden, match="party"):
            review_decide(
                review_id=payment.review.pk, by=payer, verdict="approve", note="it's fine"
            )
        payment.refresh_from_db()
        assert payment.state == PaymentState.FLAGGED

    def test_a_reviewer_cannot_decide_a_payment_they_receive(self, usdt, fund, alice, rule):
        from django.contrib.auth.models import Group

        from tests.wallets.factories import UserFactory
        from wallets.models import UserRole

        rule("large_amount", review_at_tokens=500)
        # staff cannot be paid; a customer paid (and held) before joining the staff can
        payee = UserFactory(username="rev-payee")
        fund(alice, usdt, 1_000)
        payment = payment_create(
            payer=alice, item=PaymentItem(payee="rev-payee", token=usdt, amount=600 * USDT)
        )
        payee.role, payee.is_staff = UserRole.STAFF, True
        payee.save(update_fields=["role", "is_staff"])
        payee.groups.add(Group.objects.get(name="reviewer"))

        with pytest.raises(ReviewForbidden, match="party"):
            review_decide(review_id=payment.review.pk, by=payee, verdict="approve", note="mine")


class TestAuditLog:
    def test_every_decision_is_logged(self, held, rule, reviewer, reviewer2):
        rule("four_eyes", above_tokens=100)
        review = held()
        review_decide(review_id=review.pk, by=reviewer, verdict="approve", note="first")
        review_decide(review_id=review.pk, by=reviewer2, verdict="approve", note="second")

        entries = AuditLog.objects.filter(action=AuditAction.REVIEW_DECISION).order_by("id")
        assert [(e.actor.username, e.note, e.after["closes_review"]) for e in entries] == [
            ("rev", "first", False),
            ("rev2", "second", True),
        ]

    def test_the_log_refuses_updates(self, held, reviewer):
        review_decide(review_id=held().pk, by=reviewer, verdict="reject", note="no")
        entry = AuditLog.objects.get()

        with pytest.raises(DatabaseError), transaction.atomic():
            AuditLog.objects.filter(pk=entry.pk).update(note="rewritten")
        entry.refresh_from_db()
        assert entry.note == "no"
