"""The committee client against four real authority node processes (tests/authorities/
nodes.py): certify and confirm, one node killed, two killed, concurrent conflicting orders,
replays, and a lagging node brought up to date."""

import threading
import time

import pytest

from fastpay_protocol.committee import (
    CommitteeClient,
    ConflictingOrder,
    NoQuorum,
    fetch_committee,
)
from fastpay_protocol.messages import AccountInfo
from tests.authorities.node_fixtures import FUNDED_UNITS, TOKEN, Users, make_order
from tests.authorities.nodes import local_committee

USERS = Users(40)
RECIPIENT = "0x" + "78" * 20


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    with local_committee(tmp_path_factory.mktemp("client"), genesis=USERS.genesis()) as nodes:
        yield nodes


@pytest.fixture
def all_up(nodes):
    """Every test starts and ends with the four nodes running."""
    yield nodes
    for node in nodes:
        if node.proc is None:
            node.start()


@pytest.fixture(scope="module")
def committee(nodes):
    return fetch_committee(nodes[0].url)


@pytest.fixture
def client(committee, all_up):
    with CommitteeClient(committee, timeout=2.0) as client:
        yield client


def view(node, address) -> AccountInfo:
    status, body = node.get(f"/authority/v1/accounts/{address}")
    assert status == 200, body
    return AccountInfo.from_json(body)


def balance(node, address) -> int:
    return view(node, address).balance(TOKEN)


def order(user, sequence=0, amount=1_000_000, recipient=RECIPIENT):
    return make_order(user, recipient=recipient, amount=amount, sequence=sequence)


def test_it_certifies_and_confirms_transfers_at_every_node(nodes, client):
    user, payee = USERS.take(), USERS.take()

    first = client.transfer(order(user, 0, 3_000_000, payee.address), user.key, wait_all=True)
    second = client.transfer(order(user, 1, 2_000_000, payee.address), user.key, wait_all=True)

    first.verify(client.committee)
    second.verify(client.committee)
    assert [balance(node, user.address) for node in nodes] == [FUNDED_UNITS - 5_000_000] * 4
    assert [balance(node, payee.address) for node in nodes] == [FUNDED_UNITS + 5_000_000] * 4
    assert [view(node, user.address).next_sequence for node in nodes] == [2] * 4


def test_it_still_certifies_with_one_node_killed(nodes, client):
    user = USERS.take()
    nodes[2].kill()

    certificate = client.transfer(order(user), user.key)

    assert nodes[2].address not in {vote.authority for vote in certificate.votes}
    certificate.verify(client.committee)
    assert client.account_state(user.address).balance(TOKEN) == FUNDED_UNITS - 1_000_000


def test_two_nodes_killed_is_a_clean_no_quorum_then_the_same_order_completes(nodes, client):
    user = USERS.take()
    the_order = order(user)
    nodes[2].kill()
    nodes[3].kill()

    with pytest.raises(NoQuorum) as caught:
        client.transfer(the_order, user.key)

    failures = caught.value.failures
    assert {failures[n.address].reason for n in nodes[2:]} == {"unreachable"}
    nodes[3].start()
    for node in (nodes[0], nodes[1], nodes[3]):
        assert balance(node, user.address) == FUNDED_UNITS
        assert balance(node, RECIPIENT) == balance(nodes[0], RECIPIENT)
        assert view(node, user.address).next_sequence == 0

    certificate = client.transfer(the_order, user.key, wait_all=True)

    assert certificate.order == the_order
    for node in (nodes[0], nodes[1], nodes[3]):
        assert balance(node, user.address) == FUNDED_UNITS - 1_000_000


