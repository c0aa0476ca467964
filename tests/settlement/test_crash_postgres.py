# ruff: noqa: F811 - the fixtures imported from the chain tests are parameters here
"""A worker paying withdrawals killed with SIGKILL, then restarted: once right after the
commit that signed the transfers (never broadcast), once after the broadcast and before
any receipt. Either way each withdrawal is sent once on-chain and COMPLETED, and the books
match the chain. PostgreSQL (the killed process and the test share the database)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from settlement.models import Withdrawal, WithdrawalState
from settlement.services.paying import reserved_mismatches, withdrawals_pay_due
from tests.settlement.conftest import DESTINATION
from tests.wallets.chain.conftest import anvil, chain, chain_tokens, usdt  # noqa: F401
from tests.wallets.chain.sender_fixtures import hd_keys, platform, set_native  # noqa: F401
from wallets.chain.models import OutgoingTransaction, TxState
from wallets.chain.sender import tx_follow
from wallets.models import AccountKind, LedgerAccount
from wallets.services.checks import ledger_check_run

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.usefixtures("policy"),
]
ROOT = Path(__file__).resolve().parents[2]
BASE = 10**18

CHILD = """
import os, signal, sys
import django
django.setup()
from settlement.services.paying import withdrawals_pay_due
counts = withdrawals_pay_due(broadcast=sys.argv[1] == "broadcast")
print(counts, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # before any receipt is looked at
"""


@pytest.fixture(autouse=True)
def _fresh_chain(anvil):
    snapshot = anvil.snapshot()
    yield
    anvil.revert(snapshot)


@pytest.fixture
def worker(settings):
    def _run(mode: str) -> subprocess.CompletedProcess:
        db = connection.settings_dict
        env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))
            },
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}",
            "DJANGO_SETTINGS_MODULE": "fastpay.settings",
            "FASTPAY_KEK": settings.FASTPAY_KEK,
            "FASTPAY_HD_SEED_FILE": settings.FASTPAY_HD_SEED_FILE,
            "FASTPAY_RISK_ASSESSOR": "wallets.risk.large_amount_review",
            "FASTPAY_EMBEDDED_BEAT": "0",
            "DEBUG": "1",
        }
        return subprocess.run(
            [sys.executable, "-c", CHILD, mode],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return _run


@pytest.mark.parametrize("mode", ["no-broadcast", "broadcast"])
def test_a_killed_worker_pays_each_withdrawal_once(
    mode, worker, alice, fund, request_withdrawal, chain, anvil, usdt, platform, set_native
):
    hot = platform["hot"].address
    set_native(hot, 10 * BASE)
    fund(alice, usdt, 100)
    anvil.mint(usdt, hot, 100 * BASE)
    before = anvil.usdt.functions.balanceOf(DESTINATION).call()
    rows = [request_withdrawal(alice, amount) for amount in (5, 7)]

    child = worker(mode)

    assert child.returncode == -signal.SIGKILL, child.stderr
    assert "'paid': 2" in child.stdout
    assert {w.state for w in Withdrawal.objects.all()} == {WithdrawalState.IN_PROGRESS}
    expected = TxState.BROADCAST if mode == "broadcast" else TxState.SIGNED
    assert set(OutgoingTransaction.objects.values_list("state", flat=True)) == {expected}

    # restarted: nothing is paid again; the sender's loop finishes what was begun
    assert withdrawals_pay_due() == {}
    for _ in range(8):
        anvil.mine(1)
        tx_follow(chain)
        if not Withdrawal.objects.exclude(state=WithdrawalState.COMPLETED).exists():
            break

    assert {w.state for w in Withdrawal.objects.all()} == {WithdrawalState.COMPLETED}
    assert OutgoingTransaction.objects.count() == 2
    assert all(tx.attempts.count() == 1 for tx in OutgoingTransaction.objects.all())
    assert anvil.usdt.functions.balanceOf(DESTINATION).call() - before == 12 * BASE
    assert ledger_check_run(record=False).drift_count == 0
    assert reserved_mismatches() == []
    custody = LedgerAccount.objects.get(owner=None, token=usdt, kind=AccountKind.CUSTODY)
    assert -custody.balance * 10**12 == anvil.usdt.functions.balanceOf(hot).call()
    assert sorted(w.amount_onchain for w in Withdrawal.objects.all()) == sorted(
        str(w.amount_units * 10**12) for w in rows
    )
