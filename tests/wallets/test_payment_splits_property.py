"""Random split payments with random merchant fees (hypothesis): a payment either moves
exactly its amount (the payees' credits plus the fees; nobody's balance goes negative;
each part as wallets.splits computes it, less its payee's fee) in one balanced entry, or
is refused with a 4xx and moves nothing."""

import pytest
from django.db import transaction
from django.test import override_settings
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fastpay.errors import DomainError
from tests.wallets.factories import UserFactory
from wallets.models import (
    AccountKind,
    EntryKind,
    JournalEntry,
    LedgerAccount,
    MerchantFee,
    Payment,
    Token,
)
from wallets.services.adjustments import ledger_adjust
from wallets.services.checks import ledger_check_run
from wallets.services.payment_parts import SplitRequest
from wallets.services.payments import PaymentItem, payment_create
from wallets.splits import FeeExceedsAmount, FeeSchedule, Part, SplitError, fee, split

PAYEES = ["p0", "p1", "p2", "p3"]
START = 10**12

schedules = st.one_of(
    st.none(),
    st.builds(
        FeeSchedule,
        bps=st.integers(0, 1_000),
        fixed=st.integers(0, 50_000),
        minimum=st.one_of(st.just(0), st.integers(0, 200_000)),
    ),
)


@st.composite
def payments(draw):
    amount = draw(st.one_of(st.integers(1, 1_000), *[st.integers(10**6, 10**9)] * 3))
    count = draw(st.integers(1, len(PAYEES)))
    names = draw(st.permutations(PAYEES))[:count]
    shares = draw(st.integers(0, count))
    # basis points: cut 10,000 at random points (sometimes off by some, to be refused)
    cuts = sorted(
        draw(
            st.lists(
                st.integers(1, 9_999),
                min_size=max(shares - 1, 0),
                max_size=max(shares - 1, 0),
                unique=True,
            )
        )
    )
    points = [b - a for a, b in zip([0, *cuts], [*cuts, 10_000], strict=True)] if shares else []
    if points and draw(st.integers(0, 9)) == 0:
        points[-1] += draw(st.integers(-50, 50))
    fixed = count - shares
    low, high = amount // (4 * count) + 1, amount // (2 * count) + 1
    fixed_units = [
        draw(st.one_of(st.integers(1, high), st.integers(low, high))) for _ in range(fixed)
    ]
    if fixed and not shares and draw(st.integers(0, 9)):
        fixed_units[-1] = max(1, amount - sum(fixed_units[:-1]))  # make them sum up
    parts = [SplitRequest(n, units=u) for n, u in zip(names[:fixed], fixed_units, strict=True)]
    parts += [
        SplitRequest(n, bps=b) if b > 0 else SplitRequest(n, bps=1)
        for n, b in zip(names[fixed:], points, strict=True)
    ]
    fees = {name: draw(schedules) for name in PAYEES}
    return amount, parts, fees


def expected(amount, parts, fees):
    """The pure arithmetic's answer: [(name, gross, fee)] or None (refused)."""
    try:
        grosses = split(amount, [Part(units=p.units, bps=p.bps) for p in parts])
    except SplitError:
        return None
    out = []
    for part, gross in zip(parts, grosses, strict=True):
        if gross == 0:
            return None
        schedule = fees[part.payee] or FeeSchedule()
        try:
            out.append((part.payee, gross, fee(gross, schedule) if fees[part.payee] else 0))
        except FeeExceedsAmount:
            return None
    return out


def balances(users, token):
    rows = {
        a.owner_id: a.balance
        for a in LedgerAccount.objects.filter(token=token, kind=AccountKind.AVAILABLE)
    }
    return [rows.get(u.pk, 0) for u in users]


def fees_balance(token):
    row = LedgerAccount.objects.filter(owner=None, token=token, kind=AccountKind.FEES).first()
    return row.balance if row else 0


@pytest.mark.django_db
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=payments())
def test_a_random_split_payment_moves_exactly_its_amount_or_nothing(case):
    amount, parts, fees = case
    # the minimal large-amount assessor: no fraud window holds a payment here
    plain = override_settings(
        FASTPAY_RISK_ASSESSOR="wallets.risk.large_amount_review", FASTPAY_REVIEW_ABOVE_TOKENS=10**6
    )
    with plain, transaction.atomic():
        usdt = Token.objects.get(symbol="USDT")
        payer = UserFactory(username="payer")
        users = [UserFactory(username=name) for name in PAYEES]
        for user in users:
            if fees[user.username]:
                s = fees[user.username]
                MerchantFee.objects.create(
                    merchant=user, token=usdt, bps=s.bps, fixed=s.fixed, minimum=s.minimum
                )
        ledger_adjust(
            user=payer, token=usdt, amount=START, reason="t", operator=None, idempotency_key="s"
        )
        before, fees_before = balances(users, usdt), fees_balance(usdt)
        want = expected(amount, parts, fees)
        item = PaymentItem(payee="", token=usdt, amount=amount, splits=parts)
        try:
            payment = payment_create(payer=payer, item=item)
        except DomainError as exc:
            event(f"refused: {exc.code}")
            assert want is None, (exc.code, exc.param, want)
            assert exc.status_code == 400 and exc.code in ("invalid_split", "fee_exceeds_amount")
            assert exc.param and (exc.param.startswith("splits") or exc.param == "amount")
            assert balances(users, usdt) == before and fees_balance(usdt) == fees_before
            assert balances([payer], usdt) == [START]
            assert not Payment.objects.exists()
        else:
            event(f"paid: {len(parts)} parts, fee {'>0' if payment.fee else '0'}")
            assert want is not None
            credited = [a - b for a, b in zip(balances(users, usdt), before, strict=True)]
            charged = fees_balance(usdt) - fees_before
            assert all(c >= 0 for c in credited)
            assert sum(credited) + charged == amount
            assert balances([payer], usdt) == [START - amount]
            assert payment.fee == charged == sum(f for _, _, f in want)
            by_name = dict(zip(PAYEES, credited, strict=True))
            assert [(p["payee"], p["gross_units"], p["fee_units"]) for p in payment.splits] == want
            for stored in payment.splits:
                assert stored["units"] == by_name[stored["payee"]] >= 0
            assert (
                JournalEntry.objects.filter(
                    reference=str(payment.pk), kind=EntryKind.PAYMENT
                ).count()
                == 1
            )
        assert ledger_check_run(record=False).drift_count == 0
        transaction.set_rollback(True)
