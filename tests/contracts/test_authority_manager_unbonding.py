"""Stake stays locked (and slashable) until the epochs an authority signed in can no longer
settle, plus a minimum unbonding period that cannot be set to 0.

The attack of the audit: a retired committee withdrew its stake at removal + unbonding
while certificates of its epoch still settled for ever, then certified a redemption of
the whole pool with nothing left to slash.
"""

import brownie
from brownie import AuthorityManager, accounts, chain
from certificates import AUTHORITIES, certify, report, votes
from conftest import STAKE, advance_epoch, now, sleep_until
from revert_reasons import error

NEW_COMMITTEE = AUTHORITIES[4:8]


def retire_epoch_one(governance, manager, committee):
    """Epoch 2 = four new authorities, the four of epoch 1 removed; returns when epoch 2
    is active (epoch 1 closed, its certificates still settling)."""
    calls = [(manager.removeAuthority, (a.address,)) for a in committee]
    calls += [
        (manager.registerAuthority, (a.address, f"http://new-{i}"), STAKE)
        for i, a in enumerate(NEW_COMMITTEE)
    ]
    epoch, _ = advance_epoch(governance, manager, extra_calls=calls)
    assert epoch == 2


def test_a_removed_authority_withdraws_after_its_epochs_settle_and_unbonding(
    manager, consensus, governance, committee
):
    authority = accounts.add(committee[0].key)
    governance(manager.removeAuthority, authority)
    removed_at = manager.authorities(authority)[1]
    # epoch 1 (it is a member) has no successor: it may still sign certificates
    assert manager.withdrawableAt(authority) == 0
    chain.sleep(30 * 86400)
    with brownie.reverts(error("StillBonded", 0)):
        manager.withdrawStake({"from": authority, "gas_price": 0})

    advance_epoch(governance, manager)  # epoch 2 without it: epoch 1 closes
    settles = consensus.settlesUntil(1)
    assert settles == consensus.activatesAt(2) + consensus.settlementWindow()
    ends = max(settles, removed_at) + manager.unbondingPeriod()
    assert manager.withdrawableAt(authority) == ends
    sleep_until(ends - 60)
    with brownie.reverts(error("StillBonded", ends)):
        manager.withdrawStake({"from": authority, "gas_price": 0})
    sleep_until(ends)
    before = authority.balance()
    tx = manager.withdrawStake({"from": authority, "gas_price": 0})
    assert tx.events["StakeWithdrawn"] == {"authority": authority, "amount": STAKE}
    assert authority.balance() - before == STAKE
    with brownie.reverts(error("NothingToWithdraw")):
        manager.withdrawStake({"from": authority, "gas_price": 0})


def test_a_registered_authority_cannot_withdraw(manager, committee):
    authority = accounts.add(committee[1].key)
    with brownie.reverts(error("StillBonded", 0)):
        manager.withdrawStake({"from": authority, "gas_price": 0})


def test_an_authority_removed_before_any_epoch_waits_the_unbonding_only(manager, governance):
    authority = accounts.add(AUTHORITIES[4].key)
    governance(manager.registerAuthority, authority, "http://n5", value=STAKE)
    governance(manager.removeAuthority, authority)
    ends = manager.authorities(authority)[1] + manager.unbondingPeriod()
    assert manager.withdrawableAt(authority) == ends
    sleep_until(ends)
    manager.withdrawStake({"from": authority, "gas_price": 0})


