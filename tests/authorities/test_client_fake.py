"""The committee client against four in-process fake authorities (tests/authorities/
fake_authority.py) that speak the wire protocol over real HTTP: quorum with one authority
down, slow or lying; a clean NoQuorum with two down; conflicting orders; synchronisation
of a lagging authority; batches; account state."""

import time

import pytest
from eth_account import Account

from fastpay_protocol import typed_data as td
from fastpay_protocol.committee import (
    CommitteeClient,
    ConflictingOrder,
    NoQuorum,
    NotConfirmed,
    StateUnknown,
)
from tests.authorities.fake_authority import TOKEN, start_committee

ALICE = Account.from_key(b"\xa1" * 32)
BOB = Account.from_key(b"\xb0" * 32)
FUNDS = 100_000_000  # 100 tokens in ledger units


@pytest.fixture
def nodes():
    authorities, _committee = start_committee(4)
    for authority in authorities:
        authority.fund(ALICE.address, FUNDS)
    yield authorities
    for authority in authorities:
        authority.stop()


@pytest.fixture
def client(nodes):
    with CommitteeClient(nodes[0].committee, timeout=1.0) as client:
        yield client


def order(sequence=0, amount=1_000_000, sender=ALICE, recipient=BOB):
    return td.TransferOrder(sender.address, recipient.address, TOKEN, amount, sequence, 0)


def balances(nodes, address):
    address = td._address(address, "address")
    return [node.account(address).balances.get(TOKEN, 0) for node in nodes]


def test_it_certifies_and_confirms_a_transfer_at_every_authority(nodes, client):
    certificate = client.transfer(order(), ALICE.key, wait_all=True)

    certificate.verify(client.committee)
    assert len(certificate.votes) >= 3
    assert balances(nodes, ALICE.address) == [FUNDS - 1_000_000] * 4
    assert balances(nodes, BOB.address) == [1_000_000] * 4
    assert client.next_sequence(ALICE.address) == 1


def test_it_certifies_with_one_authority_down(nodes, client):
    nodes[3].stop()

    certificate = client.transfer(order(), ALICE.key)

    assert {vote.authority for vote in certificate.votes} == {n.address for n in nodes[:3]}
    assert balances(nodes[:3], BOB.address) == [1_000_000] * 3


def test_it_does_not_wait_for_a_slow_authority(nodes, client):
    nodes[2].delay = 3.0  # longer than the client's 1 s timeout

    started = time.monotonic()
    certificate = client.certify(client.sign_order(ALICE.key, **_fields()))
    elapsed = time.monotonic() - started

    assert elapsed < 2.5  # well before the slow one answers (3 s); no wall-clock race
    assert nodes[2].address not in {vote.authority for vote in certificate.votes}
    certificate.verify(client.committee)


def test_two_hung_authorities_are_timeouts_within_the_deadline(nodes):
    nodes[1].delay = nodes[2].delay = 3.0
    client = CommitteeClient(nodes[0].committee, timeout=0.3, deadline=0.6)

    started = time.monotonic()
    with pytest.raises(NoQuorum) as caught:
        client.certify(client.sign_order(ALICE.key, **_fields()))
    elapsed = time.monotonic() - started
    client.close()

    # the client gave up on its deadline, not when the hung ones answered (a shared, loaded
    # machine stretches the 0.6 s, so the bound is the hang, not the deadline)
    assert elapsed < 2.5
    assert {caught.value.failures[n.address].reason for n in nodes[1:3]} == {"timeout"}
    assert set(caught.value.votes) <= {nodes[0].address, nodes[3].address}


def test_a_lying_authority_s_vote_is_not_counted(nodes, client):
    nodes[1].lie = True

    certificate = client.certify(client.sign_order(ALICE.key, **_fields()))

    assert nodes[1].address not in {vote.authority for vote in certificate.votes}
    certificate.verify(client.committee)


def test_a_liar_and_a_down_authority_are_a_no_quorum_naming_both(nodes, client):
    nodes[1].lie = True
    nodes[3].stop()

    with pytest.raises(NoQuorum) as caught:
        client.certify(client.sign_order(ALICE.key, **_fields()))

    failures = caught.value.failures
    assert failures[nodes[1].address].reason == "bad_vote"
    assert failures[nodes[3].address].reason == "unreachable"
    # once the liar and the dead node are known, a quorum is impossible: no more waiting
    assert set(caught.value.votes) <= {nodes[0].address, nodes[2].address}
    assert not isinstance(caught.value, ConflictingOrder)


