"""AuthorityManager.reportEquivocation: two votes by one authority for different payments
with the same (sender, sequence), in any epochs; commit-reveal so that a copy of the
pending report steals nothing."""

import os

import brownie
from brownie import accounts, chain, web3
from certificates import AUTHORITIES, certify, commit, malleable, report, votes
from conftest import STAKE, advance_epoch
from eth_abi import encode
from eth_utils import keccak
from revert_reasons import error, selector

from fastpay_protocol import typed_data as td


def test_equivocation_slashes_the_whole_stake_and_rewards_the_reporter(
    manager, consensus, verifier, domain, committee, make_order, stranger, treasury, bob, carol
):
    cheater = committee[0]
    first, second = make_order(recipient=bob, sequence=3), make_order(recipient=carol, sequence=3)
    reporter_before, treasury_before = stranger.balance(), treasury.balance()

    tx = report(manager, stranger, votes(domain, cheater, first, second))

    evidence_id = manager.evidenceIdOf(cheater.address, first.sender, 3)
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


def test_the_evidence_id_is_authority_sender_sequence_across_epochs(manager, committee, alice):
    expected = keccak(
        encode(["address", "address", "uint64"], [committee[0].address, str(alice), 5])
    )
    assert bytes(manager.evidenceIdOf(committee[0].address, alice, 5)) == expected


def test_votes_in_two_epochs_for_different_payments_are_equivocation(
    manager, governance, domain, committee, make_order, stranger, bob, carol
):
    advance_epoch(governance, manager)  # epoch 2: the same four
    cheater = committee[2]
    old = make_order(recipient=bob, sequence=4, epoch=1)
    new = make_order(recipient=carol, sequence=4, epoch=2)
    tx = report(manager, stranger, votes(domain, cheater, old, new))
    assert tx.events["AuthoritySlashed"]["evidenceId"] == manager.evidenceIdOf(
        cheater.address, old.sender, 4
    )


def test_a_re_epoched_order_is_not_equivocation(manager, governance, domain, committee, make_order):
    advance_epoch(governance, manager)
    same_payment = (make_order(sequence=4, epoch=1), make_order(sequence=4, epoch=2))
    with brownie.reverts(error("NotEquivocation")):
        manager.checkEquivocation(*votes(domain, committee[0], *same_payment))


def test_a_different_token_or_amount_is_another_payment(
    manager, domain, committee, make_order, usdc
):
    base = make_order(sequence=2)
    for other in (make_order(sequence=2, amount=1), make_order(sequence=2, token=usdc)):
        signer, _ = manager.checkEquivocation(*votes(domain, committee[0], base, other))
        assert signer == committee[0].address


def test_each_vote_must_be_by_a_member_of_its_orders_epoch(
    manager, governance, domain, committee, make_order, bob, carol
):
    leaving = committee[3]
    advance_epoch(governance, manager, extra_calls=[(manager.removeAuthority, (leaving.address,))])
    old = make_order(recipient=bob, sequence=1, epoch=1)
    new = make_order(recipient=carol, sequence=1, epoch=2)
    with brownie.reverts(error("NotCommitteeMember", leaving.address, 2)):
        manager.checkEquivocation(*votes(domain, leaving, old, new))


def test_a_copied_report_pays_the_committed_reporter_not_the_copier(
    manager, domain, committee, make_order, stranger, bob, carol
):
    """Front-running: the thief copies the pending reveal (same calldata) with its own
    account; it has no commitment, so its copy reverts and the reporter is paid."""
    thief = accounts[7]
    evidence = votes(domain, committee[1], make_order(recipient=bob), make_order(recipient=carol))
    salt = commit(manager, stranger, evidence)
    thief_commitment = manager.evidenceCommitment(thief, *evidence, salt)
    with brownie.reverts(error("NotCommitted", thief_commitment)):
        manager.reportEquivocation(*evidence, salt, {"from": thief})
    tx = manager.reportEquivocation(*evidence, salt, {"from": stranger})
    assert tx.events["AuthoritySlashed"]["reporter"] == stranger


def test_a_copier_committing_in_the_reveal_block_cannot_reveal_in_it(
    manager, domain, committee, make_order, stranger, bob, carol
):
    """The thief sees the evidence only in the pending reveal: its own commitment, even
    in the same block, cannot be revealed before a later block, by when the reporter's
    reveal has been mined."""
    thief = accounts[7]
    evidence = votes(domain, committee[1], make_order(recipient=bob), make_order(recipient=carol))
    salt = commit(manager, stranger, evidence)
    thief_salt = os.urandom(32)
    thief_commitment = manager.evidenceCommitment(thief, *evidence, thief_salt)
    web3.provider.make_request("evm_setAutomine", [False])
    try:
        options = {"required_confs": 0, "gas_limit": 600_000, "gas_price": 0}
        reveal = manager.reportEquivocation(*evidence, salt, {"from": stranger, **options})
        manager.commitEvidence(thief_commitment, {"from": thief, **options})
        stolen = manager.reportEquivocation(*evidence, thief_salt, {"from": thief, **options})
        web3.provider.make_request("evm_mine", [])
    finally:
        web3.provider.make_request("evm_setAutomine", [True])
    assert web3.eth.get_transaction_receipt(reveal.txid).status == 1
    assert web3.eth.get_transaction_receipt(stolen.txid).status == 0
    chain.mine()
    # the slot is used now: even revealed later, the thief's commitment pays nothing
    with brownie.reverts():
        manager.reportEquivocation(*evidence, thief_salt, {"from": thief})


