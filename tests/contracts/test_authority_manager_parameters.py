"""AuthorityManager's parameters: slashing reward and treasury, activation delay, through
the timelock only."""

import brownie
from brownie import AuthorityManager
from revert_reasons import error, unauthorized

HOUR = 3600


def test_the_timelock_sets_reward_and_treasury(manager, governance, carol):
    tx = governance(manager.setSlashingParameters, 2_500, carol)
    assert tx.events["SlashingParametersChanged"] == {"rewardBps": 2_500, "treasury": carol}
    assert manager.rewardBps() == 2_500 and manager.treasury() == carol


def test_nobody_else_sets_them(manager, admin, carol):
    with brownie.reverts(unauthorized(admin, manager.DEFAULT_ADMIN_ROLE())):
        manager.setSlashingParameters(2_500, carol, {"from": admin})
    with brownie.reverts(unauthorized(admin, manager.DEFAULT_ADMIN_ROLE())):
        manager.setActivationDelay(HOUR, {"from": admin})


def test_a_reward_above_the_whole_stake_is_refused(
    manager, consensus, verifier, governance, admin, carol
):
    with brownie.reverts(error("RewardTooHigh", 10_001)):
        governance(manager.setSlashingParameters, 10_001, carol)
    with brownie.reverts(error("RewardTooHigh", 10_001)):
        AuthorityManager.deploy(
            0, admin, consensus, verifier, 1, 10_001, carol, HOUR, 7 * 86400, {"from": admin}
        )


def test_the_treasury_cannot_be_the_zero_address(manager, governance):
    with brownie.reverts(error("ZeroAddress")):
        governance(manager.setSlashingParameters, 100, "0x" + "00" * 20)


def test_the_activation_delay_has_a_floor(manager, consensus, verifier, governance, admin, carol):
    floor = manager.MIN_ACTIVATION_DELAY()
    assert floor == HOUR
    with brownie.reverts(error("ActivationDelayTooShort", 0, floor)):
        governance(manager.setActivationDelay, 0)
    with brownie.reverts(error("ActivationDelayTooShort", floor - 1, floor)):
        AuthorityManager.deploy(
            0, admin, consensus, verifier, 1, 100, carol, floor - 1, 7 * 86400, {"from": admin}
        )
    tx = governance(manager.setActivationDelay, 2 * floor)
    assert tx.events["ActivationDelayChanged"] == {"activationDelay": 2 * floor}
    assert manager.activationDelay() == 2 * floor
