"""Real threads on PostgreSQL: a capture and a void of one hold race; exactly one wins."""

from collections import Counter
from datetime import timedelta
from functools import partial

import pytest
from django.db import connection
from django.utils import timezone

from fastpay.errors import DomainError
from tests.threads import run_threads
from wallets.escrow.models import Hold, HoldKind, HoldState
from wallets.escrow.services import hold_authorize, hold_capture, hold_void
from wallets.models import Token
from wallets.services.checks import ledger_check_run

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row-lock concurrency needs PostgreSQL"
    ),
]


def attempt(service, **kwargs):
    try:
        return service(**kwargs).state
    except DomainError as exc:
        return exc.code


def test_a_capture_and_a_void_racing_resolve_the_hold_once(alice, bob, fund):
    usdt = Token.objects.get(symbol="USDT")
    fund(alice, usdt, 40)
    holds = [
        hold_authorize(
            payer=alice,
            payee=bob.username,
            token=usdt,
            amount=1_000_000,
            kind=HoldKind.AUTHORIZATION,
            expires_at=timezone.now() + timedelta(hours=1),
        )
        for _ in range(10)
    ]
    calls = []
    for hold in holds:
        calls.append(partial(attempt, hold_capture, hold_id=hold.pk, by=bob, amount=None))
        calls.append(partial(attempt, hold_void, hold_id=hold.pk, by=bob))
        calls.append(partial(attempt, hold_capture, hold_id=hold.pk, by=bob, amount=500_000))

    results = run_threads(calls)

    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    for i, hold in enumerate(holds):
        hold.refresh_from_db()
        outcomes = results[3 * i : 3 * i + 3]
        assert hold.state in (HoldState.POSTED, HoldState.VOIDED)
        assert Counter(outcomes)[hold.state] >= 1
        assert set(outcomes) <= {hold.state, "hold_resolved"}, outcomes
    posted = sum(h.posted_amount for h in Hold.objects.all())
    from wallets.services.ledger import user_account

    assert user_account(bob, usdt).balance == posted
    assert user_account(alice, usdt).balance == 40_000_000 - posted
    assert ledger_check_run(record=False).drift_count == 0
