# ruff: noqa: F811 - the fixtures imported from sender_fixtures are parameters here
"""The legacy path on a real pre-London node: anvil on the berlin hardfork has no base
fee, so the sender quotes eth_gasPrice (capped), signs a type-0 transaction, and its gas
(gasUsed x gasPrice) is the CHAIN_FEE entry."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

import pytest
from django.db import transaction

from tests.authorities.anvil import ANVIL, require_chain_tools
from tests.authorities.nodes import free_port
from tests.wallets.chain.conftest import Anvil
from tests.wallets.chain.sender_fixtures import hd_keys, platform, set_native  # noqa: F401
from wallets.chain.fees import fees_quote
from wallets.chain.models import TxPurpose, TxState
from wallets.chain.sender import nonce_cursor_ensure, tx_broadcast, tx_create, tx_follow
from wallets.chain.signer import signer_hd
from wallets.models import EntryKind, JournalEntry
from wallets.services.checks import ledger_check_run


@pytest.fixture(scope="module")
def anvil():
    """This module's own anvil, berlin (no EIP-1559): overrides the folder's cancun one."""
    from web3 import Web3

    require_chain_tools()
    port = free_port()
    args = ["--host", "127.0.0.1", "--port", str(port), "--silent", "--hardfork", "berlin"]
    proc = subprocess.Popen(
        [str(ANVIL), *args, "--gas-price", "3000000000"], start_new_session=True
    )
    w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}", request_kwargs={"timeout": 10}))
    try:
        for _ in range(200):
            with contextlib.suppress(Exception):
                if w3.eth.chain_id:
                    break
            time.sleep(0.05)
        yield Anvil(w3=w3, usdt=None, usdc=None, url=w3.provider.endpoint_uri, chain_id=31337)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def test_a_chain_without_base_fee_sends_a_legacy_transaction(chain, anvil, platform, set_native):
    w3 = anvil.w3
    assert w3.eth.get_block("latest").get("baseFeePerGas") is None
    hot = platform["hot"].address
    set_native(hot, 10**18)
    nonce_cursor_ensure(chain, hot)

    fees = fees_quote(chain)
    assert fees.legacy and fees.gas_price == w3.eth.gas_price
    with transaction.atomic():
        tx = tx_create(
            chain=chain,
            signer=signer_hd(1, 0),
            from_address=hot,
            to="0x000000000000000000000000000000000000bEEF",
            value_wei=9,
            gas_limit=21_000,
            fees=fees,
            purpose=TxPurpose.OTHER,
            reference="legacy",
            idempotency_key="legacy-berlin",
            confirmations=1,
        )
    tx_broadcast(tx)
    anvil.mine(1)
    tx_follow(chain)

    tx.refresh_from_db()
    assert tx.state == TxState.CONFIRMED
    mined = w3.eth.get_transaction(tx.mined_hash)
    assert mined["type"] == 0 and mined["gasPrice"] == fees.gas_price
    assert int(tx.fee_wei) == 21_000 * fees.gas_price
    assert JournalEntry.objects.filter(kind=EntryKind.CHAIN_FEE).count() == 1
    assert ledger_check_run().drift_count == 0
