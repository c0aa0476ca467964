"""No single key can take the money: every contract's admin is the timelock.

The attacks of the audit, replayed with the deployer's key (which used to hold
DEFAULT_ADMIN_ROLE everywhere): each now reverts; the same calls scheduled through the
timelock run after its delay and not before.
"""

import brownie
import pytest
from brownie import FastPayTimelock, accounts, chain
from certificates import AUTHORITIES
from conftest import STAKE, advance_epoch, now
from eth_utils import keccak
from revert_reasons import error, unauthorized

from scripts.deploy import MIN_TIMELOCK_DELAY, deploy_fastpay

ADMINISTERED = ("vault", "registry", "consensus", "manager", "processor")
# roles that move money or change the committee (the vault's wiring may be fixed in its
# constructor instead: then nobody, not even the timelock, can grant it)
WIRING = [
    ("vault", "PROCESSOR_ROLE"),
    ("vault", "DEPOSITOR_ROLE"),
    ("consensus", "MANAGER_ROLE"),
    ("processor", "SETTLER_ROLE"),
]


def role_of(contract, name):
    """The role's id, or None when the contract has no such role (fixed wiring)."""
    return getattr(contract, name)() if hasattr(contract, name) else None


def test_the_timelock_administers_every_contract_and_the_deployer_none(fastpay, admin):
    for name in ADMINISTERED:
        contract = getattr(fastpay, name)
        assert contract.hasRole(contract.DEFAULT_ADMIN_ROLE(), fastpay.timelock), name
        assert not contract.hasRole(contract.DEFAULT_ADMIN_ROLE(), admin), name
    for name, role in WIRING:
        contract = getattr(fastpay, name)
        if role_of(contract, role) is not None:
            assert not contract.hasRole(role_of(contract, role), admin), (name, role)
    assert fastpay.timelock.getMinDelay() >= MIN_TIMELOCK_DELAY
    assert int(fastpay.timelock.bootstrapper(), 16) == 0


@pytest.mark.parametrize(("contract", "role"), WIRING, ids=[f"{c}.{r}" for c, r in WIRING])
def test_the_deployer_cannot_grant_itself_a_wiring_role(fastpay, admin, contract, role):
    target = getattr(fastpay, contract)
    role_id = role_of(target, role) or bytes(keccak(text=role))
    with brownie.reverts(unauthorized(admin, target.DEFAULT_ADMIN_ROLE())):
        target.grantRole(role_id, admin, {"from": admin})


def test_the_deployer_cannot_move_the_pool_or_users_balances(fastpay, funded, usdt, alice, admin):
    vault = fastpay.vault
    with brownie.reverts():  # credit the pool to itself: only the processor
        vault.creditBatch([1, 1], {"from": admin})
    with brownie.reverts():  # pull a user's balance: only the depositor (the registry)
        vault.withdrawFor(alice, usdt, 1, admin, {"from": admin})


def test_the_deployer_cannot_install_its_own_committee(fastpay, admin):
    manager, consensus = fastpay.manager, fastpay.consensus
    own = AUTHORITIES[7].address
    admin_role = manager.DEFAULT_ADMIN_ROLE()
    with brownie.reverts(unauthorized(admin, admin_role)):
        manager.registerAuthority(own, "http://evil", {"from": admin, "value": STAKE})
    with brownie.reverts(unauthorized(admin, admin_role)):
        manager.advanceEpoch(0, {"from": admin})
    with brownie.reverts(unauthorized(admin, consensus.MANAGER_ROLE())):
        consensus.snapshot(2, [own], [STAKE], now() + 10, {"from": admin})
    with brownie.reverts(unauthorized(admin, consensus.DEFAULT_ADMIN_ROLE())):
        consensus.grantRole(consensus.MANAGER_ROLE(), admin, {"from": admin})


def test_the_deployer_cannot_take_the_admin_role(fastpay, admin):
    for name in ADMINISTERED:
        contract = getattr(fastpay, name)
        with brownie.reverts():
            contract.grantRole(contract.DEFAULT_ADMIN_ROLE(), admin, {"from": admin})


@pytest.mark.parametrize("name", ["consensus", "manager"])
def test_the_deployer_cannot_start_an_admin_transfer(fastpay, admin, name):
    contract = getattr(fastpay, name)
    with brownie.reverts(unauthorized(admin, contract.DEFAULT_ADMIN_ROLE())):
        contract.beginDefaultAdminTransfer(admin, {"from": admin})


@pytest.mark.parametrize("name", ["consensus", "manager"])
def test_an_admin_transfer_goes_through_the_timelock_and_then_waits_its_own_delay(
    fastpay, governance, carol, name
):
    contract = getattr(fastpay, name)
    governance(contract.beginDefaultAdminTransfer, carol)
    pending, schedule = contract.pendingDefaultAdmin()
    assert pending == carol
    assert schedule == chain[-1].timestamp + contract.defaultAdminDelay()
    with brownie.reverts(error("AccessControlEnforcedDefaultAdminDelay", schedule)):
        contract.acceptDefaultAdminTransfer({"from": carol})
    chain.sleep(int(contract.defaultAdminDelay()) + 1)
    contract.acceptDefaultAdminTransfer({"from": carol})
    assert contract.defaultAdmin() == carol
    assert not contract.hasRole(contract.DEFAULT_ADMIN_ROLE(), fastpay.timelock)


