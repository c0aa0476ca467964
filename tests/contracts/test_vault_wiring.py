"""No single key can take the money through the settlement contracts: the vault's wiring
(depositor = the registry, processor = the processor) is fixed at deployment, so not even the
admin (the timelock) can make itself a processor or a depositor; the admin role moves only in
two delayed steps (AccessControlDefaultAdminRules); the deployer holds no role at all."""

import brownie
import pytest
from brownie import FastPayRegistry, OfflinePaymentProcessor, TokenVault
from conftest import UNIT, USDT
from revert_reasons import error, unauthorized

from scripts.deploy import DEFAULT_ADMIN_DELAY, ZERO_ADDRESS


def test_the_wiring_is_the_deployed_registry_and_processor(vault, registry, processor):
    assert vault.depositor() == registry and vault.processor() == processor
    assert vault.hasRole(vault.DEPOSITOR_ROLE(), registry)
    assert vault.hasRole(vault.PROCESSOR_ROLE(), processor)
    assert processor.vault() == vault and registry.vault() == vault


@pytest.mark.parametrize("role", ["PROCESSOR_ROLE", "DEPOSITOR_ROLE"])
def test_the_admin_cannot_grant_itself_a_wiring_role(
    funded, vault, timelock, governance, alice, role
):
    # attack (issue 11): the admin granted itself PROCESSOR_ROLE and credited the pool to
    # itself, or DEPOSITOR_ROLE and pulled users' approved tokens, bypassing the
    # migration lock. Even through the timelock the role cannot be granted now.
    role_id = getattr(vault, role)()
    with brownie.reverts(error("WiringRoleFixed", role_id)):
        governance(vault.grantRole, role_id, timelock)
    assert not vault.hasRole(role_id, timelock)
    # and the timelock itself calling credit or depositToPool is refused
    with brownie.reverts(unauthorized(timelock, vault.PROCESSOR_ROLE())):
        governance(vault.credit, vault.tokens(0), timelock, UNIT)
    with brownie.reverts(unauthorized(timelock, vault.DEPOSITOR_ROLE())):
        governance(vault.depositToPool, alice, vault.tokens(0), USDT)


@pytest.mark.parametrize("role", ["PROCESSOR_ROLE", "DEPOSITOR_ROLE"])
def test_the_wiring_cannot_be_revoked_either(vault, registry, processor, governance, role):
    role_id = getattr(vault, role)()
    holder = processor if role == "PROCESSOR_ROLE" else registry
    with brownie.reverts(error("WiringRoleFixed", role_id)):
        governance(vault.revokeRole, role_id, holder)


def test_the_deployer_holds_no_role_on_the_settlement_contracts(
    vault, registry, processor, admin, timelock
):
    for contract in (vault, registry, processor):
        assert contract.defaultAdmin() == timelock
        assert contract.defaultAdminDelay() == DEFAULT_ADMIN_DELAY
        assert not contract.hasRole(contract.DEFAULT_ADMIN_ROLE(), admin)
        with brownie.reverts(unauthorized(admin, contract.DEFAULT_ADMIN_ROLE())):
            contract.grantRole(contract.GUARDIAN_ROLE(), admin, {"from": admin})


def test_the_admin_role_moves_only_in_two_delayed_steps(
    vault, timelock, governance, stranger, admin
):
    with brownie.reverts(error("AccessControlEnforcedDefaultAdminRules")):
        governance(vault.grantRole, vault.DEFAULT_ADMIN_ROLE(), stranger)
    governance(vault.beginDefaultAdminTransfer, stranger)
    pending, schedule = vault.pendingDefaultAdmin()
    assert pending == stranger and schedule > 0
    # nothing changes until the stranger accepts after the delay; the timelock can cancel
    assert vault.defaultAdmin() == timelock
    governance(vault.cancelDefaultAdminTransfer)
    assert vault.pendingDefaultAdmin()[0] == ZERO_ADDRESS


def test_a_registry_or_processor_the_vault_does_not_name_cannot_be_deployed(
    vault, verifier, admin, guardian
):
    with brownie.reverts(error("VaultNotWired", vault)):
        FastPayRegistry.deploy(0, admin, guardian, vault, {"from": admin})
    with brownie.reverts(error("VaultNotWired", vault)):
        OfflinePaymentProcessor.deploy(0, admin, guardian, admin, vault, verifier, {"from": admin})
    with brownie.reverts(error("ZeroAddress")):
        TokenVault.deploy(
            0, admin, guardian, ZERO_ADDRESS, admin, ZERO_ADDRESS, 2 * 86400, {"from": admin}
        )
