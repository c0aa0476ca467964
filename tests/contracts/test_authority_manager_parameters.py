"""AuthorityManager's slashing parameters and unbonding period."""

import brownie
from brownie import AuthorityManager
from revert_reasons import error


def test_the_admin_sets_reward_and_treasury(manager, admin, carol):
    tx = manager.setSlashingParameters(2_500, carol, {"from": admin})
    assert tx.events["SlashingParametersChanged"] == {"rewardBps": 2_500, "treasury": carol}
    assert manager.rewardBps() == 2_500 and manager.treasury() == carol


def test_a_reward_above_the_whole_stake_is_refused(manager, consensus, verifier, admin, carol):
    with brownie.reverts(error("RewardTooHigh", 10_001)):
        manager.setSlashingParameters(10_001, carol, {"from": admin})
    with brownie.reverts(error("RewardTooHigh", 10_001)):
        AuthorityManager.deploy(admin, consensus, verifier, 1, 10_001, carol, {"from": admin})


def test_the_treasury_cannot_be_the_zero_address(manager, admin):
    with brownie.reverts(error("ZeroAddress")):
        manager.setSlashingParameters(100, "0x" + "00" * 20, {"from": admin})


def test_the_admin_sets_the_unbonding_period(manager, admin):
    tx = manager.setUnbondingPeriod(3 * 86400, {"from": admin})
    assert tx.events["UnbondingPeriodChanged"] == {"unbondingPeriod": 3 * 86400}
    assert manager.unbondingPeriod() == 3 * 86400
