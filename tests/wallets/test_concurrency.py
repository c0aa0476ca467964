"""Real threads against PostgreSQL: crossing payments and duplicate idempotency keys.

Each thread has its own database connection, so the row locks are real. Skipped on the
SQLite default, which serialises every writer and cannot show a deadlock.
"""

from collections import Counter
from functools import partial

import pytest
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tests.threads import run_threads
from wallets.models import AccountKind, LedgerAccount, Payment, Token
from wallets.services.checks import ledger_check_run

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row-lock concurrency needs PostgreSQL"
    ),
]


@pytest.fixture(autouse=True)
def _ledger_risk_only(settings):
    """These tests exercise ledger locking with more payment requests per user and minute
    than the fraud rate limit allows, and bursts the fraud rules would hold for review:
    keep the minimal large-amount assessor and lift the rate limit."""
    from fraud.models import RuleConfig

    settings.FASTPAY_RISK_ASSESSOR = "wallets.risk.large_amount_review"
    RuleConfig.objects.update_or_create(rule="rate_limit", defaults={"enabled": False})


def client(user) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return api


def test_crossing_payments_never_deadlock_overdraw_or_lose_money(alice, bob, stranger, fund):
    usdt = Token.objects.get(symbol="USDT")
    users = [alice, bob, stranger]
    for user in users:
        fund(user, usdt, 20)
    names = [u.username for u in users]

    def send(index):
        payer = users[index % 3]
        payee = names[(index + 1 + index // 3) % 3]
        if payee == payer.username:
            payee = names[(index + 2) % 3]
        api = client(payer)
        statuses = []
        for n in range(25):
            body = {"payee": payee, "token": "USDT", "amount": f"{1 + (index + n) % 3}.5"}
            statuses.append(api.post("/api/v1/payments/", body, format="json").status_code)
        return statuses

    results = run_threads([partial(send, i) for i in range(8)])

    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    statuses = Counter(code for thread in results for code in thread)
    assert set(statuses) <= {201, 402}, statuses  # a deadlock would surface as a 500
    assert statuses[201] == Payment.objects.count() > 0
    balances = LedgerAccount.objects.filter(owner__in=users, token=usdt)
    assert all(account.balance >= 0 for account in balances)
    assert sum(a.balance for a in balances if a.kind == AccountKind.AVAILABLE) == 60_000_000
    assert ledger_check_run(record=False).drift_count == 0


def test_concurrent_requests_with_one_idempotency_key_make_one_payment(alice, bob, fund):
    usdt = Token.objects.get(symbol="USDT")
    fund(alice, usdt, 100)
    body = {"payee": "bob", "token": "USDT", "amount": "7"}

    def send(_):
        response = client(alice).post(
            "/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY="same-key"
        )
        return response.status_code, response.json()

    results = run_threads([partial(send, i) for i in range(8)])

    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    # the first to reserve the key pays; the others, while it is in flight, are told so
    # (409 idempotency_in_progress), or replay its stored response once it is done
    created = [body for status, body in results if status == 201]
    in_progress = [body for status, body in results if status == 409]
    assert len(created) + len(in_progress) == 8 and created
    assert {b["error"]["code"] for b in in_progress} <= {"idempotency_in_progress"}
    assert len({body["id"] for body in created}) == 1
    assert Payment.objects.count() == 1
    account = LedgerAccount.objects.get(owner=alice, token=usdt, kind=AccountKind.AVAILABLE)
    assert account.balance == 93_000_000


def test_concurrent_batches_from_one_payer_never_overdraw(alice, bob, stranger, fund):
    usdt = Token.objects.get(symbol="USDT")
    fund(alice, usdt, 50)
    items = [
        {"payee": "bob", "token": "USDT", "amount": "1"},
        {"payee": "stranger", "token": "USDT", "amount": "1"},
    ] * 5

    def send(_):
        return (
            client(alice).post("/api/v1/payments/batch/", {"payments": items}, format="json").json()
        )

    results = run_threads([partial(send, i) for i in range(8)])

    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    succeeded = sum(r["succeeded"] for r in results)
    assert succeeded == 50 == Payment.objects.count()
    account = LedgerAccount.objects.get(owner=alice, token=usdt, kind=AccountKind.AVAILABLE)
    assert account.balance == 0
    assert ledger_check_run(record=False).drift_count == 0


def test_claim_recoveries_racing_the_debtors_payments_never_overdraw(alice, bob, stranger, fund):
    """Covers and recoveries take the debtor's AVAILABLE row while the debtor pays: both
    lock accounts in id order, so nothing deadlocks and the balance is never spent twice."""
    from django.db import transaction

    from wallets.models import Claim
    from wallets.services.claims import Cover, claims_recover, covers_post

    usdt = Token.objects.get(symbol="USDT")
    fund(alice, usdt, 30)

    def pay(_):
        api = client(alice)
        return [
            api.post(
                "/api/v1/payments/", {"payee": "bob", "token": "USDT", "amount": "1"}, format="json"
            ).status_code
            for _ in range(10)
        ]

    def cover_and_recover(index):
        for n in range(5):
            with transaction.atomic():
                covers_post([Cover(alice, stranger, usdt, 1_000_000, f"race:{index}:{n}")])
            claims_recover(user=alice, token=usdt)
        return []

    results = run_threads(
        [partial(pay, i) for i in range(3)] + [partial(cover_and_recover, i) for i in range(3)]
    )

    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    assert set(code for thread in results for code in thread) <= {201, 402}
    paid = Payment.objects.count()
    recovered = sum(Claim.objects.values_list("recovered", flat=True))
    balance = LedgerAccount.objects.get(owner=alice, token=usdt, kind=AccountKind.AVAILABLE)
    assert balance.balance == 30_000_000 - paid * 1_000_000 - recovered >= 0
    assert Claim.objects.count() == 15
    assert ledger_check_run(record=False).drift_count == 0