def test_two_down_is_a_clean_no_quorum_and_the_same_order_completes_once_one_is_back(nodes, client):
    nodes[2].stop()
    nodes[3].stop()
    the_order = order()

    with pytest.raises(NoQuorum) as caught:
        client.transfer(the_order, ALICE.key)

    assert not isinstance(caught.value, NotConfirmed)  # nothing was certified
    failures = caught.value.failures
    assert [failures[n.address].reason for n in nodes[2:]] == ["unreachable"] * 2
    assert balances(nodes, ALICE.address) == [FUNDS] * 4
    assert balances(nodes, BOB.address) == [0] * 4
    assert all(not node.applied for node in nodes)

    nodes[2].start()  # same port, state kept
    certificate = client.transfer(the_order, ALICE.key)

    assert certificate.order == the_order
    assert balances(nodes[:3], BOB.address) == [1_000_000] * 3


def test_a_conflicting_order_surfaces_with_the_existing_votes(nodes, client):
    first = client.sign_order(ALICE.key, **_fields(amount=5))
    second = client.sign_order(ALICE.key, **_fields(amount=7))
    # the sender's first order reached half of the committee (its device went offline)
    half = CommitteeClient(client.committee, timeout=1.0)
    nodes[2].stop()
    nodes[3].stop()
    with pytest.raises(NoQuorum):
        half.certify(first)
    nodes[2].start()
    nodes[3].start()

    with pytest.raises(ConflictingOrder) as caught:
        client.certify(second)

    conflicts = caught.value.conflicts
    assert set(conflicts) == {nodes[0].address, nodes[1].address}
    assert {held.order for held in conflicts.values()} == {first.order}
    assert all(held.vote.verify(client.hasher, first.order) for held in conflicts.values())
    assert set(caught.value.votes) <= {nodes[2].address, nodes[3].address}
    half.close()


def test_a_lagging_authority_is_synchronised_with_exactly_the_missing_certificates(nodes, client):
    nodes[3].stop()
    for sequence in range(3):
        client.transfer(order(sequence), ALICE.key, wait_all=True)
    nodes[3].start()
    assert nodes[3].account(ALICE.address).next_sequence == 0

    certificate = client.certify(client.sign_order(ALICE.key, **_fields(sequence=3)))
    client.confirm(certificate, wait_all=True)

    assert nodes[3].applied == [(ALICE.address, s) for s in range(4)]
    assert balances(nodes, ALICE.address) == [FUNDS - 4_000_000] * 4
    assert client.account_state(ALICE.address).next_sequence == 4


def test_sync_authority_pushes_the_range_in_order(nodes, client):
    nodes[3].stop()
    for sequence in range(5):
        client.transfer(order(sequence), ALICE.key, wait_all=True)
    nodes[3].start()

    pushed = client.sync_authority(nodes[3].address, ALICE.address, 0, 3)

    assert pushed == 3
    assert nodes[3].applied == [(ALICE.address, s) for s in range(3)]


def test_catch_up_skips_the_authorities_it_is_told_to_and_pushes_to_the_others(nodes, client):
    nodes[2].stop()
    for sequence in range(2):
        client.transfer(order(sequence), ALICE.key, wait_all=True)
    nodes[2].start()
    nodes[1].delay = 5.0  # hung: a walk over many accounts must not wait for it each time

    started = time.monotonic()
    result = client.catch_up(ALICE.address, skip={nodes[1].address})

    assert time.monotonic() - started < 2.0
    assert result.answered == {nodes[0].address, nodes[2].address, nodes[3].address}
    assert (result.behind, result.pushed) == ({nodes[2].address: 2}, {nodes[2].address: 2})
    assert nodes[2].applied == [(ALICE.address, 0), (ALICE.address, 1)]


def test_an_account_answer_behind_the_committee_is_caught_up_in_the_background(nodes, client):
    nodes[3].stop()
    for sequence in range(3):
        client.transfer(order(sequence), ALICE.key, wait_all=True)
    nodes[3].start()

    for _ in range(2):  # the second query sees the answer that came after the first decided
        assert client.account_state(ALICE.address).next_sequence == 3

    deadline = time.monotonic() + 5
    while nodes[3].applied != [(ALICE.address, s) for s in range(3)]:
        assert time.monotonic() < deadline, nodes[3].applied
        time.sleep(0.02)


