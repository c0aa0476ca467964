"""Emergency migration of the vault's funds: a time-lock of at least 48 h, cancellable."""

import brownie
from brownie import TokenVault, chain
from conftest import USDC, USDT
from revert_reasons import error

DAY = 86400


def test_the_time_lock_cannot_be_shorter_than_48_hours(vault, admin, guardian):
    with brownie.reverts(error("MigrationDelayTooShort", 2 * DAY - 1, 2 * DAY)):
        vault.setMigrationDelay(2 * DAY - 1, {"from": admin})
    with brownie.reverts(error("MigrationDelayTooShort", DAY, 2 * DAY)):
        TokenVault.deploy(admin, guardian, DAY, {"from": admin})
    tx = vault.setMigrationDelay(7 * DAY, {"from": admin})
    assert tx.events["MigrationDelayChanged"] == {"previousDelay": 2 * DAY, "newDelay": 7 * DAY}


def test_a_migration_is_announced_then_executed_after_the_delay(
    funded, vault, usdt, usdc, admin, stranger
):
    tx = vault.scheduleMigration(stranger, {"from": admin})
    eta = tx.events["MigrationScheduled"]["eta"]
    assert eta == tx.timestamp + 2 * DAY
    assert tx.events["MigrationScheduled"]["newVault"] == stranger

    chain.sleep(2 * DAY - 60)
    with brownie.reverts(error("MigrationNotReady", eta)):
        vault.executeMigration({"from": admin})
    chain.sleep(61)
    tx = vault.executeMigration({"from": admin})

    moved = {e["token"]: e["amount"] for e in tx.events["MigrationExecuted"]}
    assert moved == {usdt.address: 1_000 * USDT, usdc.address: 1_000 * USDC}
    assert usdt.balanceOf(stranger) == 1_000 * USDT and usdt.balanceOf(vault) == 0
    assert vault.migrated() and vault.paused()
    with brownie.reverts(error("VaultMigrated")):
        vault.unpause({"from": admin})
    with brownie.reverts(error("VaultMigrated")):
        vault.scheduleMigration(stranger, {"from": admin})


def test_the_guardian_can_cancel_a_migration(funded, vault, admin, guardian, stranger):
    vault.scheduleMigration(stranger, {"from": admin})
    tx = vault.cancelMigration({"from": guardian})
    assert tx.events["MigrationCancelled"] == {"newVault": stranger}
    chain.sleep(3 * DAY)
    with brownie.reverts(error("NoMigrationPending")):
        vault.executeMigration({"from": admin})


def test_only_one_migration_at_a_time(vault, admin, stranger, alice):
    vault.scheduleMigration(stranger, {"from": admin})
    with brownie.reverts(error("MigrationAlreadyPending", stranger)):
        vault.scheduleMigration(alice, {"from": admin})


def test_nothing_to_cancel(vault, guardian):
    with brownie.reverts(error("NoMigrationPending")):
        vault.cancelMigration({"from": guardian})
