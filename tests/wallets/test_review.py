"""Hold, approve and reject: the FLAGGED part of the payment state machine."""

import pytest

from fastpay.models import OutboxEvent
from wallets.errors import InvalidStateTransition
from wallets.models import AccountKind, PaymentState
from wallets.services.ledger import user_account
from wallets.services.payments import (
    PaymentItem,
    payment_approve,
    payment_create,
    payment_hold,
    payment_refund,
    payment_reject,
)


@pytest.fixture
def flagged(alice, bob, usdt, fund, settings):
    settings.FASTPAY_REVIEW_ABOVE_TOKENS = 50
    fund(alice, usdt, 100)
    payment = payment_create(
        payer=alice, item=PaymentItem(payee="bob", token=usdt, amount=60_000_000)
    )
    assert payment.state == PaymentState.FLAGGED
    return payment


def balances(alice, bob, usdt):
    return (
        user_account(alice, usdt).balance,
        user_account(alice, usdt, AccountKind.HELD).balance,
        user_account(bob, usdt).balance,
    )


def test_a_flagged_payment_holds_the_payers_money(flagged, alice, bob, usdt):
    assert balances(alice, bob, usdt) == (40_000_000, 60_000_000, 0)


def test_approval_releases_held_money_to_the_payee(flagged, alice, bob, usdt, reviewer):
    payment = payment_approve(payment_id=flagged.pk, by=reviewer, note="known customer")

    assert payment.state == PaymentState.SUCCESS
    assert payment.decided_by == reviewer
    assert balances(alice, bob, usdt) == (40_000_000, 0, 60_000_000)
    assert OutboxEvent.objects.filter(topic="payment.approved").count() == 1


def test_rejection_returns_held_money_to_the_payer(flagged, alice, bob, usdt, reviewer):
    payment = payment_reject(payment_id=flagged.pk, by=reviewer, note="stolen card")

    assert payment.state == PaymentState.FAILED
    assert payment.failure_code == "rejected_by_review"
    assert balances(alice, bob, usdt) == (100_000_000, 0, 0)


def test_a_decided_payment_cannot_be_decided_again(flagged, reviewer, alice, bob, usdt):
    payment_approve(payment_id=flagged.pk, by=reviewer)

    with pytest.raises(InvalidStateTransition):
        payment_reject(payment_id=flagged.pk, by=reviewer)
    with pytest.raises(InvalidStateTransition):
        payment_approve(payment_id=flagged.pk, by=reviewer)
    assert balances(alice, bob, usdt) == (40_000_000, 0, 60_000_000)


def test_a_flagged_payment_cannot_be_refunded(flagged, bob):
    with pytest.raises(InvalidStateTransition):
        payment_refund(payment_id=flagged.pk, by=bob)


def test_a_settled_payment_cannot_be_held(alice, bob, usdt, fund, reviewer):
    fund(alice, usdt, 10)
    payment = payment_create(payer=alice, item=PaymentItem(payee="bob", token=usdt, amount=1))

    with pytest.raises(InvalidStateTransition):
        payment_hold(payment_id=payment.pk, by=reviewer)
