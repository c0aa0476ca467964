"""AuthorityManager: registration with stake and endpoint, removal, epochs, views.
Every admin call goes through the timelock (conftest's ``governance``)."""

import brownie
from brownie import accounts
from certificates import AUTHORITIES
from conftest import STAKE, advance_epoch, sleep_until
from revert_reasons import error


def test_the_initial_committee_is_epoch_one_and_active(manager, consensus, committee):
    assert manager.currentEpoch() == 1
    assert consensus.activeEpoch() == 1
    assert manager.getCommitteeSize() == 4
    assert all(manager.isAuthorityActive(a.address) for a in committee)
    assert consensus.totalStake(1) == 4 * STAKE
    assert consensus.quorumStake(1) == (8 * STAKE) // 3 + 1
    assert set(consensus.membersOf(1)) == {a.address for a in committee}
    assert consensus.settlesUntil(1) == 0  # no successor: epoch 1 has not closed


def test_registering_stakes_and_joins_the_next_epoch(manager, consensus, governance):
    newcomer = AUTHORITIES[4].address
    tx = governance(manager.registerAuthority, newcomer, "https://n5.example:443", value=STAKE)
    assert tx.events["AuthorityRegistered"] == {"authority": newcomer, "stake": STAKE}
    assert tx.events["EndpointChanged"] == {
        "authority": newcomer,
        "endpoint": "https://n5.example:443",
    }
    assert manager.authorities(newcomer)[0] == STAKE
    assert manager.endpointOf(newcomer) == "https://n5.example:443"
    assert not manager.isAuthorityActive(newcomer)  # only from the next epoch
    epoch, tx = advance_epoch(governance, manager, activate=False)
    assert epoch == 2
    assert tx.events["EpochAdvanced"]["committeeSize"] == 5
    assert tx.events["CommitteeSnapshot"]["totalStake"] == 5 * STAKE
    assert not manager.isAuthorityActive(newcomer)  # announced, not active yet
    sleep_until(consensus.activatesAt(2))
    assert manager.isAuthorityActive(newcomer)
    assert consensus.stakeOf(2, newcomer) == STAKE


def test_a_stake_below_the_minimum_is_refused(manager, governance):
    with brownie.reverts(error("StakeTooLow", 10**17, 10**18)):
        governance(manager.registerAuthority, AUTHORITIES[4].address, "http://n5", value=10**17)


def test_an_authority_cannot_register_twice(manager, governance, committee):
    with brownie.reverts(error("AlreadyRegistered", committee[0].address)):
        governance(manager.registerAuthority, committee[0].address, "http://n1", value=STAKE)


def test_an_endpoint_is_required_and_bounded(manager, governance):
    newcomer = AUTHORITIES[4].address
    with brownie.reverts(error("InvalidEndpoint")):
        governance(manager.registerAuthority, newcomer, "", value=STAKE)
    with brownie.reverts(error("InvalidEndpoint")):
        governance(manager.registerAuthority, newcomer, "h" * 257, value=STAKE)


def test_an_authority_changes_its_own_endpoint_and_nobody_else_can(manager, committee, stranger):
    authority = accounts.add(committee[0].key)
    tx = manager.setEndpoint("http://moved:9101", {"from": authority, "gas_price": 0})
    assert tx.events["EndpointChanged"] == {
        "authority": authority,
        "endpoint": "http://moved:9101",
    }
    assert manager.endpointOf(authority) == "http://moved:9101"
    with brownie.reverts(error("NotRegistered", stranger)):
        manager.setEndpoint("http://evil", {"from": stranger})


def test_removal_takes_effect_at_the_next_epoch(manager, consensus, governance, committee):
    leaving = committee[0].address
    tx = governance(manager.removeAuthority, leaving)
    assert tx.events["AuthorityRemoved"]["authority"] == leaving
    assert manager.isAuthorityActive(leaving)
    advance_epoch(governance, manager)
    assert not manager.isAuthorityActive(leaving)
    assert manager.getCommitteeSize() == 3
    assert consensus.stakeOf(2, leaving) == 0


def test_removing_a_non_member_reverts(manager, governance, stranger):
    with brownie.reverts(error("NotRegistered", stranger)):
        governance(manager.removeAuthority, stranger)


def test_an_empty_committee_cannot_start_an_epoch(manager, governance, committee):
    calls = [(manager.removeAuthority, (a.address,)) for a in committee]
    with brownie.reverts(error("EmptyCommittee")):
        advance_epoch(governance, manager, extra_calls=calls)


def test_a_removed_authority_cannot_change_its_endpoint(manager, governance, committee):
    authority = accounts.add(committee[0].key)
    governance(manager.removeAuthority, authority)
    with brownie.reverts(error("NotRegistered", authority)):
        manager.setEndpoint("http://still-here", {"from": authority, "gas_price": 0})
