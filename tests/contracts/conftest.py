"""Fixtures for the Brownie contract suite: a deployed, wired FastPay with a 3-of-4
committee (epoch 1), two listed tokens (USDT 18 decimals, USDC 6) and funded users.

Deployment goes through scripts/deploy.py so tests, bench and deploys build the same thing.
"""

import pytest
from brownie import MockUSDC, MockUSDT, accounts, chain
from certificates import AUTHORITIES, domain_of

from fastpay_protocol import typed_data as td
from scripts.anvil_receipts import install as wait_for_receipts
from scripts.deploy import deploy_fastpay, list_tokens, register_committee

wait_for_receipts()

STAKE = 10 * 10**18
USDT = 10**18  # one USDT in base units (18 decimals, as on BSC)
USDC = 10**6
UNIT = 10**6  # one USDT/USDC in ledger units


@pytest.fixture(autouse=True)
def isolation(fn_isolation):
    pass


@pytest.fixture(scope="module")
def admin():
    return accounts[0]


@pytest.fixture(scope="module")
def guardian():
    return accounts[1]


@pytest.fixture(scope="module")
def settler():
    return accounts[2]


@pytest.fixture(scope="module")
def alice():
    return accounts[3]


@pytest.fixture(scope="module")
def bob():
    return accounts[4]


@pytest.fixture(scope="module")
def carol():
    return accounts[5]


@pytest.fixture(scope="module")
def stranger():
    return accounts[9]


@pytest.fixture(scope="module")
def treasury():
    return accounts[8]


@pytest.fixture(scope="module")
def committee():
    """The four authorities of epoch 1 (eth_account accounts, equal stake)."""
    return AUTHORITIES[:4]


@pytest.fixture(scope="module")
def fastpay(admin, guardian, settler, treasury, committee):
    system = deploy_fastpay(
        admin, guardian=guardian, settler=settler, treasury=treasury, min_stake=10**18
    )
    system.usdt = MockUSDT.deploy({"from": admin})
    system.usdc = MockUSDC.deploy({"from": admin})
    list_tokens(system, admin, [system.usdt, system.usdc])
    register_committee(system, admin, [(a.address, STAKE) for a in committee])
    return system


@pytest.fixture(scope="module")
def vault(fastpay):
    return fastpay.vault


@pytest.fixture(scope="module")
def registry(fastpay):
    return fastpay.registry


@pytest.fixture(scope="module")
def processor(fastpay):
    return fastpay.processor


@pytest.fixture(scope="module")
def verifier(fastpay):
    return fastpay.verifier


@pytest.fixture(scope="module")
def manager(fastpay):
    return fastpay.manager


@pytest.fixture(scope="module")
def consensus(fastpay):
    return fastpay.consensus


@pytest.fixture(scope="module")
def usdt(fastpay):
    return fastpay.usdt


@pytest.fixture(scope="module")
def usdc(fastpay):
    return fastpay.usdc


@pytest.fixture(scope="module")
def domain(verifier):
    return domain_of(verifier, chain.id)


@pytest.fixture(scope="module")
def funded(fastpay, registry, vault, usdt, usdc, alice, bob, carol):
    """Alice, Bob and Carol registered, holding tokens and approving the vault; Alice has
    deposited 1,000 USDT and 1,000 USDC into FastPay."""
    for user in (alice, bob, carol):
        registry.registerUser({"from": user})
        usdt.mint(user, 10_000 * USDT, {"from": user})
        usdc.mint(user, 10_000 * USDC, {"from": user})
        usdt.approve(vault, 2**256 - 1, {"from": user})
        usdc.approve(vault, 2**256 - 1, {"from": user})
    registry.depositTokens(usdt, 1_000 * USDT, {"from": alice})
    registry.depositTokens(usdc, 1_000 * USDC, {"from": alice})
    return fastpay


@pytest.fixture(scope="module")
def make_order(usdt, processor, alice):
    """A transfer order from Alice; by default a REDEMPTION (recipient = the processor's
    address, the only kind that settles on-chain). Pass ``recipient=`` for an internal
    FastPay transfer."""

    def make(**fields):
        values = {
            "sender": str(alice),
            "recipient": processor.address,
            "token": usdt.address,
            "amount": 25 * UNIT,
            "sequence": 0,
            "epoch": 1,
        }
        values.update({k: str(v) if hasattr(v, "address") else v for k, v in fields.items()})
        return td.TransferOrder(**values)

    return make
