"""AuthorityManager.advanceEpoch(activatesAt): a new committee is announced at least the
activation delay before it activates (after the timelock's delay), and its predecessor's
certificates settle until settlesUntil."""

import brownie
from certificates import AUTHORITIES
from conftest import STAKE, advance_epoch, next_epoch_at, now, sleep_until
from revert_reasons import error


def test_a_new_epoch_activates_no_earlier_than_the_activation_delay(manager, consensus, governance):
    operation = governance.schedule([(manager.advanceEpoch, (0,))])
    governance.wait()
    earliest = now() + manager.activationDelay()
    with brownie.reverts():  # ActivationTooEarly(0, block.timestamp + activationDelay)
        governance.execute(operation)
    assert consensus.currentEpoch() == 1
    at = next_epoch_at(governance, manager)
    assert at > earliest
    tx = governance(manager.advanceEpoch, at)
    assert tx.events["EpochAdvanced"] == {"epoch": 2, "committeeSize": 4, "activatesAt": at}
    assert consensus.activatesAt(2) == at


def test_activation_one_second_too_early_is_refused(manager, governance):
    operation = governance.schedule([(manager.advanceEpoch, (now(),))])
    governance.wait()
    with brownie.reverts():
        governance.execute(operation)
    # exactly the delay: accepted (activatesAt >= block.timestamp + activationDelay)
    at = next_epoch_at(governance, manager, margin=0) + 5
    governance(manager.advanceEpoch, at)


def test_the_old_committee_votes_until_the_new_one_activates(
    manager, consensus, governance, committee
):
    newcomer = AUTHORITIES[4].address
    epoch, _ = advance_epoch(
        governance,
        manager,
        activate=False,
        extra_calls=[
            (manager.removeAuthority, (committee[0].address,)),
            (manager.registerAuthority, (newcomer, "http://n5"), STAKE),
        ],
    )
    assert consensus.activeEpoch() == 1
    assert manager.isAuthorityActive(committee[0].address)
    assert not manager.isAuthorityActive(newcomer)
    sleep_until(consensus.activatesAt(epoch))
    assert consensus.activeEpoch() == 2
    assert not manager.isAuthorityActive(committee[0].address)
    assert manager.isAuthorityActive(newcomer)
    assert consensus.settlesUntil(1) == consensus.activatesAt(2) + consensus.settlementWindow()


def test_an_epoch_waits_for_its_predecessor_to_activate(manager, consensus, governance):
    advance_epoch(governance, manager, activate=False)
    at2 = consensus.activatesAt(2)
    operation = governance.schedule([(manager.advanceEpoch, (at2 + 30 * 86400,))])
    governance.wait()
    assert now() < at2
    with brownie.reverts(error("PreviousEpochNotActive", 2, at2)):
        governance.execute(operation)


def test_a_committee_with_a_member_holding_a_third_is_refused(manager, governance):
    heavy = AUTHORITIES[4].address
    # 4 x 10 + 20 = 60: 20 is exactly a third
    with brownie.reverts(error("StakeTooConcentrated", heavy, 20 * 10**18, 60 * 10**18)):
        advance_epoch(
            governance,
            manager,
            extra_calls=[(manager.registerAuthority, (heavy, "http://heavy"), 20 * 10**18)],
        )
