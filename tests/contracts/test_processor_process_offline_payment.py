"""processOfflinePayment: one certificate, anyone may submit it; only redemptions settle
(recipient = the processor's address), and they pay the SENDER's vault balance."""

import brownie
import pytest
from brownie import chain
from certificates import certify
from conftest import UNIT, USDT
from revert_reasons import certificate_invalid, error


def test_a_redemption_settles_to_the_sender_vault_balance_and_the_sender_withdraws(
    funded, processor, vault, registry, usdt, alice, stranger, domain, committee, make_order
):
    order = make_order(recipient=processor, amount=25 * UNIT, sequence=0)
    tx = processor.processOfflinePayment(
        order.as_tuple(), certify(domain, order, committee[:3]), {"from": stranger}
    )
    assert tx.return_value is True
    assert tx.events["PaymentSettled"] == {
        "sender": alice,
        "sequence": 0,
        "beneficiary": alice,
        "token": usdt,
        "units": 25 * UNIT,
    }
    assert registry.getUserBalance(alice, usdt) == 25 * USDT
    assert vault.balanceOf(processor, usdt) == 0  # the redemption address is never credited
    assert vault.poolBalance(usdt) == 975 * USDT
    assert processor.isRedeemed(alice, 0) and not processor.isRedeemed(alice, 1)

    before = usdt.balanceOf(alice)
    registry.withdrawTokens(usdt, 25 * USDT, {"from": alice})
    assert usdt.balanceOf(alice) - before == 25 * USDT
    assert vault.balanceOf(alice, usdt) == 0


@pytest.mark.parametrize("who", ["bob", "alice", "zero", "verifier", "vault"])
def test_a_transfer_certificate_to_any_other_recipient_cannot_settle(
    funded,
    processor,
    vault,
    verifier,
    usdt,
    alice,
    bob,
    stranger,
    domain,
    committee,
    make_order,
    who,
):
    # a valid certificate of an internal FastPay transfer: the authorities already credited
    # the recipient's FastPay account, so paying it on-chain too would pay it twice
    recipient = {
        "bob": str(bob),
        "alice": str(alice),  # to oneself inside FastPay is still not a redemption
        "zero": "0x" + "00" * 20,
        "verifier": verifier.address,
        "vault": vault.address,
    }[who]
    order = make_order(recipient=recipient)
    certificate = certify(domain, order, committee[:3])
    assert processor.verifyCertificate(order.as_tuple(), certificate)  # a pure quorum check
    with brownie.reverts(error("NotARedemption")):
        processor.processOfflinePayment(order.as_tuple(), certificate, {"from": stranger})
    assert not processor.isRedeemed(alice, 0)
    assert vault.poolBalance(usdt) == 1_000 * USDT
    assert vault.balanceOf(alice, usdt) == vault.balanceOf(bob, usdt) == 0


def test_a_transfer_certificate_cannot_be_turned_into_a_redemption(
    funded, processor, domain, committee, make_order, bob, stranger
):
    # the votes were given for the transfer to Bob: rewriting the recipient breaks them
    transfer = make_order(recipient=bob)
    certificate = certify(domain, transfer, committee[:3])
    forged = make_order(recipient=processor)
    with brownie.reverts(certificate_invalid("SignerNotInCommittee")):
        processor.processOfflinePayment(forged.as_tuple(), certificate, {"from": stranger})


def test_a_replayed_certificate_is_refused(
    funded, processor, domain, committee, make_order, stranger
):
    order = make_order(sequence=4)
    certificate = certify(domain, order, committee[:3])
    processor.processOfflinePayment(order.as_tuple(), certificate, {"from": stranger})
    with brownie.reverts(certificate_invalid("SequenceAlreadyRedeemed")):
        processor.processOfflinePayment(order.as_tuple(), certificate, {"from": stranger})


def test_an_older_sequence_still_settles_after_a_newer_one(
    funded, processor, vault, usdt, alice, domain, committee, make_order, stranger
):
    # attack (issue 11): anyone holding a sender's LATER redemption certificate (they are
    # readable on the nodes) settled it first, and the high-water mark then refused every
    # earlier one: the sender's money was stranded. With the bitmap each settles once.
    newer = make_order(sequence=7, amount=2 * UNIT)
    older = make_order(sequence=6, amount=3 * UNIT)
    oldest = make_order(sequence=300, amount=UNIT)  # another bitmap word
    for order in (oldest, newer, older):
        processor.processOfflinePayment(
            order.as_tuple(), certify(domain, order, committee[:3]), {"from": stranger}
        )
    assert vault.balanceOf(alice, usdt) == 6 * USDT
    assert all(processor.isRedeemed(alice, s) for s in (6, 7, 300))
    assert not any(processor.isRedeemed(alice, s) for s in (0, 5, 8, 299, 301))
    for order in (older, newer, oldest):
        with brownie.reverts(certificate_invalid("SequenceAlreadyRedeemed")):
            processor.processOfflinePayment(
                order.as_tuple(), certify(domain, order, committee[1:]), {"from": stranger}
            )


def test_a_below_quorum_certificate_is_refused(funded, processor, domain, committee, make_order):
    order = make_order()
    with brownie.reverts(certificate_invalid("BelowQuorum")):
        processor.processOfflinePayment(order.as_tuple(), certify(domain, order, committee[:2]))


def test_more_than_the_pool_holds_reverts_with_the_vault_error(
    funded, processor, usdt, domain, committee, make_order
):
    order = make_order(amount=1_001 * UNIT)
    with brownie.reverts(error("InsufficientPool", usdt, 1_000 * USDT, 1_001 * USDT)):
        processor.processOfflinePayment(order.as_tuple(), certify(domain, order, committee[:3]))


def test_a_redemption_from_the_zero_address_is_refused_by_the_vault(
    funded, processor, domain, committee, make_order
):
    order = make_order(sender="0x" + "00" * 20)
    with brownie.reverts(error("ZeroAddress")):
        processor.processOfflinePayment(order.as_tuple(), certify(domain, order, committee[:3]))


def test_verify_certificate_is_a_view_of_the_quorum(
    funded, processor, domain, committee, make_order
):
    order = make_order()
    assert processor.verifyCertificate(order.as_tuple(), certify(domain, order, committee[:3]))
    assert not processor.verifyCertificate(order.as_tuple(), certify(domain, order, committee[:2]))
    assert chain.id == domain.chain_id