def test_a_confirmation_below_quorum_is_not_confirmed_and_retrying_later_is_safe(nodes, client):
    certificate = client.certify(client.sign_order(ALICE.key, **_fields()))
    nodes[1].stop()
    nodes[2].stop()

    with pytest.raises(NotConfirmed) as caught:
        client.confirm(certificate)
    assert caught.value.certificate == certificate

    nodes[1].start()
    confirmation = client.confirm(certificate, wait_all=True)
    again = client.confirm(certificate, wait_all=True)

    assert confirmation.applied >= {nodes[0].address, nodes[1].address, nodes[3].address}
    assert balances([nodes[0], nodes[1], nodes[3]], BOB.address) == [1_000_000] * 3
    assert again.applied == confirmation.applied
    assert [len(node.applied) for node in nodes] == [1, 1, 0, 1]


def test_batches_certify_and_confirm_many_senders_with_one_authority_down(nodes, client):
    senders = [Account.from_key(bytes([0x20 + i]) * 32) for i in range(30)]
    for node in nodes:
        for sender in senders:
            node.fund(sender.address, 10)
    nodes[0].stop()
    signed = [
        client.sign_order(sender.key, recipient=BOB.address, token=TOKEN, amount=3, sequence=0)
        for sender in senders
    ]
    signed.append(client.sign_order(ALICE.key, **_fields(amount=FUNDS + 1)))  # cannot pay

    results = client.certify_batch(signed)

    assert all(not isinstance(r, Exception) for r in results[:-1])
    assert isinstance(results[-1], NoQuorum)
    assert results[-1].codes() == {"insufficient_balance"}
    confirmations = client.confirm_batch(results[:-1], wait_all=True)
    assert all(len(c.applied) == 3 for c in confirmations)
    assert balances(nodes[1:], BOB.address) == [90] * 3


def test_an_authority_that_missed_a_payment_to_the_sender_is_shown_it(nodes, client):
    carol = "0x" + "ca" * 20
    nodes[3].stop()
    paid = client.transfer(order(amount=5_000_000), ALICE.key, wait_all=True)
    nodes[3].start()  # it never saw Bob being paid
    nodes[0].stop()  # and without node 0 it is needed for a quorum
    bobs = td.TransferOrder(BOB.address, carol, TOKEN, 3_000_000, 0, 0)

    with pytest.raises(NoQuorum) as caught:
        client.transfer(bobs, BOB.key)
    assert caught.value.failures[nodes[3].address].code == "insufficient_balance"

    client.transfer(bobs, BOB.key, credits=[paid], wait_all=True)

    assert nodes[3].applied == [(ALICE.address, 0), (BOB.address, 0)]
    assert balances(nodes[1:], carol) == [3_000_000] * 3


def test_a_batch_confirmation_catches_up_a_lagging_authority_per_sender(nodes, client):
    senders = [Account.from_key(bytes([0x40 + i]) * 32) for i in range(5)]
    for node in nodes:
        for sender in senders:
            node.fund(sender.address, 10)
    nodes[3].stop()
    first = [
        client.sign_order(s.key, recipient=BOB.address, token=TOKEN, amount=1, sequence=0)
        for s in senders
    ]
    client.confirm_batch(client.certify_batch(first), wait_all=True)
    nodes[3].start()
    second = [
        client.sign_order(s.key, recipient=BOB.address, token=TOKEN, amount=2, sequence=1)
        for s in senders
    ]

    certificates = client.certify_batch(second)
    confirmations = client.confirm_batch(certificates, wait_all=True)

    assert all(nodes[3].address in c.applied for c in confirmations)
    for sender in senders:
        mine = [entry for entry in nodes[3].applied if entry[0] == sender.address]
        assert mine == [(sender.address, 0), (sender.address, 1)]
    assert balances(nodes, BOB.address) == [15] * 4


def test_account_state_ignores_a_single_inflating_liar(nodes, client):
    client.transfer(order(0), ALICE.key, wait_all=True)
    nodes[0].inflate = True

    state = client.account_state(ALICE.address)

    assert state.next_sequence == 1
    assert state.balance(TOKEN) == FUNDS - 1_000_000
    assert state.to_json()["next_sequence"] == 1


def test_account_state_with_too_few_answers_is_unknown(nodes, client):
    for node in nodes[1:]:
        node.stop()

    with pytest.raises(StateUnknown):
        client.account_state(ALICE.address)


def _fields(amount=1_000_000, sequence=0):
    return {"recipient": BOB.address, "token": TOKEN, "amount": amount, "sequence": sequence}
