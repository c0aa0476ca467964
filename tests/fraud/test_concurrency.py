"""Real threads against PostgreSQL: reviewers deciding at once, breakers tripping at once,
crossing payments with every fraud rule on. Skipped on SQLite, which serialises writers."""

from collections import Counter

import pytest
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from fastpay.models import OutboxEvent
from fraud.errors import ReviewClosed, ReviewForbidden
from fraud.models import Review, ReviewDecision, ReviewOutcome, RuleConfig
from fraud.services.reviews import review_decide
from tests.threads import run_threads
from wallets.models import AccountKind, LedgerAccount, Payment, PaymentState, Token
from wallets.services.checks import ledger_check_run
from wallets.services.ledger import user_account
from wallets.services.payments import PaymentItem, payment_create

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]
USDT = 10**6


def set_rule(name, **changes):
    config = RuleConfig.objects.get(rule=name)
    for key, value in changes.items():
        if key == "enabled":
            config.enabled = value
        else:
            config.params[key] = value
    config.save()


@pytest.fixture
def held_review(alice, bob, fund):
    usdt = Token.objects.get(symbol="USDT")
    set_rule("large_amount", review_at_tokens=100)
    fund(alice, usdt, 1_000)
    payment = payment_create(
        payer=alice, item=PaymentItem(payee="bob", token=usdt, amount=150 * USDT)
    )
    return Review.objects.get(payment=payment)


def test_two_reviewers_deciding_at_once_move_the_money_once(held_review, reviewer, reviewer2):
    results = run_threads(
        [
            lambda: review_decide(
                review_id=held_review.pk, by=reviewer, verdict="approve", note="a"
            ),
            lambda: review_decide(
                review_id=held_review.pk, by=reviewer2, verdict="reject", note="r"
            ),
        ]
    )

    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], ReviewClosed), results
    review = Review.objects.get(pk=held_review.pk)
    usdt = Token.objects.get(symbol="USDT")
    payer_held = user_account(review.payment.payer, usdt, AccountKind.HELD).balance
    assert payer_held == 0
    payee_got = user_account(review.payment.payee, usdt).balance
    assert payee_got == (150 * USDT if review.outcome == ReviewOutcome.APPROVED else 0)
    assert ReviewDecision.objects.count() == 1
    assert OutboxEvent.objects.filter(topic="review.closed").count() == 1
    assert ledger_check_run(record=False).drift_count == 0


def test_one_reviewer_double_clicking_approves_once(held_review, reviewer):
    set_rule("four_eyes", above_tokens=100)
    Review.objects.filter(pk=held_review.pk).update(required_approvals=2)

    results = run_threads(
        [lambda: review_decide(review_id=held_review.pk, by=reviewer, verdict="approve", note="x")]
        * 2
    )

    assert sum(isinstance(r, ReviewForbidden) for r in results) == 1, results
    assert ReviewDecision.objects.count() == 1
    assert Review.objects.get(pk=held_review.pk).payment.state == PaymentState.FLAGGED


def test_crossing_payments_with_every_rule_on_never_deadlock(alice, bob, stranger, fund):
    usdt = Token.objects.get(symbol="USDT")
    set_rule("rate_limit", enabled=False)  # 8 threads x 12 requests from 3 users
    set_rule("circuit_breaker", min_assessments=10, flagged_share_pct=30, evaluate_every_seconds=0)
    set_rule("large_amount", review_at_tokens=3)  # hold a share, so breakers trip mid-run
    users = [alice, bob, stranger]
    for user in users:
        fund(user, usdt, 40)
    names = [u.username for u in users]

    def sender(index):
        def send():
            api = APIClient()
            token = RefreshToken.for_user(users[index % 3]).access_token
            api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            payee = names[(index + 1) % 3]
            return [
                api.post(
                    "/api/v1/payments/",
                    {"payee": payee, "token": "USDT", "amount": f"{1 + (index + n) % 4}"},
                    format="json",
                ).status_code
                for n in range(12)
            ]

        return send

    results = run_threads([sender(i) for i in range(8)])

    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    statuses = Counter(code for thread in results for code in thread)
    assert set(statuses) <= {201, 402, 409}, statuses  # a deadlock would be a 500
    assert statuses[409] > 0  # the breakers tripped under load and paused payments
    assert (
        OutboxEvent.objects.filter(topic="circuit_breaker.tripped").count() == 2
    )  # platform, USDT
    balances = LedgerAccount.objects.filter(owner__in=users, token=usdt)
    assert sum(a.balance for a in balances) == 120 * USDT
    assert Payment.objects.filter(state=PaymentState.FLAGGED).count() == Review.objects.count()
    assert ledger_check_run(record=False).drift_count == 0
