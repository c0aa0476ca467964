"""fastpay_protocol.typed_data (Python, eth-account) and the contracts agree on every digest;
certificates signed in Python verify on-chain, and tampering breaks them."""

import pytest
from brownie import CertificateVerifier, chain
from certificates import certify
from conftest import UNIT

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


def test_order_vote_and_batch_digests_match(verifier, domain, make_order):
    order = make_order(amount=123_456_789, sequence=2**64 - 1, epoch=7)
    assert bytes(verifier.orderDigest(order.as_tuple())) == td.order_digest(domain, order)
    assert bytes(verifier.voteDigest(order.as_tuple())) == td.vote_digest(domain, order)
    words = td.pack_batch_items([td.BatchItem(order.sender, 3, 1, order.recipient, 2**96 - 1)])
    h = td.items_hash(words)
    assert bytes(verifier.batchDigest(5, 9, h)) == td.batch_digest(domain, 5, 9, h)


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
