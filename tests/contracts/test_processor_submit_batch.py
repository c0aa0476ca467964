"""submitBatch: many certificates, each with its own quorum; only redemptions settle (to
their senders); bad ones, transfer certificates included, are skipped."""

import brownie
from certificates import certify, malleable
from conftest import UNIT, USDT
from revert_reasons import error, selector, selector_of, unauthorized


def test_it_settles_good_redemptions_and_skips_bad_ones_without_reverting(
    funded, processor, vault, usdt, alice, bob, carol, settler, domain, committee, make_order
):
    good_1 = make_order(amount=10 * UNIT, sequence=0)
    replay = good_1
    below = make_order(amount=5 * UNIT, sequence=1)
    good_2 = make_order(amount=3 * UNIT, sequence=2)
    transfer = make_order(recipient=carol, amount=7 * UNIT, sequence=3)  # internal, valid
    too_big = make_order(sender=bob, amount=5_000 * UNIT, sequence=0)
    orders = [good_1, replay, below, good_2, transfer, too_big]
    signatures = [
        certify(domain, good_1, committee[:3]),
        certify(domain, replay, committee[1:]),
        certify(domain, below, committee[:2]),
        certify(domain, good_2, committee[:3]),
        certify(domain, transfer, committee[:3]),
        certify(domain, too_big, committee[:3]),
    ]
    tx = processor.submitBatch([o.as_tuple() for o in orders], signatures, {"from": settler})

    assert tx.return_value == 2
    settled = [
        (e["sender"], e["sequence"], e["beneficiary"], e["units"])
        for e in tx.events["PaymentSettled"]
    ]
    assert settled == [(alice, 0, alice, 10 * UNIT), (alice, 2, alice, 3 * UNIT)]
    rejected = [
        (e["index"], e["sender"], e["sequence"], bytes(e["reason"]))
        for e in tx.events["CertificateRejected"]
    ]
    assert rejected == [
        (1, alice, 0, selector("SequenceAlreadyRedeemed")),
        (2, alice, 1, selector("BelowQuorum")),
        (4, alice, 3, selector("NotARedemption")),
        (5, bob, 0, selector_of("InsufficientPool(address,uint256,uint256)")),
    ]
    assert vault.balanceOf(alice, usdt) == 13 * USDT
    assert vault.balanceOf(carol, usdt) == 0
    assert vault.balanceOf(processor, usdt) == 0
    assert vault.poolBalance(usdt) == 987 * USDT
    # the transfer certificate and the below-quorum one redeemed nothing
    assert [processor.isRedeemed(alice, s) for s in range(4)] == [True, False, True, False]
    assert not processor.isRedeemed(bob, 0)  # the refused credit cleared its bit again


def test_a_batch_of_transfer_certificates_settles_nothing(
    funded, processor, vault, usdt, bob, carol, settler, domain, committee, make_order
):
    orders = [make_order(recipient=r, sequence=i) for i, r in enumerate((bob, carol, bob))]
    tx = processor.submitBatch(
        [o.as_tuple() for o in orders],
        [certify(domain, o, committee[:3]) for o in orders],
        {"from": settler},
    )
    assert tx.return_value == 0
    assert "PaymentSettled" not in tx.events
    assert [bytes(e["reason"]) for e in tx.events["CertificateRejected"]] == [
        selector("NotARedemption")
    ] * 3
    assert vault.poolBalance(usdt) == 1_000 * USDT


def test_a_redemption_after_a_skipped_transfer_still_settles(
    funded, processor, vault, usdt, alice, bob, settler, domain, committee, make_order
):
    # FastPay sequences: the transfer used sequence 0 inside FastPay, the redemption 1
    transfer, redemption = make_order(recipient=bob, sequence=0), make_order(sequence=1)
    tx = processor.submitBatch(
        [transfer.as_tuple(), redemption.as_tuple()],
        [certify(domain, transfer, committee[:3]), certify(domain, redemption, committee[:3])],
        {"from": settler},
    )
    assert tx.return_value == 1
    assert tx.events["PaymentSettled"]["beneficiary"] == alice
    assert vault.balanceOf(alice, usdt) == 25 * USDT and vault.balanceOf(bob, usdt) == 0
    assert not processor.isRedeemed(alice, 0) and processor.isRedeemed(alice, 1)


def test_a_malleable_or_forged_certificate_is_skipped(
    funded, processor, settler, domain, committee, make_order
):
    order = make_order()
    certificate = certify(domain, order, committee[:3])
    twisted = malleable(certificate[:65]) + certificate[65:]
    tx = processor.submitBatch([order.as_tuple()], [twisted], {"from": settler})
    assert tx.return_value == 0
    assert bytes(tx.events["CertificateRejected"]["reason"]) == selector("InvalidSignature")


def test_a_stranger_cannot_submit_a_batch(
    funded, processor, stranger, domain, committee, make_order
):
    order = make_order()
    with brownie.reverts(unauthorized(stranger, processor.SETTLER_ROLE())):
        processor.submitBatch(
            [order.as_tuple()], [certify(domain, order, committee[:3])], {"from": stranger}
        )


def test_lengths_must_match_and_batches_cannot_be_empty(funded, processor, settler, make_order):
    with brownie.reverts(error("LengthMismatch")):
        processor.submitBatch([make_order().as_tuple()], [], {"from": settler})
    with brownie.reverts(error("EmptyBatch")):
        processor.submitBatch([], [], {"from": settler})
