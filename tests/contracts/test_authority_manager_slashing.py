"""AuthorityManager.reportEquivocation: two different votes for one (sender, sequence, epoch)."""

import brownie
from certificates import AUTHORITIES, certify, malleable
from conftest import STAKE
from revert_reasons import error, selector

from fastpay_protocol import typed_data as td


def evidence(domain, authority, first, second):
    return (
        first.as_tuple(),
        td.sign_vote(domain, first, authority.key),
        second.as_tuple(),
        td.sign_vote(domain, second, authority.key),
    )


def test_equivocation_slashes_the_whole_stake_and_rewards_the_reporter(
    manager, consensus, verifier, domain, committee, make_order, stranger, treasury, bob, carol
):
    cheater = committee[0]
    first, second = make_order(recipient=bob, sequence=3), make_order(recipient=carol, sequence=3)
    reporter_before, treasury_before = stranger.balance(), treasury.balance()

    tx = manager.reportEquivocation(
        *evidence(domain, cheater, first, second), {"from": stranger, "gas_price": 0}
    )

    evidence_id = manager.evidenceIdOf(cheater.address, first.sender, 3, 1)
    assert tx.events["AuthoritySlashed"] == {
        "authority": cheater.address,
        "reporter": stranger,
        "evidenceId": evidence_id,
        "slashed": STAKE,
        "reward": STAKE // 10,
    }
    assert stranger.balance() - reporter_before == STAKE // 10
    assert treasury.balance() - treasury_before == STAKE - STAKE // 10
    assert manager.authorities(cheater.address)[0] == 0
    assert not manager.isAuthorityActive(cheater.address)
    assert consensus.isSlashed(cheater.address)
    assert cheater.address not in manager.nextCommittee()
    # its votes no longer count, even in the epoch it was a member of
    order = make_order(sequence=9)
    status = verifier.certificateStatus(order.as_tuple(), certify(domain, order, committee[:3]))
    assert bytes(status) == selector("SignerSlashed")


def test_the_same_evidence_cannot_slash_twice(
    manager, domain, committee, make_order, stranger, bob, carol
):
    first, second = make_order(recipient=bob), make_order(recipient=carol)
    proof = evidence(domain, committee[1], first, second)
    manager.reportEquivocation(*proof, {"from": stranger})
    evidence_id = manager.evidenceIdOf(committee[1].address, first.sender, 0, 1)
    with brownie.reverts(error("EvidenceAlreadyUsed", evidence_id)):
        manager.reportEquivocation(*proof, {"from": stranger})
    swapped = (proof[2], proof[3], proof[0], proof[1])
    with brownie.reverts(error("EvidenceAlreadyUsed", evidence_id)):
        manager.reportEquivocation(*swapped, {"from": stranger})


def test_other_evidence_against_a_slashed_authority_pays_nothing(
    manager, domain, committee, make_order, stranger, bob, carol
):
    cheater = committee[1]
    manager.reportEquivocation(
        *evidence(domain, cheater, make_order(recipient=bob), make_order(recipient=carol))
    )
    later = evidence(
        domain,
        cheater,
        make_order(recipient=bob, sequence=1),
        make_order(recipient=carol, sequence=1),
    )
    with brownie.reverts(error("AuthoritySlashedBefore", cheater.address)):
        manager.reportEquivocation(*later, {"from": stranger})


def test_two_votes_for_the_same_order_are_not_equivocation(manager, domain, committee, make_order):
    order = make_order()
    with brownie.reverts(error("NotEquivocation")):
        manager.reportEquivocation(*evidence(domain, committee[0], order, order))


def test_votes_for_different_sequences_are_not_equivocation(manager, domain, committee, make_order):
    proof = evidence(domain, committee[0], make_order(sequence=1), make_order(sequence=2, amount=1))
    with brownie.reverts(error("NotEquivocation")):
        manager.reportEquivocation(*proof)


def test_votes_by_two_authorities_are_not_evidence(
    manager, domain, committee, make_order, bob, carol
):
    first, second = make_order(recipient=bob), make_order(recipient=carol)
    a, b = committee[0], committee[1]
    with brownie.reverts(error("DifferentSigners", a.address, b.address)):
        manager.reportEquivocation(
            first.as_tuple(),
            td.sign_vote(domain, first, a.key),
            second.as_tuple(),
            td.sign_vote(domain, second, b.key),
        )


def test_an_outsider_cannot_be_slashed(manager, domain, make_order, bob, carol):
    outsider = AUTHORITIES[7]
    with brownie.reverts(error("NotCommitteeMember", outsider.address, 1)):
        manager.reportEquivocation(
            *evidence(domain, outsider, make_order(recipient=bob), make_order(recipient=carol))
        )


def test_malleable_evidence_is_refused(manager, domain, committee, make_order, bob, carol):
    proof = list(
        evidence(domain, committee[0], make_order(recipient=bob), make_order(recipient=carol))
    )
    proof[1] = malleable(proof[1])
    with brownie.reverts(error("InvalidVoteSignature")):
        manager.reportEquivocation(*proof)


def test_user_order_signatures_are_not_votes(manager, domain, committee, make_order, bob, carol):
    first, second = make_order(recipient=bob), make_order(recipient=carol)
    a = committee[0]
    sig_1, sig_2 = td.sign_order(domain, first, a.key), td.sign_order(domain, second, a.key)
    # read as votes, order signatures recover to two unrelated addresses
    x = td.recover_vote_signer(domain, first, sig_1)
    y = td.recover_vote_signer(domain, second, sig_2)
    assert a.address not in (x, y)
    with brownie.reverts(error("DifferentSigners", x, y)):
        manager.reportEquivocation(first.as_tuple(), sig_1, second.as_tuple(), sig_2)
