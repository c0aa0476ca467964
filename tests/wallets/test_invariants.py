"""Random sequences of payments, holds, approvals, rejections, refunds and adjustments keep
every ledger invariant, and every balance equals a plain-Python model of the same steps."""

import contextlib
from collections import defaultdict

import pytest
from django.db import transaction
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastpay.errors import DomainError
from tests.wallets.factories import UserFactory
from wallets.models import AccountKind, Payment, PaymentState, Token
from wallets.risk import RiskAssessment, RiskDecision
from wallets.services.adjustments import ledger_adjust
from wallets.services.checks import ledger_check_run
from wallets.services.ledger import user_account
from wallets.services.payments import (
    PaymentItem,
    payment_approve,
    payment_create,
    payment_refund,
    payment_reject,
)

USERS = ["u0", "u1", "u2"]
TOKENS = ["USDT", "USDC"]


def flag_on_request(draft) -> RiskAssessment:
    """Test assessor: the step decides whether the payment is held for review."""
    if draft.metadata.get("review"):
        return RiskAssessment(RiskDecision.REVIEW, 70, ["test"])
    return RiskAssessment(RiskDecision.ALLOW)


user_i = st.integers(0, len(USERS) - 1)
token_i = st.integers(0, len(TOKENS) - 1)
amount = st.integers(1, 2_500_000)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("fund"), user_i, token_i, amount),
        st.tuples(st.just("debit"), user_i, token_i, amount),
        st.tuples(st.just("pay"), user_i, st.integers(1, 2), token_i, amount, st.booleans()),
        st.tuples(st.just("approve"), st.integers(0, 50)),
        st.tuples(st.just("reject"), st.integers(0, 50)),
        st.tuples(st.just("refund"), st.integers(0, 50), st.one_of(st.none(), amount)),
    ),
    min_size=1,
    max_size=25,
)


class Model:
    """Expected balances in plain Python."""

    def __init__(self):
        self.available = defaultdict(int)  # (user, token) -> units
        self.held = defaultdict(int)


def apply(step, users, tokens, model: Model, counter):
    kind = step[0]
    if kind in {"fund", "debit"}:
        _, u, t, units = step
        signed = units if kind == "fund" else -units
        ledger_adjust(
            user=users[u],
            token=tokens[t],
            amount=signed,
            reason="hypothesis",
            operator=None,
            idempotency_key=f"h-{next(counter)}",
        )
        model.available[(u, t)] += signed
    elif kind == "pay":
        _, u, offset, t, units, review = step
        v = (u + offset) % len(USERS)
        payment = payment_create(
            payer=users[u],
            item=PaymentItem(
                payee=USERS[v], token=tokens[t], amount=units, metadata={"review": review}
            ),
        )
        model.available[(u, t)] -= units
        if payment.state == PaymentState.FLAGGED:
            model.held[(u, t)] += units
        else:
            model.available[(v, t)] += units
    elif kind in {"approve", "reject"}:
        flagged = list(
            Payment.objects.filter(state=PaymentState.FLAGGED).order_by("created_at", "sequence")
        )
        if not flagged:
            return
        p = flagged[step[1] % len(flagged)]
        u, v, t = (
            USERS.index(p.payer.username),
            USERS.index(p.payee.username),
            TOKENS.index(p.token.symbol),
        )
        (payment_approve if kind == "approve" else payment_reject)(payment_id=p.pk, by=None)
        model.held[(u, t)] -= p.amount
        model.available[(v if kind == "approve" else u, t)] += p.amount
    elif kind == "refund":
        done = list(
            Payment.objects.filter(state=PaymentState.SUCCESS).order_by("created_at", "sequence")
        )
        if not done:
            return
        p = done[step[1] % len(done)]
        refund = payment_refund(payment_id=p.pk, by=p.payee, amount=step[2])
        u, v, t = (
            USERS.index(p.payer.username),
            USERS.index(p.payee.username),
            TOKENS.index(p.token.symbol),
        )
        model.available[(v, t)] -= refund.amount
        model.available[(u, t)] += refund.amount


@pytest.mark.django_db
@override_settings(FASTPAY_RISK_ASSESSOR="tests.wallets.test_invariants.flag_on_request")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps)
def test_random_operations_keep_every_invariant(steps):
    from itertools import count

    with transaction.atomic():
        users = [UserFactory(username=name) for name in USERS]
        tokens = [Token.objects.get(symbol=symbol) for symbol in TOKENS]
        model, counter = Model(), count()
        for u in range(len(users)):
            for t in range(len(tokens)):
                apply(("fund", u, t, 4_000_000), users, tokens, model, counter)
        for step in steps:
            # A refused step (insufficient funds, ...) must change nothing.
            with contextlib.suppress(DomainError):
                apply(step, users, tokens, model, counter)
            assert ledger_check_run(record=False).drift_count == 0
        for u, user in enumerate(users):
            for t, token in enumerate(tokens):
                assert user_account(user, token).balance == model.available[(u, t)]
                held = user_account(user, token, AccountKind.HELD).balance
                assert held == model.held[(u, t)]
        transaction.set_rollback(True)
