"""Real threads against PostgreSQL (each its own connection, so the row locks are real):
withdrawals racing for the last of a balance or of a daily limit, approvals racing, a
cancel racing the payment, one idempotency key sent twice at once. Skipped on SQLite."""

from collections import Counter
from functools import partial

import pytest
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from fastpay.errors import DomainError
from fastpay.models import OutboxEvent
from settlement.models import Withdrawal, WithdrawalApproval, WithdrawalLimit, WithdrawalState
from settlement.services.paying import hot_wallet, reserved_mismatches, withdrawal_pay
from settlement.services.reviews import withdrawal_approve
from settlement.services.withdrawals import withdrawal_cancel
from tests.settlement.conftest import DESTINATION, TOKENS
from tests.threads import run_threads
from wallets.chain.fees import Fees
from wallets.chain.models import NonceCursor, OutgoingTransaction
from wallets.models import AccountKind, LedgerAccount
from wallets.services.checks import ledger_check_run

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row-lock concurrency needs PostgreSQL"
    ),
    pytest.mark.usefixtures("offchain", "policy"),
]
URL = "/api/v1/withdrawals/"


def client(user) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return api


def post(user, amount, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    body = {"token": "USDT", "amount": amount, "destination": DESTINATION}
    response = client(user).post(URL, body, format="json", **headers)
    return response.status_code, response.json()


def reserved(user, token):
    return LedgerAccount.objects.get(owner=user, token=token, kind=AccountKind.WITHDRAWING).balance


def clean():
    assert ledger_check_run(record=False).drift_count == 0
    assert reserved_mismatches() == []


def test_two_withdrawals_racing_for_the_last_balance_one_wins(alice, funded, usdt):
    funded(alice, 100)

    results = run_threads([partial(post, alice, "60") for _ in range(2)])

    assert sorted(status for status, _ in results) == [201, 402], results
    assert Withdrawal.objects.filter(user=alice).count() == 1
    assert reserved(alice, usdt) == 60_500_000
    clean()


def test_many_withdrawals_never_overdraw(alice, funded, usdt):
    funded(alice, 100)

    results = run_threads([partial(post, alice, "15") for _ in range(8)])

    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 6, 402: 2}, results  # 6 x 15.5 = 93, a 7th would be 108.5
    avail = LedgerAccount.objects.get(owner=alice, token=usdt, kind=AccountKind.AVAILABLE)
    assert avail.balance == 7 * TOKENS and reserved(alice, usdt) == 93 * TOKENS
    clean()


def test_withdrawals_racing_for_the_daily_limit_never_pass_it(alice, funded, usdt):
    funded(alice, 1_000)
    WithdrawalLimit.objects.create(user=alice, token=usdt, daily_limit_units=50 * TOKENS)

    results = run_threads([partial(post, alice, "10") for _ in range(8)])

    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 5, 403: 3}, results
    assert {body["error"]["code"] for status, body in results if status == 403} == {
        "daily_limit_exceeded"
    }
    clean()


def test_one_idempotency_key_twice_at_once_makes_one_withdrawal(alice, funded, usdt):
    funded(alice, 100)

    results = run_threads([partial(post, alice, "10", key="same") for _ in range(2)])

    statuses = sorted(status for status, _ in results)
    assert statuses in ([201, 201], [201, 409]), results
    assert Withdrawal.objects.filter(user=alice).count() == 1
    assert reserved(alice, usdt) == 10_500_000


def _approve(withdrawal, staff):
    try:
        return withdrawal_approve(withdrawal_id=withdrawal.pk, staff=staff, revision=1).state
    except DomainError as exc:
        return exc.code


def test_two_approvals_racing_for_four_eyes_both_count(
    alice, funded, request_withdrawal, rev1, rev2
):
    funded(alice, 1_000)
    w = request_withdrawal(alice, 600)

    results = run_threads([partial(_approve, w, rev1), partial(_approve, w, rev2)])

    assert sorted(results) == ["awaiting_approval", "awaiting_payment"], results
    w.refresh_from_db()
    assert w.state == WithdrawalState.AWAITING_PAYMENT
    assert WithdrawalApproval.objects.filter(withdrawal=w).count() == 2
    assert (
        OutboxEvent.objects.filter(topic="withdrawal.approved", aggregate_id=str(w.pk)).count() == 1
    )


def test_two_approvals_racing_for_one_needed_one_wins(
    alice, funded, request_withdrawal, rev1, rev2
):
    funded(alice, 1_000)
    w = request_withdrawal(alice, 150)

    results = run_threads([partial(_approve, w, rev1), partial(_approve, w, rev2)])

    assert sorted(results) == ["awaiting_payment", "invalid_state"], results
    assert WithdrawalApproval.objects.filter(withdrawal=w).count() == 1


def test_the_same_reviewer_racing_itself_counts_once(alice, funded, request_withdrawal, rev1):
    funded(alice, 1_000)
    w = request_withdrawal(alice, 600)

    results = run_threads([partial(_approve, w, rev1), partial(_approve, w, rev1)])

    assert sorted(results) == ["already_approved", "awaiting_approval"], results
    assert WithdrawalApproval.objects.filter(withdrawal=w).count() == 1


def test_a_cancel_racing_the_payment_never_both(
    alice, funded, request_withdrawal, hot_wallet_row, offchain, usdt
):
    row = hot_wallet_row(offchain)
    NonceCursor.objects.create(chain=offchain, address=row.address, next_nonce=0)
    hot = hot_wallet(offchain)
    funded(alice, 1_000)
    fees = Fees(max_fee_per_gas=2 * 10**9, max_priority_fee_per_gas=10**9)
    rows = [request_withdrawal(alice, 10) for _ in range(6)]

    def cancel(w):
        try:
            return withdrawal_cancel(user=alice, withdrawal_id=w.pk).state
        except DomainError as exc:
            return exc.code

    def pay(w):
        tx = withdrawal_pay(withdrawal_id=w.pk, revision=1, hot=hot, fees=fees, gas_limit=80_000)
        return "paid" if tx else "not_due"

    targets = [partial(f, w) for w in rows for f in (cancel, pay)]
    results = run_threads(targets)

    assert not [r for r in results if isinstance(r, BaseException)], results
    for w, (cancelled, paid) in zip(
        rows, zip(results[::2], results[1::2], strict=True), strict=True
    ):
        w.refresh_from_db()
        assert (cancelled, paid) in (
            ("cancelled", "not_due"),
            ("withdrawal_not_cancellable", "paid"),
        ), (cancelled, paid)
        assert (w.state == WithdrawalState.CANCELLED) == (w.tx_id is None)
    paid_count = sum(1 for r in results if r == "paid")
    assert OutgoingTransaction.objects.count() == paid_count
    assert sorted(OutgoingTransaction.objects.values_list("nonce", flat=True)) == list(
        range(paid_count)
    )
    clean()
