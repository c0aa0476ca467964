"""CommitteeConsensus.snapshot, the epoch schedule and disqualify, called directly by a
stand-in manager (granted MANAGER_ROLE through the timelock)."""

import brownie
import pytest
from brownie import CommitteeConsensus
from conftest import now, sleep_until
from revert_reasons import error

from scripts.deploy import MIN_SETTLEMENT_WINDOW, deploy_fastpay

A = "0x" + "0a" * 20
B = "0x" + "0b" * 20
C = "0x" + "0c" * 20
D = "0x" + "0d" * 20


def addr(i):
    return "0x" + i.to_bytes(20, "big").hex()


@pytest.fixture(scope="module")
def manager_account(consensus, governance, carol):
    governance(consensus.grantRole, consensus.MANAGER_ROLE(), carol)
    return carol


def later(seconds=3600):
    return now() + seconds


def test_a_snapshot_records_members_stakes_total_and_activation(consensus, manager_account):
    at = later()
    tx = consensus.snapshot(2, [A, B], [3, 5], at, {"from": manager_account})
    event = tx.events["CommitteeSnapshot"]
    assert [str(m).lower() for m in event["members"]] == [A, B]
    assert (event["epoch"], list(event["stakes"]), event["totalStake"]) == (2, [3, 5], 8)
    assert event["activatesAt"] == at
    assert consensus.currentEpoch() == 2
    assert consensus.activatesAt(2) == at
    assert consensus.stakeOf(2, A) == 3 and consensus.stakeOf(2, B) == 5
    stake, slashed = consensus.memberInfo(2, B)
    assert (int(stake), slashed) == (5, False)
    assert consensus.quorumStake(2) == 6  # more than 2/3 of 8


def test_the_active_epoch_switches_at_activates_at(consensus, manager_account):
    at = later()
    consensus.snapshot(2, [A], [1], at, {"from": manager_account})
    assert consensus.activeEpoch() == 1
    sleep_until(at - 10)
    assert consensus.activeEpoch() == 1
    sleep_until(at)
    assert consensus.activeEpoch() == 2


def test_a_successor_closes_an_epoch_and_fixes_its_settlement_deadline(consensus, manager_account):
    assert consensus.settlesUntil(1) == 0
    at = later()
    consensus.snapshot(2, [A], [1], at, {"from": manager_account})
    assert consensus.settlesUntil(1) == at + consensus.settlementWindow()
    assert consensus.settlesUntil(2) == 0


def test_settlement_deadlines_never_go_backwards(consensus, governance, manager_account):
    window = 3 * consensus.MIN_SETTLEMENT_WINDOW()
    governance(consensus.setSettlementWindow, window)
    at2 = later()
    consensus.snapshot(2, [A], [1], at2, {"from": manager_account})
    governance(consensus.setSettlementWindow, consensus.MIN_SETTLEMENT_WINDOW())
    sleep_until(at2)
    at3 = later(60)
    consensus.snapshot(3, [B], [1], at3, {"from": manager_account})
    # at3 + 7 days < at2 + 21 days: epoch 2 settles as long as epoch 1 does
    assert at3 + consensus.MIN_SETTLEMENT_WINDOW() < at2 + window
    assert consensus.settlesUntil(2) == consensus.settlesUntil(1) == at2 + window


def test_epochs_go_one_by_one(consensus, manager_account):
    with brownie.reverts(error("EpochOutOfOrder", 2, 3)):
        consensus.snapshot(3, [A], [1], later(), {"from": manager_account})
    with brownie.reverts(error("EpochOutOfOrder", 2, 1)):
        consensus.snapshot(1, [A], [1], later(), {"from": manager_account})


def test_a_later_epoch_activates_in_the_future(consensus, manager_account):
    latest = now()
    with brownie.reverts():
        consensus.snapshot(2, [A], [1], latest - 1, {"from": manager_account})


def test_an_epoch_is_announced_only_once_the_previous_one_is_active(consensus, manager_account):
    at = later()
    consensus.snapshot(2, [A], [1], at, {"from": manager_account})
    with brownie.reverts(error("PreviousEpochNotActive", 2, at)):
        consensus.snapshot(3, [B], [1], at + 3600, {"from": manager_account})


