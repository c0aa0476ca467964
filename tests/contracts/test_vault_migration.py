"""Migration of the vault's pool to a successor: only to a FastPay vault that names this one
its predecessor and is seeded in the same call, after a time-lock of at least 48 h that a
pause postpones, never while paused, one token at a time; users' withdrawable balances stay
in the old vault and remain withdrawable during and after the migration.

Every admin call goes through the timelock (`governance`, which waits its 48 h delay)."""

import brownie
import pytest
from brownie import FreezableToken, MockUSDT, TokenVault, chain
from certificates import certify
from conftest import UNIT, USDC, USDT
from revert_reasons import error

from scripts.deploy import ZERO_ADDRESS, deploy_settlement

DAY = 86400


@pytest.fixture(scope="module")
def successor(fastpay, vault, verifier, timelock, admin, guardian, settler):
    """A new vault (with its own registry and processor) whose predecessor is the vault."""
    new_vault, _, _ = deploy_settlement(
        admin, verifier, admin=timelock, guardian=guardian, settler=settler, predecessor=vault
    )
    return new_vault


@pytest.fixture
def with_balance(funded, processor, vault, usdt, alice, domain, committee, make_order):
    """Alice redeemed 25 USDT: a withdrawable balance in the vault (the pool keeps 975)."""
    order = make_order()
    processor.processOfflinePayment(order.as_tuple(), certify(domain, order, committee[:3]))
    assert vault.balanceOf(alice, usdt) == 25 * USDT
    return funded


def test_the_time_lock_cannot_be_shorter_than_48_hours(vault, governance, admin, guardian):
    with brownie.reverts(error("MigrationDelayTooShort", 2 * DAY - 1, 2 * DAY)):
        governance(vault.setMigrationDelay, 2 * DAY - 1)
    with brownie.reverts(error("MigrationDelayTooShort", DAY, 2 * DAY)):
        TokenVault.deploy(0, admin, guardian, admin, admin, ZERO_ADDRESS, DAY, {"from": admin})
    tx = governance(vault.setMigrationDelay, 7 * DAY)
    assert tx.events["MigrationDelayChanged"] == {"previousDelay": 2 * DAY, "newDelay": 7 * DAY}


def test_the_target_must_be_a_fastpay_vault_that_names_this_one(
    fastpay, vault, verifier, governance, timelock, admin, guardian, stranger
):
    # attack (issue 11): a migration could be sent to any address, e.g. the admin's own
    unrelated, _, _ = deploy_settlement(admin, verifier, admin=timelock, guardian=guardian)
    token = MockUSDT.deploy({"from": admin})
    for target in (stranger, token, unrelated, vault):
        with brownie.reverts(error("NotAFastPayVault", target)):
            governance(vault.scheduleMigration, target)
    assert vault.pendingMigration() == ZERO_ADDRESS


def test_the_pool_moves_token_by_token_into_the_seeded_successor(
    with_balance, vault, successor, registry, processor, usdt, usdc, alice, governance
):
    tx = governance(vault.scheduleMigration, successor)
    eta = tx.events["MigrationScheduled"]["eta"]
    assert eta == tx.timestamp + 2 * DAY
    assert tx.events["MigrationScheduled"]["newVault"] == successor

    tx = governance(vault.migrateToken, usdt)  # executes once the timelock's delay passed
    assert tx.timestamp >= eta
    assert tx.events["MigrationExecuted"] == {
        "newVault": successor,
        "token": usdt,
        "amount": 975 * USDT,
    }
    assert tx.events["MigrationAccepted"] == {
        "predecessor": vault,
        "token": usdt,
        "amount": 975 * USDT,
    }
    # seeded in the same step: the successor lists the token and holds the pool as ITS pool
    assert successor.poolBalance(usdt) == usdt.balanceOf(successor) == 975 * USDT
    assert [int(x) for x in successor.tokenConfig(usdt)[2:4]] == [18, 6]
    assert vault.poolBalance(usdt) == 0 and vault.migrated()
    # Alice's withdrawable balance stayed, with the tokens backing it
    assert usdt.balanceOf(vault) == vault.balanceOf(alice, usdt) == 25 * USDT
    # the old vault takes no deposit or credit any more, for any token
    with brownie.reverts(error("VaultMigrated")):
        registry.depositTokens(usdc, USDC, {"from": alice})
    governance(vault.migrateToken, usdc)
    assert successor.poolBalance(usdc) == 1_000 * USDC and vault.poolBalance(usdc) == 0
    with brownie.reverts(error("TokenAlreadyMigrated", usdc)):
        governance(vault.migrateToken, usdc)
    # ... and Alice withdraws from it whenever she likes
    vault.withdraw(usdt, 25 * USDT, alice, {"from": alice})
    assert usdt.balanceOf(vault) == 0
    with brownie.reverts(error("VaultMigrated")):
        governance(vault.scheduleMigration, successor)


