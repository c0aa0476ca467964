"""submitCommitteeBatch: one committee quorum over a whole batch of compact items."""

import brownie
from certificates import AUTHORITIES, malleable, sign_batch
from conftest import UNIT, USDC, USDT
from revert_reasons import certificate_invalid, error, selector, selector_of, unauthorized

from fastpay_protocol import typed_data as td


def items_for(*items):
    return td.pack_batch_items(items)


def test_it_settles_every_item_of_a_signed_batch(
    funded, processor, vault, usdt, usdc, alice, bob, carol, settler, domain, committee
):
    words = items_for(
        td.BatchItem(str(alice), 0, 0, str(bob), 40 * UNIT),
        td.BatchItem(str(alice), 1, 1, str(carol), 2 * UNIT),
    )
    signatures = sign_batch(domain, 1, 0, words, committee[:3])
    tx = processor.submitCommitteeBatch(1, 0, words, signatures, {"from": settler})

    assert tx.return_value == 2
    assert [(e["recipient"], e["token"], e["units"]) for e in tx.events["PaymentSettled"]] == [
        (bob, usdt, 40 * UNIT),
        (carol, usdc, 2 * UNIT),
    ]
    assert tx.events["CommitteeBatchSettled"] == {
        "batchId": 0,
        "epoch": 1,
        "itemsHash": "0x" + td.items_hash(words).hex(),
        "items": 2,
        "settled": 2,
    }
    assert vault.balanceOf(bob, usdt) == 40 * USDT
    assert vault.balanceOf(carol, usdc) == 2 * USDC
    assert processor.redeemedUpTo(alice) == 2
    assert processor.nextBatchId() == 1


def test_a_replayed_batch_is_refused(funded, processor, alice, bob, settler, domain, committee):
    words = items_for(td.BatchItem(str(alice), 0, 0, str(bob), UNIT))
    signatures = sign_batch(domain, 1, 0, words, committee[:3])
    processor.submitCommitteeBatch(1, 0, words, signatures, {"from": settler})
    with brownie.reverts(error("BatchOutOfOrder", 1, 0)):
        processor.submitCommitteeBatch(1, 0, words, signatures, {"from": settler})


def test_an_item_already_redeemed_is_skipped(
    funded, processor, vault, usdt, alice, bob, carol, settler, domain, committee
):
    first = items_for(td.BatchItem(str(alice), 5, 0, str(bob), UNIT))
    processor.submitCommitteeBatch(
        1, 0, first, sign_batch(domain, 1, 0, first, committee[:3]), {"from": settler}
    )
    second = items_for(
        td.BatchItem(str(alice), 5, 0, str(carol), UNIT),  # same sequence again
        td.BatchItem(str(alice), 6, 0, str(carol), UNIT),
    )
    tx = processor.submitCommitteeBatch(
        1, 1, second, sign_batch(domain, 1, 1, second, committee[:3]), {"from": settler}
    )
    assert tx.return_value == 1
    assert tx.events["CertificateRejected"] == {
        "index": 0,
        "sender": alice,
        "sequence": 5,
        "reason": "0x" + selector("SequenceAlreadyRedeemed").hex(),
    }
    assert vault.balanceOf(carol, usdt) == USDT


def test_unknown_tokens_and_empty_pools_are_skipped(
    funded, processor, usdt, bob, carol, settler, domain, committee
):
    words = items_for(
        td.BatchItem(str(bob), 0, 7, str(carol), UNIT),  # no token id 7
        td.BatchItem(str(carol), 0, 0, str(bob), 2_000 * UNIT),  # pool holds 1,000
    )
    tx = processor.submitCommitteeBatch(
        1, 0, words, sign_batch(domain, 1, 0, words, committee[:3]), {"from": settler}
    )
    assert tx.return_value == 0
    assert [bytes(e["reason"]) for e in tx.events["CertificateRejected"]] == [
        selector_of("UnknownTokenId(uint256)"),
        selector_of("InsufficientPool(address,uint256,uint256)"),
    ]
    assert processor.redeemedUpTo(bob) == 0 and processor.redeemedUpTo(carol) == 0


