"""Random sequences of request / revise / approve / reject / cancel / pay / confirm / fail
/ drop: whatever is refused, the ledger stays clean (ledger_check), what is reserved equals
the open withdrawals' amount + fee for every user, and every user's money is where the
withdrawals say: funded = available + reserved + paid out + fees of completed ones."""

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastpay.errors import DomainError
from settlement.models import Withdrawal, WithdrawalState
from settlement.services.paying import (
    hot_wallet,
    reserved_mismatches,
    withdrawal_outcome,
    withdrawal_pay,
)
from settlement.services.reviews import (
    withdrawal_approve,
    withdrawal_cancel_by_staff,
    withdrawal_reject,
)
from settlement.services.withdrawals import withdrawal_cancel, withdrawal_revise
from tests.settlement.conftest import TOKENS
from tests.wallets.factories import UserFactory
from wallets.chain.fees import Fees
from wallets.chain.models import NonceCursor, OutgoingTransaction, TxState
from wallets.models import AccountKind, LedgerAccount
from wallets.services.checks import ledger_check_run

FEES = Fees(max_fee_per_gas=2 * 10**9, max_priority_fee_per_gas=10**9)
FUNDED = 1_500

amounts = st.integers(min_value=1, max_value=900)
pick = st.integers(min_value=0, max_value=50)
OPS = st.one_of(
    st.tuples(st.just("request"), st.integers(0, 1), amounts),
    st.tuples(st.just("revise"), pick, amounts),
    st.tuples(st.just("approve"), pick, st.integers(0, 2)),
    st.tuples(st.just("reject"), pick, st.just(0)),
    st.tuples(st.just("cancel"), pick, st.just(0)),
    st.tuples(st.just("staff_cancel"), pick, st.just(0)),
    st.tuples(st.just("pay"), pick, st.just(0)),
    st.tuples(st.just("confirm"), pick, st.just(0)),
    st.tuples(st.just("fail"), pick, st.just(0)),
    st.tuples(st.just("drop"), pick, st.just(0)),
)


@pytest.fixture
def world(offchain, policy, hot_wallet_row, rev1, rev2, usdt):
    row = hot_wallet_row(offchain)
    NonceCursor.objects.get_or_create(
        chain=offchain, address=row.address, defaults={"next_nonce": 0}
    )
    return {"hot": hot_wallet(offchain), "staff": [rev1, rev2], "token": usdt}


def _outcome(withdrawal, state):
    if withdrawal.tx_id is None:
        return
    with transaction.atomic():
        OutgoingTransaction.objects.filter(pk=withdrawal.tx_id).update(state=state, error="x")
        withdrawal_outcome(OutgoingTransaction.objects.get(pk=withdrawal.tx_id))


def _run(op, arg, value, users, rows, world):
    staff = world["staff"]
    w = rows[arg % len(rows)] if rows else None
    if op == "request":
        from settlement.services.withdrawals import WithdrawalDraft, withdrawal_request
        from tests.settlement.conftest import DESTINATION

        user = users[arg]
        draft = WithdrawalDraft(
            token=world["token"], amount_units=value * TOKENS, destination=DESTINATION
        )
        rows.append(withdrawal_request(user=user, draft=draft)[0])
        return
    if w is None:
        return
    w.refresh_from_db()
    if op == "revise":
        withdrawal_revise(user=w.user, withdrawal_id=w.pk, amount_units=value * TOKENS)
    elif op == "approve":
        who = staff[value] if value < 2 else w.user  # 2: the requester tries
        withdrawal_approve(withdrawal_id=w.pk, staff=who, revision=w.revision)
    elif op == "reject":
        withdrawal_reject(withdrawal_id=w.pk, staff=staff[0], note="no")
    elif op == "cancel":
        withdrawal_cancel(user=w.user, withdrawal_id=w.pk)
    elif op == "staff_cancel":
        withdrawal_cancel_by_staff(withdrawal_id=w.pk, staff=staff[1], note="stop")
    elif op == "pay":
        withdrawal_pay(
            withdrawal_id=w.pk, revision=w.revision, hot=world["hot"], fees=FEES, gas_limit=80_000
        )
    elif op in ("confirm", "fail", "drop"):
        state = {"confirm": TxState.CONFIRMED, "fail": TxState.FAILED, "drop": TxState.DROPPED}
        _outcome(w, state[op])


def _check(users, token):
    assert ledger_check_run(record=False).drift_count == 0
    assert reserved_mismatches() == []
    for user in users:
        balances = {
            a.kind: a.balance for a in LedgerAccount.objects.filter(owner=user, token=token)
        }
        done = Withdrawal.objects.filter(user=user, state=WithdrawalState.COMPLETED)
        paid = sum(w.total_units for w in done)
        held = balances.get(AccountKind.AVAILABLE, 0) + balances.get(AccountKind.WITHDRAWING, 0)
        assert held + paid == FUNDED * TOKENS
        assert all(balance >= 0 for balance in balances.values())


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(OPS, min_size=1, max_size=30))
def test_random_sequences_keep_the_ledger_and_the_reservations_right(world, fund, ops):
    token = world["token"]
    with transaction.atomic():
        users = [UserFactory(username=f"h{i}") for i in range(2)]
        for user in users:
            fund(user, token, FUNDED)
        rows: list = []
        for op, arg, value in ops:
            try:
                with transaction.atomic():
                    _run(op, arg, value, users, rows, world)
            except DomainError:
                pass  # refused: nothing may have moved, which _check proves
            _check(users, token)
        transaction.set_rollback(True)