@pytest.mark.parametrize(
    ("members", "stakes", "expected"),
    [
        ([], [], error("EmptyCommittee")),
        ([A, B], [1], error("LengthMismatch")),
        ([A, A], [1, 1], error("DuplicateMember", A)),
        ([A, B], [1, 0], error("ZeroStake", B)),
        # four or more members: one holding 1/3 of the stake or more is refused
        ([A, B, C, D], [1, 1, 1, 3], error("StakeTooConcentrated", D, 3, 6)),
        ([A, B, C, D], [2, 2, 1, 1], error("StakeTooConcentrated", A, 2, 6)),
    ],
)
def test_malformed_committees_are_refused(consensus, manager_account, members, stakes, expected):
    with brownie.reverts(expected):
        consensus.snapshot(2, members, stakes, later(), {"from": manager_account})


def test_too_many_members_are_refused(consensus, manager_account):
    members = [addr(i + 1) for i in range(256)]
    with brownie.reverts(error("TooManyMembers", 256)):
        consensus.snapshot(2, members, [1] * 256, later(), {"from": manager_account})


def test_a_concentrated_stake_is_accepted_below_four_members(consensus, manager_account):
    consensus.snapshot(2, [A, B, C], [5, 1, 1], later(), {"from": manager_account})
    assert consensus.totalStake(2) == 7


def test_just_under_a_third_is_accepted(consensus, manager_account):
    # 3 * 33 = 99 < 100
    consensus.snapshot(2, [A, B, C, D], [33, 33, 33, 1], later(), {"from": manager_account})
    assert consensus.totalStake(2) == 100


def test_the_first_epoch_may_activate_at_once(admin):
    fresh = CommitteeConsensus.deploy(0, admin, 7 * 86400, {"from": admin})
    fresh.grantRole(fresh.MANAGER_ROLE(), admin, {"from": admin})
    tx = fresh.snapshot(1, [A], [1], 0, {"from": admin})
    assert fresh.activatesAt(1) == tx.timestamp
    assert fresh.activeEpoch() == 1


def test_the_settlement_window_is_bounded_and_set_through_the_timelock(
    consensus, governance, admin
):
    low, high = consensus.MIN_SETTLEMENT_WINDOW(), consensus.MAX_SETTLEMENT_WINDOW()
    with brownie.reverts(error("SettlementWindowOutOfRange", low - 1, low, high)):
        governance(consensus.setSettlementWindow, low - 1)
    with brownie.reverts(error("SettlementWindowOutOfRange", high + 1, low, high)):
        governance(consensus.setSettlementWindow, high + 1)
    with brownie.reverts(error("SettlementWindowOutOfRange", 0, low, high)):
        CommitteeConsensus.deploy(0, admin, 0, {"from": admin})
    # the old 1-day floor is refused too: a 3-day pause could outlast it
    assert low == 7 * 86400
    with brownie.reverts(error("SettlementWindowOutOfRange", 86400, low, high)):
        governance(consensus.setSettlementWindow, 86400)
    with brownie.reverts(error("SettlementWindowOutOfRange", 86400, low, high)):
        CommitteeConsensus.deploy(0, admin, 86400, {"from": admin})
    assert low == MIN_SETTLEMENT_WINDOW  # scripts/deploy.py refuses before deploying
    with pytest.raises(ValueError, match="MIN_SETTLEMENT_WINDOW"):
        deploy_fastpay(admin, settlement_window=low - 1)
    with brownie.reverts():
        consensus.setSettlementWindow(low, {"from": admin})
    tx = governance(consensus.setSettlementWindow, low)
    assert tx.events["SettlementWindowChanged"] == {"settlementWindow": low}


def test_disqualify_marks_an_authority_in_every_epoch(consensus, committee, manager_account):
    tx = consensus.disqualify(committee[0].address, {"from": manager_account})
    assert tx.events["AuthorityDisqualified"] == {"authority": committee[0].address}
    assert consensus.memberInfo(1, committee[0].address)[1] is True
