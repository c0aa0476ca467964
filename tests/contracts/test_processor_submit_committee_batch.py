"""submitCommitteeBatch: one committee quorum over a whole batch of compact redemption items
(each item's beneficiary is its sender)."""

import brownie
from batch_signing import redeemed, sign_batch
from certificates import AUTHORITIES, malleable
from conftest import UNIT, USDC, USDT
from revert_reasons import certificate_invalid, error, selector, selector_of, unauthorized

from fastpay_protocol import typed_data as td


def items_for(*items):
    return td.pack_batch_items(items)


def redeem(sender, sequence, token_id, units):
    return td.BatchItem.redemption(str(sender), sequence, token_id, units)


def raw_words(*items):
    """Words for items pack_batch_items refuses (a beneficiary other than the sender)."""
    return [word for item in items for word in item.words()]


def test_it_settles_every_item_of_a_signed_batch_to_its_sender(
    funded, processor, vault, registry, usdt, usdc, alice, settler, domain, committee
):
    words = items_for(redeem(alice, 0, 0, 40 * UNIT), redeem(alice, 1, 1, 2 * UNIT))
    signatures = sign_batch(domain, processor, 1, 0, words, committee[:3])
    tx = processor.submitCommitteeBatch(1, 0, words, signatures, {"from": settler})

    assert tx.return_value == 2
    assert [
        (e["sender"], e["beneficiary"], e["token"], e["units"]) for e in tx.events["PaymentSettled"]
    ] == [
        (alice, alice, usdt, 40 * UNIT),
        (alice, alice, usdc, 2 * UNIT),
    ]
    assert tx.events["CommitteeBatchSettled"] == {
        "batchId": 0,
        "epoch": 1,
        "itemsHash": "0x" + td.items_hash(words).hex(),
        "items": 2,
        "settled": 2,
    }
    assert vault.balanceOf(alice, usdt) == 40 * USDT
    assert vault.balanceOf(alice, usdc) == 2 * USDC
    assert redeemed(processor, alice, 0, 1, 2) == [True, True, False]
    assert processor.isBatchSettled(0) and not processor.isBatchSettled(1)
    before = usdt.balanceOf(alice)
    registry.withdrawTokens(usdt, 40 * USDT, {"from": alice})
    assert usdt.balanceOf(alice) - before == 40 * USDT


def test_an_item_whose_beneficiary_is_not_its_sender_is_skipped(
    funded, processor, vault, usdt, alice, bob, carol, settler, domain, committee
):
    # even signed by the committee: an item paying someone else is not a redemption
    words = raw_words(
        td.BatchItem(str(alice), 0, 0, str(bob), 40 * UNIT),
        redeem(alice, 1, 0, 2 * UNIT),
        td.BatchItem(str(carol), 0, 0, processor.address, UNIT),
    )
    tx = processor.submitCommitteeBatch(
        1, 0, words, sign_batch(domain, processor, 1, 0, words, committee[:3]), {"from": settler}
    )
    assert tx.return_value == 1
    assert [
        (e["index"], e["sender"], e["sequence"], bytes(e["reason"]))
        for e in tx.events["CertificateRejected"]
    ] == [
        (0, alice, 0, selector("NotARedemption")),
        (2, carol, 0, selector("NotARedemption")),
    ]
    assert vault.balanceOf(alice, usdt) == 2 * USDT
    assert vault.balanceOf(bob, usdt) == vault.balanceOf(processor, usdt) == 0
    assert redeemed(processor, alice, 0, 1) == [False, True]
    assert redeemed(processor, carol, 0) == [False]


def test_an_item_from_the_zero_address_is_skipped(
    funded, processor, vault, usdt, alice, settler, domain, committee
):
    zero = "0x" + "00" * 20
    words = items_for(td.BatchItem.redemption(zero, 0, 0, UNIT), redeem(alice, 0, 0, UNIT))
    tx = processor.submitCommitteeBatch(
        1, 0, words, sign_batch(domain, processor, 1, 0, words, committee[:3]), {"from": settler}
    )
    assert tx.return_value == 1
    assert bytes(tx.events["CertificateRejected"]["reason"]) == selector("ZeroRecipient")
    assert vault.balanceOf(alice, usdt) == USDT


def test_a_replayed_batch_is_refused(funded, processor, alice, settler, domain, committee):
    words = items_for(redeem(alice, 0, 0, UNIT))
    signatures = sign_batch(domain, processor, 1, 0, words, committee[:3])
    processor.submitCommitteeBatch(1, 0, words, signatures, {"from": settler})
    with brownie.reverts(error("BatchAlreadySettled", 0)):
        processor.submitCommitteeBatch(1, 0, words, signatures, {"from": settler})


def test_an_item_already_redeemed_is_skipped(
    funded, processor, vault, usdt, alice, settler, domain, committee
):
    first = items_for(redeem(alice, 5, 0, UNIT))
    processor.submitCommitteeBatch(
        1, 0, first, sign_batch(domain, processor, 1, 0, first, committee[:3]), {"from": settler}
    )
    second = items_for(
        redeem(alice, 5, 0, 3 * UNIT),  # same sequence again
        redeem(alice, 6, 0, UNIT),
    )
    tx = processor.submitCommitteeBatch(
        1, 1, second, sign_batch(domain, processor, 1, 1, second, committee[:3]), {"from": settler}
    )
    assert tx.return_value == 1
    assert tx.events["CertificateRejected"] == {
        "index": 0,
        "sender": alice,
        "sequence": 5,
        "reason": "0x" + selector("SequenceAlreadyRedeemed").hex(),
    }
    assert vault.balanceOf(alice, usdt) == 2 * USDT


