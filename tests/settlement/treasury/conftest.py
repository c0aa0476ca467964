# ruff: noqa: F811 - the fixtures imported from the chain tests are parameters here
"""Fixtures of the hot/cold wallet tests: the chain tests' anvil, Chain and token rows,
the dev mnemonic's hot wallet (tests/wallets/chain), and a real Safe 1.4.1 deployed from
@safe-global/safe-contracts' artifacts, 2 of 3 owners (fresh keys that sign locally).

- ``operators``: three eth_account keys, owners of the Safe; ``stranger``: not an owner.
- ``cold_safe``: the Safe's address, recorded as the chain's PlatformAddress role cold.
- ``hot``: the hot wallet's address, with gas.
- ``usdt_band``: USDT's HotWalletThreshold, min 100, target 500, max 1,000 tokens.
- ``safe_ledger_untouched``: every test here checks the ledger only got CHAIN_FEE entries.
Each test runs on an anvil snapshot, reverted afterwards (balances start alike).
"""

from __future__ import annotations

import pytest
from eth_account import Account

from tests.wallets.chain.conftest import anvil, chain, chain_tokens  # noqa: F401
from tests.wallets.chain.sender_fixtures import hd_keys, platform, set_native  # noqa: F401

TOKEN = 10**18  # USDT base units (18 decimals on anvil)


@pytest.fixture(autouse=True)
def _chain_snapshot(anvil):
    snapshot = anvil.snapshot()
    yield
    anvil.revert(snapshot)


@pytest.fixture
def usdt(chain_tokens):
    return chain_tokens["USDT"]


@pytest.fixture
def operators():
    return [Account.create() for _ in range(3)]


@pytest.fixture
def stranger():
    return Account.create()


@pytest.fixture
def cold_safe(anvil, chain, operators):
    from settlement.treasury import safe as safelib
    from settlement.treasury.services import cold_set

    address = safelib.safe_deploy(
        anvil.w3,
        deployer=anvil.w3.eth.accounts[0],
        owners=[o.address for o in operators],
        threshold=2,
    )
    cold_set(chain, address)
    return address


@pytest.fixture
def hot(chain, platform, set_native):
    from wallets.chain.sender import nonce_cursor_ensure

    address = platform["hot"].address
    set_native(address, 10 * 10**18)
    nonce_cursor_ensure(chain, address)
    return address


@pytest.fixture
def usdt_band(usdt):
    from settlement.treasury.models import HotWalletThreshold

    unit = 10**usdt.ledger_decimals
    return HotWalletThreshold.objects.create(
        token=usdt, min_units=100 * unit, target_units=500 * unit, max_units=1_000 * unit
    )