def test_two_orders_for_one_sequence_never_both_certify(nodes, committee, all_up):
    """Each round: two clients race different orders for the same (sender, sequence)."""
    clients = [CommitteeClient(committee, timeout=2.0) for _ in range(2)]
    try:
        for _ in range(12):
            user = USERS.take()
            signed = [
                c.sign_order(user.key, recipient=RECIPIENT, token=TOKEN, amount=a, sequence=0)
                for c, a in zip(clients, (1_000, 2_000), strict=True)
            ]
            outcomes = [None, None]
            start = threading.Barrier(2)

            def race(i, signed=signed, outcomes=outcomes, start=start):
                start.wait()
                try:
                    outcomes[i] = clients[i].certify(signed[i])
                except NoQuorum as exc:
                    outcomes[i] = exc

            threads = [threading.Thread(target=race, args=(i,)) for i in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wins = [o for o in outcomes if not isinstance(o, Exception)]
            assert len(wins) <= 1, "two certificates for one sequence"
            for outcome in outcomes:
                if isinstance(outcome, Exception):
                    assert isinstance(outcome, ConflictingOrder)
    finally:
        for c in clients:
            c.close()


def test_halves_locked_on_different_orders_give_conflicts_and_no_certificate(nodes, client):
    user = USERS.take()
    first = client.sign_order(user.key, recipient=RECIPIENT, token=TOKEN, amount=1, sequence=0)
    second = client.sign_order(user.key, recipient=RECIPIENT, token=TOKEN, amount=2, sequence=0)
    for node, signed in zip(nodes, (first, first, second, second), strict=True):
        status, _ = node.post("/authority/v1/orders", signed.to_json())
        assert status == 200

    for signed, other in ((first, second), (second, first)):
        with pytest.raises(ConflictingOrder) as caught:
            client.certify(signed)
        assert {held.order for held in caught.value.conflicts.values()} == {other.order}
        assert len(caught.value.conflicts) == 2


def test_replayed_orders_and_confirmations_change_nothing(nodes, client):
    user = USERS.take()
    signed = client.sign_order(
        user.key, recipient=RECIPIENT, token=TOKEN, amount=4_000_000, sequence=0
    )
    certificate = client.certify(signed)
    client.confirm(certificate, wait_all=True)
    before = [(balance(n, user.address), balance(n, RECIPIENT)) for n in nodes]

    again = client.confirm(certificate, wait_all=True)
    replayed = client.certify(signed)  # the nodes answer their logged votes: same order
    client.confirm(replayed, wait_all=True)

    assert again.applied == frozenset(n.address for n in nodes)
    assert replayed.order == certificate.order
    first_votes = {vote.authority: vote for vote in certificate.votes}
    for vote in replayed.votes:  # each node's vote for the order is the one it logged
        assert first_votes.get(vote.authority, vote) == vote
    assert [(balance(n, user.address), balance(n, RECIPIENT)) for n in nodes] == before
    assert before[0][0] == FUNDED_UNITS - 4_000_000


def test_a_lagging_node_is_brought_up_to_date_by_the_client(nodes, client):
    user = USERS.take()
    nodes[3].kill()
    for sequence in range(3):
        client.transfer(order(user, sequence), user.key)
    nodes[3].start()
    assert view(nodes[3], user.address).next_sequence == 0

    client.transfer(order(user, 3), user.key, wait_all=True)

    lagging = view(nodes[3], user.address)
    assert lagging.next_sequence == 4
    assert lagging.balance(TOKEN) == FUNDED_UNITS - 4_000_000
    assert client.account_state(user.address).next_sequence == 4


def _wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_a_node_killed_and_restarted_catches_up_by_itself(nodes, client):
    """SIGKILL, 25 certificates while it is down, restart: the next account query pushes
    the missing ones to it in the background, and the payer's next order gets 4 votes."""
    user = USERS.take()
    nodes[3].kill()
    for sequence in range(25):
        client.transfer(order(user, sequence, 100_000), user.key)
    nodes[3].start()
    assert view(nodes[3], user.address).next_sequence == 0

    assert client.account_state(user.address).next_sequence == 25  # does not wait for it

    assert _wait_for(lambda: view(nodes[3], user.address).next_sequence == 25)
    assert balance(nodes[3], user.address) == FUNDED_UNITS - 2_500_000
    signed = client.sign_order(user.key, recipient=RECIPIENT, token=TOKEN, amount=1, sequence=25)
    for node in nodes:  # every authority votes for the payer's next order
        status, body = node.post("/authority/v1/orders", signed.to_json())
        assert status == 200, (node.name, body)


def test_catch_up_brings_every_lagging_node_to_the_committees_state_and_waits(nodes, client):
    user = USERS.take()
    nodes[1].kill()
    for sequence in range(5):
        client.transfer(order(user, sequence), user.key)
    nodes[1].start()
    nodes[2].kill()

    down = client.catch_up(user.address)

    assert down.next_sequence == 5
    assert down.behind == {nodes[1].address: 5}
    assert down.pushed == {nodes[1].address: 5}
    assert down.lag == {nodes[1].address: 0}
    assert down.failures[nodes[2].address].reason == "unreachable"
    assert view(nodes[1], user.address).next_sequence == 5
    nodes[2].start()
    assert client.catch_up(user.address).lag == {}


def test_an_unreachable_source_does_not_stop_the_push_and_a_second_run_is_a_no_op(nodes, client):
    user = USERS.take()
    nodes[0].kill()
    for sequence in range(3):
        client.transfer(order(user, sequence), user.key)
    nodes[0].start()
    nodes[1].kill()  # one of the sources the missing certificates could come from

    result = client.catch_up(user.address)

    assert result.pushed == {nodes[0].address: 3}
    assert view(nodes[0], user.address).next_sequence == 3
    again = client.catch_up(user.address)
    assert again.behind == {} and again.pushed == {}
