"""CommitteeConsensus.snapshot and disqualify, called directly by a stand-in manager."""

import brownie
import pytest
from revert_reasons import error

A = "0x" + "0a" * 20
B = "0x" + "0b" * 20


@pytest.fixture(scope="module")
def manager_account(consensus, admin, carol):
    consensus.grantRole(consensus.MANAGER_ROLE(), carol, {"from": admin})
    return carol


def test_a_snapshot_records_members_stakes_and_total(consensus, manager_account):
    tx = consensus.snapshot(2, [A, B], [3, 5], {"from": manager_account})
    assert tx.events["CommitteeSnapshot"]["totalStake"] == 8
    assert consensus.currentEpoch() == 2
    assert consensus.stakeOf(2, A) == 3 and consensus.stakeOf(2, B) == 5
    stake, slashed = consensus.memberInfo(2, B)
    assert (int(stake), slashed) == (5, False)
    assert consensus.quorumStake(2) == 6  # more than 2/3 of 8


def test_epochs_go_one_by_one(consensus, manager_account):
    with brownie.reverts(error("EpochOutOfOrder", 2, 3)):
        consensus.snapshot(3, [A], [1], {"from": manager_account})
    with brownie.reverts(error("EpochOutOfOrder", 2, 1)):
        consensus.snapshot(1, [A], [1], {"from": manager_account})


@pytest.mark.parametrize(
    ("members", "stakes", "expected"),
    [
        ([], [], error("EmptyCommittee")),
        ([A, B], [1], error("LengthMismatch")),
        ([A, A], [1, 1], error("DuplicateMember", A)),
        ([A, B], [1, 0], error("ZeroStake", B)),
    ],
)
def test_malformed_committees_are_refused(consensus, manager_account, members, stakes, expected):
    with brownie.reverts(expected):
        consensus.snapshot(2, members, stakes, {"from": manager_account})


def test_disqualify_marks_an_authority_in_every_epoch(consensus, committee, manager_account):
    tx = consensus.disqualify(committee[0].address, {"from": manager_account})
    assert tx.events["AuthorityDisqualified"] == {"authority": committee[0].address}
    assert consensus.memberInfo(1, committee[0].address)[1] is True