def test_below_quorum_reverts_the_whole_batch(
    funded, processor, alice, bob, settler, domain, committee
):
    words = items_for(td.BatchItem(str(alice), 0, 0, str(bob), UNIT))
    with brownie.reverts(certificate_invalid("BelowQuorum")):
        processor.submitCommitteeBatch(
            1, 0, words, sign_batch(domain, 1, 0, words, committee[:2]), {"from": settler}
        )


def test_tampered_items_do_not_match_the_signatures(
    funded, processor, alice, bob, carol, settler, domain, committee
):
    words = items_for(td.BatchItem(str(alice), 0, 0, str(bob), UNIT))
    signatures = sign_batch(domain, 1, 0, words, committee[:3])
    tampered = items_for(td.BatchItem(str(alice), 0, 0, str(carol), UNIT))
    with brownie.reverts(certificate_invalid("SignerNotInCommittee")):
        processor.submitCommitteeBatch(1, 0, tampered, signatures, {"from": settler})


def test_a_batch_signed_for_another_epoch_is_refused(
    funded, processor, alice, bob, settler, domain, committee
):
    words = items_for(td.BatchItem(str(alice), 0, 0, str(bob), UNIT))
    with brownie.reverts(certificate_invalid("UnknownEpoch")):
        processor.submitCommitteeBatch(
            2, 0, words, sign_batch(domain, 2, 0, words, committee[:3]), {"from": settler}
        )
    with brownie.reverts(certificate_invalid("SignerNotInCommittee")):
        processor.submitCommitteeBatch(
            1, 0, words, sign_batch(domain, 2, 0, words, committee[:3]), {"from": settler}
        )


def test_outsiders_and_malleable_batch_signatures_are_refused(
    funded, processor, alice, bob, settler, domain, committee
):
    words = items_for(td.BatchItem(str(alice), 0, 0, str(bob), UNIT))
    with brownie.reverts(certificate_invalid("SignerNotInCommittee")):
        processor.submitCommitteeBatch(
            1,
            0,
            words,
            sign_batch(domain, 1, 0, words, [*committee[:2], AUTHORITIES[7]]),
            {"from": settler},
        )
    signatures = sign_batch(domain, 1, 0, words, committee[:3])
    with brownie.reverts(certificate_invalid("InvalidSignature")):
        processor.submitCommitteeBatch(
            1, 0, words, malleable(signatures[:65]) + signatures[65:], {"from": settler}
        )


def test_a_stranger_cannot_submit_a_committee_batch(
    funded, processor, alice, bob, stranger, domain, committee
):
    words = items_for(td.BatchItem(str(alice), 0, 0, str(bob), UNIT))
    with brownie.reverts(unauthorized(stranger, processor.SETTLER_ROLE())):
        processor.submitCommitteeBatch(
            1, 0, words, sign_batch(domain, 1, 0, words, committee[:3]), {"from": stranger}
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
        td.BatchItem(str(alice), 0, 0, str(bob), 600 * UNIT),
        td.BatchItem(str(alice), 1, 1, str(carol), 1 * UNIT),
        td.BatchItem(str(bob), 0, 0, str(carol), 600 * UNIT),
        td.BatchItem(str(carol), 0, 0, str(bob), 400 * UNIT),
    )
    signatures = sign_batch(domain, 1, 0, words, committee[:3])
    tx = processor.submitCommitteeBatch(1, 0, words, signatures, {"from": settler})
    assert tx.return_value == 3
    assert [(e["index"], bytes(e["reason"])) for e in tx.events["CertificateRejected"]] == [
        (2, selector_of("InsufficientPool(address,uint256,uint256)"))
    ]
    assert vault.balanceOf(bob, usdt) == 1_000 * USDT
    assert vault.balanceOf(carol, usdc) == USDC
    assert vault.poolBalance(usdt) == 0
    assert processor.redeemedUpTo(bob) == 0 and processor.redeemedUpTo(carol) == 1