def test_a_reveal_in_the_commit_block_is_refused(
    manager, domain, committee, make_order, stranger, bob, carol
):
    evidence = votes(domain, committee[1], make_order(recipient=bob), make_order(recipient=carol))
    salt = os.urandom(32)
    commitment = manager.evidenceCommitment(stranger, *evidence, salt)
    web3.provider.make_request("evm_setAutomine", [False])
    try:
        options = {"required_confs": 0, "gas_limit": 600_000, "gas_price": 0}
        manager.commitEvidence(commitment, {"from": stranger, **options})
        early = manager.reportEquivocation(*evidence, salt, {"from": stranger, **options})
        web3.provider.make_request("evm_mine", [])
    finally:
        web3.provider.make_request("evm_setAutomine", [True])
    assert web3.eth.get_transaction_receipt(early.txid).status == 0
    block = web3.eth.get_transaction_receipt(early.txid).blockNumber
    assert manager.commitments(commitment) == block
    chain.mine()
    manager.reportEquivocation(*evidence, salt, {"from": stranger})  # a later block: fine


def test_the_same_evidence_cannot_slash_twice(
    manager, domain, committee, make_order, stranger, bob, carol
):
    first, second = make_order(recipient=bob), make_order(recipient=carol)
    proof = votes(domain, committee[1], first, second)
    report(manager, stranger, proof)
    evidence_id = manager.evidenceIdOf(committee[1].address, first.sender, 0)
    with brownie.reverts(error("EvidenceAlreadyUsed", evidence_id)):
        manager.checkEquivocation(*proof)
    swapped = (proof[2], proof[3], proof[0], proof[1])
    with brownie.reverts(error("EvidenceAlreadyUsed", evidence_id)):
        report(manager, stranger, swapped)


def test_other_evidence_against_a_slashed_authority_pays_nothing(
    manager, domain, committee, make_order, stranger, bob, carol
):
    cheater = committee[1]
    report(
        manager,
        stranger,
        votes(domain, cheater, make_order(recipient=bob), make_order(recipient=carol)),
    )
    later = votes(
        domain,
        cheater,
        make_order(recipient=bob, sequence=1),
        make_order(recipient=carol, sequence=1),
    )
    with brownie.reverts(error("AuthoritySlashedBefore", cheater.address)):
        report(manager, stranger, later)


def test_two_votes_for_the_same_order_are_not_equivocation(manager, domain, committee, make_order):
    order = make_order()
    with brownie.reverts(error("NotEquivocation")):
        manager.checkEquivocation(*votes(domain, committee[0], order, order))


def test_votes_for_different_sequences_are_not_equivocation(manager, domain, committee, make_order):
    proof = votes(domain, committee[0], make_order(sequence=1), make_order(sequence=2, amount=1))
    with brownie.reverts(error("NotEquivocation")):
        manager.checkEquivocation(*proof)


def test_votes_by_two_authorities_are_not_evidence(
    manager, domain, committee, make_order, bob, carol
):
    first, second = make_order(recipient=bob), make_order(recipient=carol)
    a, b = committee[0], committee[1]
    with brownie.reverts(error("DifferentSigners", a.address, b.address)):
        manager.checkEquivocation(
            first.as_tuple(),
            td.sign_vote(domain, first, a.key),
            second.as_tuple(),
            td.sign_vote(domain, second, b.key),
        )


def test_an_outsider_cannot_be_slashed(manager, domain, make_order, bob, carol):
    outsider = AUTHORITIES[7]
    with brownie.reverts(error("NotCommitteeMember", outsider.address, 1)):
        manager.checkEquivocation(
            *votes(domain, outsider, make_order(recipient=bob), make_order(recipient=carol))
        )


def test_malleable_evidence_is_refused(manager, domain, committee, make_order, bob, carol):
    proof = list(
        votes(domain, committee[0], make_order(recipient=bob), make_order(recipient=carol))
    )
    proof[1] = malleable(proof[1])
    with brownie.reverts(error("InvalidVoteSignature")):
        manager.checkEquivocation(*proof)


def test_user_order_signatures_are_not_votes(manager, domain, committee, make_order, bob, carol):
    first, second = make_order(recipient=bob), make_order(recipient=carol)
    a = committee[0]
    sig_1, sig_2 = td.sign_order(domain, first, a.key), td.sign_order(domain, second, a.key)
    # read as votes, order signatures recover to two unrelated addresses
    x = td.recover_vote_signer(domain, first, sig_1)
    y = td.recover_vote_signer(domain, second, sig_2)
    assert a.address not in (x, y)
    with brownie.reverts(error("DifferentSigners", x, y)):
        manager.checkEquivocation(first.as_tuple(), sig_1, second.as_tuple(), sig_2)


def test_a_withdrawn_stake_leaves_nothing_to_slash(
    manager, consensus, governance, domain, committee, make_order, bob, carol
):
    from conftest import sleep_until

    gone = committee[0]
    advance_epoch(governance, manager, extra_calls=[(manager.removeAuthority, (gone.address,))])
    sleep_until(manager.withdrawableAt(gone.address))
    manager.withdrawStake({"from": accounts.add(gone.key), "gas_price": 0})
    with brownie.reverts(error("NothingToSlash", gone.address)):
        manager.checkEquivocation(
            *votes(domain, gone, make_order(recipient=bob), make_order(recipient=carol))
        )
