# ruff: noqa: F811 - the fixtures imported from sender_fixtures are parameters here
"""The sender on PostgreSQL with real threads and a real process killed with SIGKILL:

- concurrent tx_create calls for one address get distinct, consecutive nonces (the
  NonceCursor row lock), and racing calls with one idempotency key make one transaction;
- a worker that committed a signed transaction and died before broadcasting it loses
  nothing and sends nothing twice: the follow loop broadcasts the same raw bytes (same
  hash) and the chain's nonce moves by one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection, transaction

from tests.threads import run_threads
from tests.wallets.chain.sender_fixtures import (  # noqa: F401
    credit,
    hd_keys,
    platform,
    sender_deposit_address,
    set_native,
)
from wallets.chain.fees import Fees
from wallets.chain.models import NonceCursor, OutgoingTransaction, TxPurpose, TxState
from wallets.chain.sender import nonce_cursor_ensure, tx_create, tx_follow
from wallets.chain.signer import signer_hd

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]
ROOT = Path(__file__).resolve().parents[3]
GWEI = 10**9
BENEFICIARY = "0x000000000000000000000000000000000000bEEF"


@pytest.fixture
def hot(chain, platform, set_native):
    address = platform["hot"].address
    set_native(address, 10 * 10**18)
    nonce_cursor_ensure(chain, address)
    return address


def create(chain, hot, key: str):
    def run():
        with transaction.atomic():
            return tx_create(
                chain=chain,
                signer=signer_hd(1, 0),
                from_address=hot,
                to=BENEFICIARY,
                value_wei=1,
                gas_limit=21_000,
                fees=Fees(max_fee_per_gas=2 * GWEI, max_priority_fee_per_gas=GWEI),
                purpose=TxPurpose.OTHER,
                reference="concurrent",
                idempotency_key=key,
                confirmations=1,
            ).pk

    return run


def test_concurrent_creates_take_distinct_consecutive_nonces(chain, anvil, hot):
    start = NonceCursor.objects.get(chain=chain, address=hot).next_nonce

    results = run_threads([create(chain, hot, f"thread-{i}") for i in range(8)])

    assert all(isinstance(r, int) for r in results), results
    nonces = sorted(OutgoingTransaction.objects.values_list("nonce", flat=True))
    assert nonces == list(range(start, start + 8))
    assert NonceCursor.objects.get(chain=chain, address=hot).next_nonce == start + 8
    # and they all go out and confirm, in nonce order
    assert tx_follow(chain) == {"mined": 8}  # each broadcast, automined
    assert tx_follow(chain) == {"confirmed": 8}
    assert set(OutgoingTransaction.objects.values_list("state", flat=True)) == {TxState.CONFIRMED}


def test_racing_creates_with_one_key_make_one_transaction(chain, hot):
    start = NonceCursor.objects.get(chain=chain, address=hot).next_nonce

    results = run_threads([create(chain, hot, "same-key") for _ in range(4)])

    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 1
    assert OutgoingTransaction.objects.get().nonce == start
    assert NonceCursor.objects.get(chain=chain, address=hot).next_nonce == start + 1


CHILD = """
import os, signal, sys
import django
django.setup()
from django.db import transaction
from wallets.chain.fees import Fees
from wallets.chain.models import Chain, TxPurpose
from wallets.chain.sender import tx_create
chain = Chain.objects.get(pk=int(sys.argv[1]))
with transaction.atomic():
    tx = tx_create(
        chain=chain, signer="hd:1/0", from_address=sys.argv[2],
        to="0x000000000000000000000000000000000000bEEF", value_wei=7, gas_limit=21_000,
        fees=Fees(max_fee_per_gas=2 * 10**9, max_priority_fee_per_gas=10**9),
        purpose=TxPurpose.OTHER, reference="crash", idempotency_key="crash-drill",
        confirmations=1,
    )
print(tx.attempts.get().tx_hash, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # committed, never broadcast
"""


def test_a_worker_killed_between_sign_and_broadcast_sends_once(chain, anvil, hot, settings):
    w3 = anvil.w3
    nonce_before = w3.eth.get_transaction_count(hot)
    db = connection.settings_dict
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))},
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        "DJANGO_SETTINGS_MODULE": "fastpay.settings",
        "FASTPAY_KEK": settings.FASTPAY_KEK,
        "FASTPAY_HD_SEED_FILE": settings.FASTPAY_HD_SEED_FILE,
        "FASTPAY_EMBEDDED_BEAT": "0",
        "DEBUG": "1",
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(chain.pk), hot],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert child.returncode == -signal.SIGKILL, child.stderr
    signed_hash = child.stdout.strip()
    tx = OutgoingTransaction.objects.get(idempotency_key="crash-drill")
    assert tx.state == TxState.SIGNED and tx.attempts.get().tx_hash == signed_hash
    assert w3.eth.get_transaction_count(hot, "pending") == nonce_before  # nothing sent

    assert tx_follow(chain) == {"mined": 1}  # broadcast the stored bytes, automined
    assert tx_follow(chain) == {"confirmed": 1}
    assert tx_follow(chain) == {}

    tx.refresh_from_db()
    assert tx.state == TxState.CONFIRMED and tx.mined_hash == signed_hash
    assert tx.attempts.count() == 1
    assert w3.eth.get_transaction_count(hot) == nonce_before + 1
    assert w3.eth.get_transaction(signed_hash)["value"] == 7


def test_two_followers_at_once_record_each_outcome_once(chain, anvil, hot):
    from wallets.chain.sender import hooks, on_outcome
    from wallets.models import EntryKind, JournalEntry

    seen = []
    on_outcome(TxPurpose.OTHER, seen.append)
    try:
        ids = [create(chain, hot, f"race-{i}")() for i in range(3)]
        tx_follow(chain)  # broadcast (automined): depth 1 of 1 only from the next head on
        anvil.mine(1)

        results = run_threads([lambda: tx_follow(chain) for _ in range(4)])
    finally:
        hooks._hooks[TxPurpose.OTHER].remove(seen.append)

    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sorted(tx.pk for tx in seen) == sorted(ids)  # each hook ran once
    states = set(OutgoingTransaction.objects.values_list("state", flat=True))
    assert states == {TxState.CONFIRMED}
    assert JournalEntry.objects.filter(kind=EntryKind.CHAIN_FEE).count() == 3


def test_racing_sweeps_of_one_address_start_one(
    chain, anvil, usdt, platform, set_native, sender_deposit_address, credit
):
    from wallets.chain.models import Sweep, TokenPolicy
    from wallets.chain.sweeps import sweep_start

    TokenPolicy.objects.filter(token=usdt).update(sweep_threshold_units=1)
    set_native(platform["gas_station"].address, 10**18)
    address = sender_deposit_address()
    credit(address, usdt, 5 * 10**18)

    results = run_threads([lambda: sweep_start(address, usdt) for _ in range(4)])

    assert not [r for r in results if isinstance(r, BaseException)], results
    assert len([r for r in results if r is not None]) == 1
    assert Sweep.objects.count() == 1
    assert OutgoingTransaction.objects.count() == 1  # one top-up, one nonce of the station
