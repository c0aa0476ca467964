"""AuthorityManager: registration with stake, removal, epochs, views, unbonding."""

import brownie
from brownie import accounts, chain
from certificates import AUTHORITIES
from conftest import STAKE
from revert_reasons import error


def test_the_initial_committee_is_epoch_one(manager, consensus, committee):
    assert manager.currentEpoch() == 1
    assert manager.getCommitteeSize() == 4
    assert all(manager.isAuthorityActive(a.address) for a in committee)
    assert consensus.totalStake(1) == 4 * STAKE
    assert consensus.quorumStake(1) == (8 * STAKE) // 3 + 1
    assert set(consensus.membersOf(1)) == {a.address for a in committee}


def test_registering_stakes_and_joins_the_next_epoch(manager, consensus, admin):
    newcomer = AUTHORITIES[4].address
    tx = manager.registerAuthority(newcomer, {"from": admin, "value": 2 * STAKE})
    assert tx.events["AuthorityRegistered"] == {"authority": newcomer, "stake": 2 * STAKE}
    assert manager.authorities(newcomer)[0] == 2 * STAKE
    assert not manager.isAuthorityActive(newcomer)  # only from the next epoch
    tx = manager.advanceEpoch({"from": admin})
    assert tx.events["EpochAdvanced"] == {"epoch": 2, "committeeSize": 5}
    assert tx.events["CommitteeSnapshot"]["totalStake"] == 6 * STAKE
    assert manager.isAuthorityActive(newcomer)
    assert consensus.stakeOf(2, newcomer) == 2 * STAKE


def test_a_stake_below_the_minimum_is_refused(manager, admin):
    with brownie.reverts(error("StakeTooLow", 10**17, 10**18)):
        manager.registerAuthority(AUTHORITIES[4].address, {"from": admin, "value": 10**17})


def test_an_authority_cannot_register_twice(manager, committee, admin):
    with brownie.reverts(error("AlreadyRegistered", committee[0].address)):
        manager.registerAuthority(committee[0].address, {"from": admin, "value": STAKE})


def test_removal_takes_effect_at_the_next_epoch(manager, committee, admin):
    leaving = committee[0].address
    tx = manager.removeAuthority(leaving, {"from": admin})
    assert tx.events["AuthorityRemoved"]["authority"] == leaving
    assert manager.isAuthorityActive(leaving)
    manager.advanceEpoch({"from": admin})
    assert not manager.isAuthorityActive(leaving)
    assert manager.getCommitteeSize() == 3


def test_removing_a_non_member_reverts(manager, admin, stranger):
    with brownie.reverts(error("NotRegistered", stranger)):
        manager.removeAuthority(stranger, {"from": admin})


def test_an_empty_committee_cannot_start_an_epoch(manager, committee, admin):
    for a in committee:
        manager.removeAuthority(a.address, {"from": admin})
    with brownie.reverts(error("EmptyCommittee")):
        manager.advanceEpoch({"from": admin})


def test_a_removed_authority_withdraws_its_stake_after_unbonding(manager, admin):
    authority = accounts.add(AUTHORITIES[4].key)
    manager.registerAuthority(authority, {"from": admin, "value": STAKE})
    with brownie.reverts(error("StillBonded", 0)):
        manager.withdrawStake({"from": authority})
    ends = manager.removeAuthority(authority, {"from": admin}).events["AuthorityRemoved"][
        "unbondingEnds"
    ]
    with brownie.reverts(error("StillBonded", ends)):
        manager.withdrawStake({"from": authority})
    chain.sleep(14 * 24 * 3600 + 1)
    before = authority.balance()
    tx = manager.withdrawStake({"from": authority, "gas_price": 0})
    assert tx.events["StakeWithdrawn"] == {"authority": authority, "amount": STAKE}
    assert authority.balance() - before == STAKE
    with brownie.reverts(error("NothingToWithdraw")):
        manager.withdrawStake({"from": authority})


def test_a_removed_authority_still_in_the_current_committee_keeps_its_stake(manager, admin):
    authority = accounts.add(AUTHORITIES[4].key)
    manager.registerAuthority(authority, {"from": admin, "value": STAKE})
    manager.advanceEpoch({"from": admin})  # epoch 2 counts its votes
    manager.removeAuthority(authority, {"from": admin})
    chain.sleep(15 * 24 * 3600)
    with brownie.reverts(error("StillInCommittee", 2)):
        manager.withdrawStake({"from": authority, "gas_price": 0})
    manager.advanceEpoch({"from": admin})
    manager.withdrawStake({"from": authority, "gas_price": 0})
    assert manager.authorities(authority)[0] == 0