def test_users_withdraw_while_a_migration_is_pending(
    with_balance, vault, successor, usdt, alice, governance
):
    governance(vault.scheduleMigration, successor)
    assert vault.pendingMigration() == successor
    vault.withdraw(usdt, 25 * USDT, alice, {"from": alice})
    assert vault.balanceOf(alice, usdt) == 0


def test_a_migration_cannot_run_while_paused_and_a_pause_postpones_it(
    with_balance, vault, successor, usdt, guardian, governance
):
    # attack (issue 11): pause the vault (users cannot withdraw) and migrate meanwhile
    tx = governance(vault.scheduleMigration, successor)
    eta = tx.events["MigrationScheduled"]["eta"]
    first = governance.schedule([(vault.migrateToken, (usdt,))])  # ready at eta
    tx = vault.pause({"from": guardian})
    # the users lose no exit time: the migration waits the pause's maximum more
    assert tx.events["MigrationPostponed"] == {"newVault": successor, "eta": eta + 3 * DAY}
    governance.wait()
    with brownie.reverts(error("EnforcedPause")):
        governance.execute(first)
    second = governance.schedule([(vault.migrateToken, (usdt,))])
    governance.wait()  # the pause has expired (3 days), the postponed eta (5) not yet
    chain.mine()
    assert not vault.paused()
    with brownie.reverts(error("MigrationNotReady", eta + 3 * DAY)):
        governance.execute(second)
    governance(vault.migrateToken, usdt)
    assert successor.poolBalance(usdt) == 975 * USDT


def test_a_token_that_refuses_transfers_blocks_only_itself(
    funded, vault, successor, registry, usdt, alice, admin, governance
):
    # attack (issue 11): one token refusing transfers blocked the whole migration
    frozen = FreezableToken.deploy({"from": admin})
    governance(vault.addToken, frozen, 6)
    frozen.mint(alice, 10 * UNIT, {"from": alice})
    frozen.approve(vault, 2**256 - 1, {"from": alice})
    registry.depositTokens(frozen, 10 * UNIT, {"from": alice})
    governance(vault.scheduleMigration, successor)
    frozen.setFrozen(vault, True, {"from": admin})  # the issuer freezes the old vault
    with brownie.reverts(error("AccountFrozen", vault)):
        governance(vault.migrateToken, frozen)
    governance(vault.migrateToken, usdt)
    assert successor.poolBalance(usdt) == 1_000 * USDT
    assert vault.poolBalance(frozen) == 10 * UNIT  # still here, migratable once unfrozen
    frozen.setFrozen(vault, False, {"from": admin})
    governance(vault.migrateToken, frozen)
    assert successor.poolBalance(frozen) == frozen.balanceOf(successor) == 10 * UNIT


def test_only_the_predecessor_seeds_a_vault(funded, successor, usdt, stranger, vault):
    with brownie.reverts(error("NotPredecessor", stranger)):
        successor.acceptMigration(usdt, 6, 0, {"from": stranger})
    assert successor.predecessor() == vault
    # the interface id IFastPayVault = predecessor() ^ acceptMigration(address,uint8,uint256)
    interface_id = int(successor.predecessor.signature, 16) ^ int(
        successor.acceptMigration.signature, 16
    )
    assert successor.supportsInterface(interface_id.to_bytes(4, "big"))


def test_the_guardian_can_cancel_a_migration_until_it_starts(
    funded, vault, successor, usdt, governance, guardian
):
    governance(vault.scheduleMigration, successor)
    tx = vault.cancelMigration({"from": guardian})
    assert tx.events["MigrationCancelled"] == {"newVault": successor}
    with brownie.reverts(error("NoMigrationPending")):
        governance(vault.migrateToken, usdt)
    governance(vault.scheduleMigration, successor)
    governance(vault.migrateToken, usdt)
    with brownie.reverts(error("MigrationStarted")):
        vault.cancelMigration({"from": guardian})


def test_only_one_migration_at_a_time(funded, vault, successor, verifier, governance, admin):
    governance(vault.scheduleMigration, successor)
    other, _, _ = deploy_settlement(admin, verifier, admin=admin, predecessor=vault)
    with brownie.reverts(error("MigrationAlreadyPending", successor)):
        governance(vault.scheduleMigration, other)


def test_nothing_to_cancel(vault, guardian):
    with brownie.reverts(error("NoMigrationPending")):
        vault.cancelMigration({"from": guardian})
