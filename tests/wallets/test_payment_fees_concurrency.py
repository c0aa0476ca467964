"""Real threads against PostgreSQL: crossing split payments with fees. Every fee-bearing
payment locks its token's FEES row with the other accounts, in id order: no deadlock, no
overdraft, and every unit is in a payee's account or in FEES."""

from collections import Counter
from functools import partial

import pytest
from django.db import connection

from tests.threads import run_threads
from tests.wallets.factories import UserFactory
from wallets.models import AccountKind, LedgerAccount, MerchantFee, Payment, Token
from wallets.services.checks import ledger_check_run
from wallets.services.payment_parts import SplitRequest
from wallets.services.payments import PaymentItem, payment_create

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row-lock concurrency needs PostgreSQL"
    ),
]


@pytest.fixture(autouse=True)
def _ledger_risk_only(settings):
    from fraud.models import RuleConfig

    settings.FASTPAY_RISK_ASSESSOR = "wallets.risk.large_amount_review"
    RuleConfig.objects.update_or_create(rule="rate_limit", defaults={"enabled": False})


def test_crossing_split_payments_with_fees_never_deadlock_or_lose_a_unit(fund):
    usdt = Token.objects.get(symbol="USDT")
    users = [UserFactory(username=f"u{i}") for i in range(4)]
    for i, user in enumerate(users):
        fund(user, usdt, 30)
        MerchantFee.objects.create(merchant=user, token=usdt, bps=100 * (i + 1), fixed=1_000)

    def send(index):
        payer = users[index % 4]
        others = [u.username for u in users if u != payer]
        if index % 2:
            others.reverse()  # the same accounts, asked in the other order
        outcomes = []
        for n in range(15):
            parts = [
                SplitRequest(others[0], units=100_000),
                SplitRequest(others[1], bps=3_000 + 100 * (n % 5)),
                SplitRequest(others[2], bps=7_000 - 100 * (n % 5)),
            ]
            item = PaymentItem(payee="", token=usdt, amount=1_000_000 + n, splits=parts)
            try:
                outcomes.append(payment_create(payer=payer, item=item).state)
            except Exception as exc:  # counted below: insufficient funds only
                outcomes.append(getattr(exc, "code", repr(exc)))
        return outcomes

    results = run_threads([partial(send, i) for i in range(8)])

    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    outcomes = Counter(o for thread in results for o in thread)
    assert set(outcomes) <= {"success", "insufficient_funds"}, outcomes
    assert outcomes["success"] == Payment.objects.count() > 0
    accounts = LedgerAccount.objects.filter(owner__in=users, token=usdt)
    assert all(a.balance >= 0 for a in accounts)
    fees = LedgerAccount.objects.get(owner=None, token=usdt, kind=AccountKind.FEES).balance
    assert fees == sum(Payment.objects.values_list("fee", flat=True)) > 0
    assert sum(a.balance for a in accounts) + fees == 120 * 1_000_000
    assert ledger_check_run(record=False).drift_count == 0
