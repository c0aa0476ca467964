"""fastpay_protocol.typed_data (Python, eth-account) and the contracts agree on every digest
and on the committee-batch item format; certificates signed in Python verify on-chain, and
tampering breaks them; only Python-built redemptions settle."""

import brownie
import pytest
from batch_signing import sign_batch
from brownie import CertificateVerifier, chain
from certificates import certify
from conftest import UNIT, USDC, USDT
from revert_reasons import error

from fastpay_protocol import typed_data as td


def test_the_domain_separator_matches(verifier, domain):
    fields = verifier.eip712Domain()
    assert (fields[1], fields[2], fields[3], fields[4]) == (
        "FastPay",
        "1",
        chain.id,
        verifier.address,
    )
    message = td.order_message(domain, td.TransferOrder(*[verifier.address] * 3, 0, 0, 0))
    assert bytes(verifier.domainSeparator()) == bytes(message.header)


def test_order_vote_and_batch_digests_match(verifier, processor, vault, domain, make_order):
    order = make_order(amount=123_456_789, sequence=2**64 - 1, epoch=7)
    assert bytes(verifier.orderDigest(order.as_tuple())) == td.order_digest(domain, order)
    assert bytes(verifier.voteDigest(order.as_tuple())) == td.vote_digest(domain, order)
    words = td.pack_batch_items([td.BatchItem.redemption(order.sender, 3, 1, 2**96 - 1)])
    h = td.items_hash(words)
    ends = {"processor": processor.address, "vault": vault.address}
    assert bytes(verifier.batchDigest(5, 9, processor, vault, h)) == td.batch_digest(
        domain, 5, 9, h, **ends
    )
    # processor and vault are both bound
    assert bytes(verifier.batchDigest(5, 9, vault, processor, h)) != td.batch_digest(
        domain, 5, 9, h, **ends
    )


def test_python_batch_items_settle_as_the_contract_reads_them(
    funded, processor, vault, usdt, usdc, alice, bob, settler, domain, committee
):
    items = [
        td.BatchItem.redemption(str(alice), 2**64 - 1, 1, 3 * UNIT),  # extreme sequence
        td.BatchItem.redemption(str(bob), 0, 0, 0),  # zero amount
        td.BatchItem.redemption(str(alice), 0, 0, 5 * UNIT),  # an earlier sequence: settles
        td.BatchItem.redemption(str(alice), 2**64 - 1, 0, UNIT),  # the same one again: skipped
    ]
    words = td.pack_batch_items(items)
    tx = processor.submitCommitteeBatch(
        1, 0, words, sign_batch(domain, processor, 1, 0, words, committee[:3]), {"from": settler}
    )
    assert tx.events["CommitteeBatchSettled"]["itemsHash"] == "0x" + td.items_hash(words).hex()
    settled = [
        (e["sender"], e["sequence"], e["beneficiary"], e["token"], e["units"])
        for e in tx.events["PaymentSettled"]
    ]
    assert settled == [
        (alice, 2**64 - 1, alice, usdc, 3 * UNIT),
        (bob, 0, bob, usdt, 0),
        (alice, 0, alice, usdt, 5 * UNIT),
    ]
    assert tx.events["CertificateRejected"]["index"] == 3
    assert vault.balanceOf(alice, usdc) == 3 * USDC and vault.balanceOf(alice, usdt) == 5 * USDT
    assert processor.isRedeemed(alice, 2**64 - 1) and processor.isRedeemed(alice, 0)
    assert not processor.isRedeemed(alice, 1)


def test_python_refuses_to_pack_what_the_contract_would_skip(alice, bob):
    with pytest.raises(ValueError, match="not a redemption"):
        td.pack_batch_items([td.BatchItem(str(alice), 0, 0, str(bob), UNIT)])


def test_a_python_redemption_settles_and_a_python_transfer_does_not(
    funded, processor, vault, usdt, alice, bob, domain, committee
):
    redemption = td.TransferOrder(str(alice), processor.address, usdt.address, 2 * UNIT, 0, 1)
    transfer = td.TransferOrder(str(alice), str(bob), usdt.address, 2 * UNIT, 1, 1)
    with brownie.reverts(error("NotARedemption")):
        processor.processOfflinePayment(
            transfer.as_tuple(), certify(domain, transfer, committee[:3])
        )
    processor.processOfflinePayment(
        redemption.as_tuple(), certify(domain, redemption, committee[:3])
    )
    assert vault.balanceOf(alice, usdt) == 2 * USDT and vault.balanceOf(bob, usdt) == 0


def test_a_python_certificate_verifies_on_chain(verifier, processor, domain, committee, make_order):
    order = make_order()
    certificate = certify(domain, order, committee[:3])
    assert td.verify_certificate(domain, order, certificate, {a.address: 1 for a in committee})
    assert verifier.verifyCertificate(order.as_tuple(), certificate)
    assert processor.verifyCertificate(order.as_tuple(), certificate)


@pytest.mark.parametrize(
    "change",
    [
        {"recipient": "0x" + "12" * 20},
        {"token": "0x" + "34" * 20},
        {"amount": 25 * UNIT + 1},
        {"sequence": 1},
        {"sender": "0x" + "56" * 20},
    ],
)
def test_a_tampered_field_fails_on_chain(verifier, domain, committee, make_order, change):
    certificate = certify(domain, make_order(), committee[:3])
    assert not verifier.verifyCertificate(make_order(**change).as_tuple(), certificate)


def test_a_wrong_chain_id_fails_on_chain(verifier, committee, make_order):
    order = make_order()
    wrong = td.Domain(chain_id=1, verifying_contract=verifier.address)
    assert not verifier.verifyCertificate(order.as_tuple(), certify(wrong, order, committee[:3]))


def test_a_wrong_verifying_contract_fails_on_chain(
    verifier, consensus, committee, make_order, admin
):
    order = make_order()
    other = CertificateVerifier.deploy(consensus, {"from": admin})
    wrong = td.Domain(chain_id=chain.id, verifying_contract=other.address)
    assert not verifier.verifyCertificate(order.as_tuple(), certify(wrong, order, committee[:3]))


def test_a_python_order_signature_recovers_to_the_sender_on_chain_digest(
    domain, verifier, make_order, alice
):
    from eth_account import Account

    user = Account.from_key(b"\x07" * 32)
    order = make_order(sender=user.address)
    signature = td.sign_order(domain, order, user.key)
    assert (
        Account._recover_hash(bytes(verifier.orderDigest(order.as_tuple())), signature=signature)
        == user.address
    )
