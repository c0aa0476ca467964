"""CommitteeClient.applied_certificate (what settlement asks to learn which order took a
voucher): the certificate of one (sender, sequence) from the first authority holding it,
verified, so a lying or lagging authority cannot frame a sender."""

import pytest
from eth_account import Account

from fastpay_protocol import typed_data as td
from fastpay_protocol.committee import CommitteeClient
from fastpay_protocol.messages import Certificate
from tests.authorities.fake_authority import TOKEN, start_committee

ALICE = Account.from_key(b"\xa1" * 32)
BOB = Account.from_key(b"\xb0" * 32)


@pytest.fixture
def nodes():
    authorities, _committee = start_committee(4)
    for authority in authorities:
        authority.fund(ALICE.address, 10_000_000)
    yield authorities
    for authority in authorities:
        authority.stop()


@pytest.fixture
def client(nodes):
    with CommitteeClient(nodes[0].committee, timeout=1.0) as client:
        yield client


def order(sequence=0, amount=1_000_000):
    return td.TransferOrder(ALICE.address, BOB.address, TOKEN, amount, sequence, 0)


def test_it_returns_the_applied_certificate_of_a_sequence(nodes, client):
    first = client.transfer(order(0), ALICE.key, wait_all=True)
    second = client.transfer(order(1, amount=2), ALICE.key, wait_all=True)

    assert client.applied_certificate(ALICE.address, 0) == first
    assert client.applied_certificate(ALICE.address.lower(), 1) == second


def test_it_finds_the_certificate_when_only_one_authority_holds_it(nodes, client):
    certificate = client.transfer(order(0), ALICE.key, wait_all=True)
    for node in nodes[1:]:
        node.certificates.clear()

    assert client.applied_certificate(ALICE.address, 0) == certificate


def test_it_answers_none_when_no_authority_applied_that_sequence(nodes, client):
    client.transfer(order(0), ALICE.key, wait_all=True)

    assert client.applied_certificate(ALICE.address, 1) is None
    assert client.applied_certificate(BOB.address, 0) is None


def test_a_forged_certificate_from_a_lying_authority_is_not_believed(nodes, client):
    real = client.transfer(order(0), ALICE.key, wait_all=True)
    # every authority but one lost it; the last one serves a certificate without a quorum
    forged = Certificate(real.order, real.signature, real.votes[:1])
    for node in nodes:
        node.certificates[ALICE.address] = {0: forged}

    assert client.applied_certificate(ALICE.address, 0) is None

    nodes[3].certificates[ALICE.address] = {0: real}
    assert client.applied_certificate(ALICE.address, 0) == real


def test_a_certificate_of_an_epoch_the_caller_does_not_know_is_refused(nodes, client):
    client.transfer(order(0), ALICE.key, wait_all=True)

    assert client.applied_certificate(ALICE.address, 0, committees={}) is None
    assert client.applied_certificate(
        ALICE.address, 0, committees={0: client.committee}
    ) == client.applied_certificate(ALICE.address, 0)


def test_it_answers_none_when_every_authority_is_down(nodes, client):
    client.transfer(order(0), ALICE.key, wait_all=True)
    for node in nodes:
        node.stop()

    assert client.applied_certificate(ALICE.address, 0) is None