def test_a_scheduled_call_runs_after_the_delay_and_not_before(consensus, governance):
    window = consensus.MIN_SETTLEMENT_WINDOW()
    operation = governance.schedule([(consensus.setSettlementWindow, (window,))])
    not_ready = error("TimelockUnexpectedOperationState", operation.id, b"\x00" * 31 + b"\x04")
    with brownie.reverts(not_ready):
        governance.execute(operation)
    chain.sleep(governance.delay - 120)
    with brownie.reverts(not_ready):
        governance.execute(operation)
    chain.sleep(121)
    governance.execute(operation)
    assert consensus.settlementWindow() == window


def test_a_committee_installed_through_the_timelock_takes_both_delays(
    manager, consensus, governance, committee, admin
):
    newcomer = AUTHORITIES[4].address
    start = now()
    epoch, _ = advance_epoch(
        governance,
        manager,
        extra_calls=[(manager.registerAuthority, (newcomer, "http://n5:9105"), STAKE)],
    )
    assert epoch == 2
    # announced only after the timelock delay, active only after the activation delay
    assert consensus.activatesAt(2) >= start + governance.delay + manager.activationDelay()
    assert consensus.activeEpoch() == 2
    assert manager.endpointOf(newcomer) == "http://n5:9105"


def test_a_proposer_can_cancel_a_scheduled_call(fastpay, manager, governance, admin, bob):
    operation = governance.schedule([(manager.setSlashingParameters, (10_000, bob))])
    fastpay.timelock.cancel(operation.id, {"from": admin})
    governance.wait()
    with brownie.reverts():
        governance.execute(operation)
    assert manager.treasury() != bob


def test_only_proposers_schedule_and_only_executors_execute(
    fastpay, governance, guardian, stranger, bob
):
    timelock, manager = fastpay.timelock, fastpay.manager
    payload = manager.setSlashingParameters.encode_input(10_000, bob)
    for account in (guardian, stranger):
        with brownie.reverts(unauthorized(account, timelock.PROPOSER_ROLE())):
            timelock.schedule(
                manager, 0, payload, b"\x00" * 32, b"\x01" * 32, governance.delay, {"from": account}
            )
    operation = governance.schedule([(manager.setSlashingParameters, (10_000, bob))])
    governance.wait()
    with brownie.reverts(unauthorized(stranger, timelock.EXECUTOR_ROLE())):
        governance.execute(operation, sender=stranger)


def test_the_bootstrap_is_closed_for_good(fastpay, admin):
    timelock, consensus = fastpay.timelock, fastpay.consensus
    payload = consensus.grantRole.encode_input(consensus.MANAGER_ROLE(), admin)
    with brownie.reverts(error("NotBootstrapper", admin)):
        timelock.bootstrap([consensus], [0], [payload], {"from": admin})
    with brownie.reverts(error("NotBootstrapper", admin)):
        timelock.endBootstrap({"from": admin})


def test_the_timelock_delay_has_a_floor(fastpay, governance, admin):
    floor = FastPayTimelock[0].MIN_DELAY()
    assert floor == MIN_TIMELOCK_DELAY
    with brownie.reverts(error("DelayBelowFloor", floor - 1, floor)):
        FastPayTimelock.deploy(floor - 1, [admin], [admin], admin, {"from": admin})
    with brownie.reverts(error("DelayBelowFloor", 0, floor)):
        governance(fastpay.timelock.updateDelay, 0)
    with pytest.raises(ValueError, match="MIN_TIMELOCK_DELAY"):
        deploy_fastpay(admin, timelock_delay=floor - 1)
    governance(fastpay.timelock.updateDelay, floor)
    assert fastpay.timelock.getMinDelay() == floor


def test_the_guardian_has_no_admin_power(fastpay, guardian):
    for name in ADMINISTERED:
        contract = getattr(fastpay, name)
        assert not contract.hasRole(contract.DEFAULT_ADMIN_ROLE(), guardian), name
    timelock = fastpay.timelock
    for role in ("PROPOSER_ROLE", "EXECUTOR_ROLE", "CANCELLER_ROLE", "DEFAULT_ADMIN_ROLE"):
        assert not timelock.hasRole(getattr(timelock, role)(), guardian), role


def test_a_deployment_with_a_multisig_leaves_the_deployer_nothing(admin, carol):
    multisig = accounts[6]
    system = deploy_fastpay(admin, proposers=[multisig], executors=[multisig])
    from scripts.deploy import end_bootstrap

    end_bootstrap(system, admin)
    timelock = system.timelock
    for role in ("PROPOSER_ROLE", "EXECUTOR_ROLE", "CANCELLER_ROLE", "DEFAULT_ADMIN_ROLE"):
        assert not timelock.hasRole(getattr(timelock, role)(), admin), role
    assert timelock.hasRole(timelock.PROPOSER_ROLE(), multisig)
    assert timelock.hasRole(timelock.EXECUTOR_ROLE(), multisig)
