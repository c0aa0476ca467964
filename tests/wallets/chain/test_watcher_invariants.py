"""Random sequences of deposits, mined blocks, watcher ticks and reorgs of random depth
(some re-including deposits, under the same hash) on a real anvil. After every step: each
log is credited at most once while it lives; at the end, once everything is deep enough:
the credits equal the canonical chain's transfers to deposit addresses, user by user
(a reversed credit shows as a claim), and the ledger checks clean."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from django.db import transaction
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.wallets.chain.watcher_fixtures import balance, ledger_clean, watch
from wallets.chain.models import Deposit, DepositState
from wallets.chain.watcher import TRANSFER_TOPIC, Watcher
from wallets.models import Claim, EntryKind, JournalEntry

pytestmark = pytest.mark.django_db

ADDRESSES = 3

steps = st.lists(
    st.one_of(
        st.tuples(st.just("deposit"), st.integers(0, ADDRESSES - 1), st.integers(1, 10**9)),
        st.tuples(st.just("mine"), st.integers(1, 4)),
        st.tuples(st.just("tick")),
        st.tuples(st.just("reorg"), st.integers(1, 6), st.booleans()),
    ),
    min_size=3,
    max_size=12,
)


def _raw(anvil, tx: dict) -> str:
    """Signed by a fresh key (nonce 0, free gas: the base fee is 0): valid in any block."""
    key = Account.create()
    tx = {**tx, "nonce": 0, "gas": 120_000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0}
    return key.sign_transaction({**tx, "chainId": anvil.chain_id}).raw_transaction.to_0x_hex()


@pytest.fixture
def addresses(deposit_address):
    return [deposit_address()[0] for _ in range(ADDRESSES)]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=steps)
def test_random_deposits_mines_and_reorgs_keep_the_invariants(
    sequence, anvil, chain, usdc, addresses
):
    snapshot = anvil.snapshot()
    try:
        with transaction.atomic():
            _run(sequence, anvil, chain, usdc, addresses)
            transaction.set_rollback(True)
    finally:
        anvil.revert(snapshot)


def _run(sequence, anvil, chain, usdc, addresses):
    from wallets.chain.models import WatcherCursor

    head = anvil.head()
    WatcherCursor.objects.filter(chain=chain).update(
        block_number=head.number, block_hash=head.hash.to_0x_hex(), lease_owner=""
    )
    start = head.number
    watcher = Watcher(chain)
    anvil.mine(1)
    watch(watcher)
    sent: dict[str, int] = {}  # raw tx -> block it was mined in (last seen)
    for step in sequence:
        if step[0] == "deposit":
            _, n, amount = step
            call = anvil.usdc.functions.mint(addresses[n].address, amount)
            data = call._encode_transaction_data()
            raw = _raw(anvil, {"to": anvil.usdc.address, "value": 0, "data": data})
            receipt = anvil.w3.eth.wait_for_transaction_receipt(
                anvil.w3.eth.send_raw_transaction(raw)
            )
            sent[raw] = receipt.blockNumber
        elif step[0] == "mine":
            anvil.mine(step[1])
        elif step[0] == "tick":
            watch(watcher)
        else:
            _, depth, reinclude = step
            top = anvil.w3.eth.block_number
            depth = min(depth, top - start - 1)  # never below the watcher's first block
            if depth < 1:
                continue
            filler = _raw(anvil, {"to": anvil.w3.eth.accounts[7], "value": 0, "data": "0x"})
            txs = [[filler, 0]]
            if reinclude:
                txs += [[raw, depth - 1] for raw, at in sent.items() if at > top - depth]
            anvil.reorg(depth, txs)
            watch(watcher)
        _credited_at_most_once_while_live()

    anvil.mine(chain.confirmations + 1)
    watch(watcher)
    _credited_at_most_once_while_live()
    _credits_match_the_canonical_chain(anvil, chain, usdc, addresses, start)
    ledger_clean()


def _credited_at_most_once_while_live():
    credits = Counter()
    for key in JournalEntry.objects.filter(kind=EntryKind.DEPOSIT).values_list(
        "idempotency_key", flat=True
    ):
        _, _, tx_hash, log_index, _ = key.split(":")
        credits[(tx_hash, int(log_index))] += 1
    live = Counter(
        Deposit.objects.filter(state=DepositState.CONFIRMED).values_list("tx_hash", "log_index")
    )
    reversed_ = Counter(
        Deposit.objects.filter(state=DepositState.REVERSED).values_list("tx_hash", "log_index")
    )
    for log, n in credits.items():
        assert n - reversed_[log] <= 1, (log, n, reversed_[log])
        assert live[log] <= 1


def _credits_match_the_canonical_chain(anvil, chain, usdc, addresses, start):
    head = anvil.w3.eth.block_number
    by_topic = {"0x" + "00" * 12 + a.address[2:].lower(): a for a in addresses}
    logs = anvil.w3.provider.make_request(
        "eth_getLogs",
        [
            {
                "fromBlock": hex(start + 1),
                "toBlock": hex(head - chain.confirmations + 1),
                "address": usdc.contract_address,
                "topics": [TRANSFER_TOPIC],
            }
        ],
    )["result"]
    expected: dict[int, int] = defaultdict(int)
    canonical = set()
    for log in logs:
        address = by_topic.get(log["topics"][2])
        if address is not None:
            expected[address.pk] += int(log["data"], 16)
            canonical.add((log["transactionHash"], int(log["logIndex"], 16), log["blockHash"]))
    confirmed = set(
        Deposit.objects.filter(state=DepositState.CONFIRMED).values_list(
            "tx_hash", "log_index", "block_hash"
        )
    )
    assert confirmed == canonical
    for address in addresses:
        owed = sum(c.outstanding for c in Claim.objects.filter(user=address.user, token=usdc))
        assert balance(address.user, usdc) - owed == expected[address.pk]
