"""Fixtures for the Brownie contract suite: a deployed, wired FastPay with a 3-of-4
committee (epoch 1, active), two listed tokens (USDT 18 decimals, USDC 6) and funded users.

Deployment goes through scripts/deploy.py so tests, bench and deploys build the same thing.
Every contract's admin is the timelock: admin calls go through the ``governance`` fixture
(schedule on the timelock, ``chain.sleep`` past its delay, execute), e.g.
``governance(manager.removeAuthority, address)`` or ``governance.batch([(method, args,
value), ...])``; ``advance_epoch(governance, manager)`` installs the next committee and
sleeps until it is active. The ``admin`` account is the deployer, the timelock's only
proposer and executor: it holds no role on the contracts themselves.
"""

import itertools
from types import SimpleNamespace

import pytest
from brownie import MockUSDC, MockUSDT, accounts, chain
from certificates import AUTHORITIES, domain_of

from fastpay_protocol import typed_data as td
from scripts.anvil_receipts import install as wait_for_receipts
from scripts.deploy import deploy_fastpay, end_bootstrap, list_tokens, register_committee

wait_for_receipts()

STAKE = 10 * 10**18
USDT = 10**18  # one USDT in base units (18 decimals, as on BSC)
USDC = 10**6
UNIT = 10**6  # one USDT/USDC in ledger units
ZERO32 = b"\x00" * 32
_salts = itertools.count(1)


class Governance:
    """Admin calls the only way they run now: a batch scheduled on the timelock by the
    proposer, executed by the executor once its delay has passed."""

    def __init__(self, timelock, proposer, executor=None):
        self.timelock = timelock
        self.proposer = proposer
        self.executor = executor or proposer

    @property
    def delay(self):
        return int(self.timelock.getMinDelay())

    def schedule(self, calls, *, delay=None):
        """Schedule ``calls`` [(method, args) or (method, args, value)]; returns the
        operation (pass it to ``execute``)."""
        targets, values, payloads = [], [], []
        for call in calls:
            method, args, value = (*call, 0) if len(call) == 2 else call
            targets.append(method._address)
            values.append(int(value))
            payloads.append(method.encode_input(*args))
        salt = next(_salts).to_bytes(32, "big")
        operation = SimpleNamespace(targets=targets, values=values, payloads=payloads, salt=salt)
        self.timelock.scheduleBatch(
            targets,
            values,
            payloads,
            ZERO32,
            salt,
            self.delay if delay is None else delay,
            {"from": self.proposer},
        )
        operation.id = self.timelock.hashOperationBatch(targets, values, payloads, ZERO32, salt)
        return operation

    def execute(self, operation, sender=None):
        return self.timelock.executeBatch(
            operation.targets,
            operation.values,
            operation.payloads,
            ZERO32,
            operation.salt,
            {"from": sender or self.executor, "value": sum(operation.values)},
        )

    def wait(self):
        chain.sleep(self.delay + 1)

    def batch(self, calls):
        """Schedule ``calls``, wait for the delay, execute; returns the execution tx."""
        operation = self.schedule(calls)
        self.wait()
        return self.execute(operation)

    def __call__(self, method, *args, value=0):
        return self.batch([(method, args, value)])


def now():
    """The latest block's timestamp: the chain's own clock (Brownie's chain.time() is a
    local estimate that can drift from anvil's across snapshots and reverts)."""
    return int(chain[-1].timestamp)


def next_epoch_at(governance, manager, margin=60):
    """An activatesAt that an advanceEpoch scheduled now can pass when executed."""
    return now() + governance.delay + int(manager.activationDelay()) + margin


def advance_epoch(governance, manager, *, activate=True, extra_calls=()):
    """Install the next committee through the timelock (after ``extra_calls``, e.g.
    registrations); with ``activate`` sleep until it is active. Returns (epoch, tx)."""
    at = next_epoch_at(governance, manager)
    tx = governance.batch([*extra_calls, (manager.advanceEpoch, (at,))])
    if activate:
        sleep_until(at)
    return int(manager.currentEpoch()), tx


def sleep_until(timestamp):
    """Move the chain's clock to ``timestamp`` (at least) and mine a block there."""
    latest = now()
    if timestamp > latest:
        chain.sleep(int(timestamp - latest) + 1)
    chain.mine()


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
    end_bootstrap(system, admin)
    return system


@pytest.fixture(scope="module")
def timelock(fastpay):
    return fastpay.timelock


@pytest.fixture(scope="module")
def governance(timelock, admin):
    """Schedules + waits + executes admin calls on the timelock (see Governance)."""
    return Governance(timelock, admin)


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