def test_unknown_tokens_and_empty_pools_are_skipped(
    funded, processor, usdt, bob, carol, settler, domain, committee
):
    words = items_for(
        redeem(bob, 0, 7, UNIT),  # no token id 7
        redeem(carol, 0, 0, 2_000 * UNIT),  # pool holds 1,000
    )
    tx = processor.submitCommitteeBatch(
        1, 0, words, sign_batch(domain, processor, 1, 0, words, committee[:3]), {"from": settler}
    )
    assert tx.return_value == 0
    assert [bytes(e["reason"]) for e in tx.events["CertificateRejected"]] == [
        selector_of("UnknownTokenId(uint256)"),
        selector_of("InsufficientPool(address,uint256,uint256)"),
    ]
    assert redeemed(processor, bob, 0) == redeemed(processor, carol, 0) == [False]


def test_below_quorum_reverts_the_whole_batch(funded, processor, alice, settler, domain, committee):
    words = items_for(redeem(alice, 0, 0, UNIT))
    with brownie.reverts(certificate_invalid("BelowQuorum")):
        processor.submitCommitteeBatch(
            1,
            0,
            words,
            sign_batch(domain, processor, 1, 0, words, committee[:2]),
            {"from": settler},
        )


def test_tampered_items_do_not_match_the_signatures(
    funded, processor, alice, settler, domain, committee
):
    words = items_for(redeem(alice, 0, 0, UNIT))
    signatures = sign_batch(domain, processor, 1, 0, words, committee[:3])
    tampered = items_for(redeem(alice, 0, 0, 2 * UNIT))
    with brownie.reverts(certificate_invalid("SignerNotInCommittee")):
        processor.submitCommitteeBatch(1, 0, tampered, signatures, {"from": settler})


def test_a_batch_signed_for_another_epoch_is_refused(
    funded, processor, alice, settler, domain, committee
):
    words = items_for(redeem(alice, 0, 0, UNIT))
    with brownie.reverts(certificate_invalid("UnknownEpoch")):
        processor.submitCommitteeBatch(
            2,
            0,
            words,
            sign_batch(domain, processor, 2, 0, words, committee[:3]),
            {"from": settler},
        )
    with brownie.reverts(certificate_invalid("SignerNotInCommittee")):
        processor.submitCommitteeBatch(
            1,
            0,
            words,
            sign_batch(domain, processor, 2, 0, words, committee[:3]),
            {"from": settler},
        )


def test_outsiders_and_malleable_batch_signatures_are_refused(
    funded, processor, alice, settler, domain, committee
):
    words = items_for(redeem(alice, 0, 0, UNIT))
    with brownie.reverts(certificate_invalid("SignerNotInCommittee")):
        processor.submitCommitteeBatch(
            1,
            0,
            words,
            sign_batch(domain, processor, 1, 0, words, [*committee[:2], AUTHORITIES[7]]),
            {"from": settler},
        )
    signatures = sign_batch(domain, processor, 1, 0, words, committee[:3])
    with brownie.reverts(certificate_invalid("InvalidSignature")):
        processor.submitCommitteeBatch(
            1, 0, words, malleable(signatures[:65]) + signatures[65:], {"from": settler}
        )


def test_a_stranger_cannot_submit_a_committee_batch(
    funded, processor, alice, stranger, domain, committee
):
    words = items_for(redeem(alice, 0, 0, UNIT))
    with brownie.reverts(unauthorized(stranger, processor.SETTLER_ROLE())):
        processor.submitCommitteeBatch(
            1,
            0,
            words,
            sign_batch(domain, processor, 1, 0, words, committee[:3]),
            {"from": stranger},
        )


def test_malformed_item_lists_are_refused(funded, processor, settler):
    with brownie.reverts(error("EmptyBatch")):
        processor.submitCommitteeBatch(1, 0, [], b"", {"from": settler})
    with brownie.reverts(error("MalformedItems")):
        processor.submitCommitteeBatch(1, 0, [b"\x00" * 32], b"", {"from": settler})


def test_items_are_checked_against_what_the_pool_has_left_in_this_batch(
    funded, processor, vault, usdt, usdc, alice, bob, carol, settler, domain, committee
):
    # the pool holds 1,000 USDT: the second 600 USDT item would overdraw it, even with a
    # USDC item in between, and is skipped instead of reverting the batch
    words = items_for(
        redeem(alice, 0, 0, 600 * UNIT),
        redeem(alice, 1, 1, 1 * UNIT),
        redeem(bob, 0, 0, 600 * UNIT),
        redeem(carol, 0, 0, 400 * UNIT),
    )
    signatures = sign_batch(domain, processor, 1, 0, words, committee[:3])
    tx = processor.submitCommitteeBatch(1, 0, words, signatures, {"from": settler})
    assert tx.return_value == 3
    assert [(e["index"], bytes(e["reason"])) for e in tx.events["CertificateRejected"]] == [
        (2, selector_of("InsufficientPool(address,uint256,uint256)"))
    ]
    assert vault.balanceOf(alice, usdt) == 600 * USDT
    assert vault.balanceOf(alice, usdc) == USDC
    assert vault.balanceOf(carol, usdt) == 400 * USDT
    assert vault.balanceOf(bob, usdt) == 0
    assert vault.poolBalance(usdt) == 0
    assert redeemed(processor, bob, 0) == [False]
    assert redeemed(processor, carol, 0) == [True]