def test_a_retired_committee_stays_slashable_while_its_epoch_settles(
    manager, consensus, governance, domain, committee, make_order, stranger, bob, carol
):
    """The attack: epoch 1's committee is replaced; inside epoch 1's settlement window it
    tries to withdraw (refused) and equivocates on a redemption it certified (slashed)."""
    retire_epoch_one(governance, manager, committee)
    assert consensus.activeEpoch() == 2
    assert now() < consensus.settlesUntil(1)
    # past removal + the minimum unbonding: the old rule would have released the stake
    sleep_until(int(consensus.settlesUntil(1)) - 3600)
    for authority in committee:
        with brownie.reverts(error("StillBonded", manager.withdrawableAt(authority.address))):
            manager.withdrawStake({"from": accounts.add(authority.key), "gas_price": 0})
    # a redemption certified in epoch 1 and a different payment voted for the same slot:
    cheater = committee[0]
    drain = make_order(amount=1_000 * 10**6, sequence=7, epoch=1)
    other = make_order(recipient=bob, amount=1, sequence=7, epoch=1)
    tx = report(manager, stranger, votes(domain, cheater, drain, other))
    assert tx.events["AuthoritySlashed"]["slashed"] == STAKE
    assert consensus.isSlashed(cheater.address)
    # an epoch-1 vote for the same slot in epoch 2 by a retired member is not a member's vote
    late = make_order(recipient=carol, sequence=7, epoch=2)
    with brownie.reverts(error("NotCommitteeMember", committee[1].address, 2)):
        manager.checkEquivocation(*votes(domain, committee[1], drain, late))


def test_the_retired_committee_withdraws_only_once_its_certificates_no_longer_settle(
    manager, consensus, processor, governance, domain, committee, funded, make_order
):
    retire_epoch_one(governance, manager, committee)
    until = int(consensus.settlesUntil(1))
    ends = until + int(manager.unbondingPeriod())
    for authority in committee:
        assert manager.withdrawableAt(authority.address) == ends
    # inside the window an epoch-1 redemption still settles (its signers are still bonded)
    early = make_order(sequence=1, epoch=1)
    processor.processOfflinePayment(early.as_tuple(), certify(domain, early, committee[:3]))
    # the retired committee certifies a redemption of the whole pool for epoch 1: once the
    # window has closed it no longer settles, and only then can the signers withdraw
    drain = make_order(amount=975 * 10**6, sequence=2, epoch=1)  # what is left in the pool
    certificate = certify(domain, drain, committee[:3])
    sleep_until(until + 1)
    with brownie.reverts(error("SettlementWindowClosed", 1, until)):
        processor.processOfflinePayment(drain.as_tuple(), certificate)
    with brownie.reverts(error("StillBonded", ends)):
        manager.withdrawStake({"from": accounts.add(committee[0].key), "gas_price": 0})
    sleep_until(ends)
    for authority in committee:
        manager.withdrawStake({"from": accounts.add(authority.key), "gas_price": 0})
        assert manager.authorities(authority.address)[0] == 0


def test_a_member_of_a_later_epoch_waits_for_that_epoch(manager, consensus, governance, committee):
    authority = accounts.add(committee[0].key)
    advance_epoch(governance, manager)  # epoch 2: still a member
    governance(manager.removeAuthority, authority)
    advance_epoch(governance, manager)  # epoch 3 without it
    assert manager.authorities(authority)[2] == 2  # lastEpoch
    ends = int(consensus.settlesUntil(2)) + int(manager.unbondingPeriod())
    assert manager.withdrawableAt(authority) == ends
    assert consensus.settlesUntil(2) > consensus.settlesUntil(1)
    sleep_until(int(consensus.settlesUntil(1)) + int(manager.unbondingPeriod()))
    with brownie.reverts(error("StillBonded", ends)):
        manager.withdrawStake({"from": authority, "gas_price": 0})


def test_unbonding_has_a_floor(manager, consensus, verifier, governance, admin, carol):
    floor = manager.MIN_UNBONDING_PERIOD()
    with brownie.reverts(error("UnbondingTooShort", 0, floor)):
        governance(manager.setUnbondingPeriod, 0)
    with brownie.reverts(error("UnbondingTooShort", floor - 1, floor)):
        governance(manager.setUnbondingPeriod, floor - 1)
    with brownie.reverts(error("UnbondingTooShort", 0, floor)):
        AuthorityManager.deploy(
            0, admin, consensus, verifier, 1, 100, carol, 3600, 0, {"from": admin}
        )
    tx = governance(manager.setUnbondingPeriod, floor)
    assert tx.events["UnbondingPeriodChanged"] == {"unbondingPeriod": floor}
    assert manager.unbondingPeriod() == floor


def test_nobody_but_the_timelock_changes_the_unbonding_period(manager, admin):
    with brownie.reverts():
        manager.setUnbondingPeriod(manager.MIN_UNBONDING_PERIOD(), {"from": admin})
