"""Settlement batches: a node signs a Batch only over redemptions applied here, each
certificate in one batch at most; the same batch again gets the same signature."""

import pytest

from authorities.node.local import PLACEHOLDER_VAULT
from fastpay_protocol import typed_data as td
from tests.authorities.node_fixtures import TOKEN, Users, certify, confirm, make_order
from tests.authorities.nodes import committee_domain, local_committee

USERS = Users(10)
TOKEN_ID = 3


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    with local_committee(
        tmp_path_factory.mktemp("batches"),
        genesis=USERS.genesis(),
        tokens=[{"symbol": "USDT", "address": TOKEN, "id": TOKEN_ID}],
    ) as nodes:
        yield nodes


@pytest.fixture(scope="module")
def domain(nodes):
    return committee_domain(nodes[0])


@pytest.fixture(scope="module")
def redemption(nodes):
    return nodes[0].get("/authority/v1/committee")[1]["redemption_address"]


def redeem(nodes, domain, redemption, amount, *, apply=True):
    user = USERS.take()
    cert = certify(nodes, domain, make_order(user, recipient=redemption, amount=amount), user)
    if apply:
        confirm(nodes, cert)
    return user, cert


def test_it_signs_a_batch_of_applied_redemptions_once(nodes, domain, redemption):
    (u1, c1), (u2, c2) = (redeem(nodes, domain, redemption, a) for a in (1_000_000, 2_000_000))
    body = {"epoch": 1, "batch_id": 0, "certificates": [c1, c2]}
    status, answer = nodes[0].post("/authority/v1/batches", body)
    assert status == 200, answer
    items = [
        td.BatchItem(sender=u.address, sequence=0, token_id=TOKEN_ID, recipient=u.address, amount=a)
        for u, a in ((u1, 1_000_000), (u2, 2_000_000))
    ]
    words = td.pack_batch_items(items)
    assert answer["items_hash"] == "0x" + td.items_hash(words).hex()
    # the Batch names the processor (the redemption address) and the committee file's vault
    bound = {"processor": redemption, "vault": PLACEHOLDER_VAULT}
    digest_signer = td.recover(
        td.batch_message(domain, 1, 0, td.items_hash(words), **bound),
        bytes.fromhex(answer["signature"][2:]),
    )
    assert digest_signer == answer["authority"] == nodes[0].address
    other_vault = td.batch_message(
        domain, 1, 0, td.items_hash(words), processor=redemption, vault="0x" + "00" * 19 + "f4"
    )
    assert td.recover(other_vault, bytes.fromhex(answer["signature"][2:])) != nodes[0].address
    assert nodes[0].post("/authority/v1/batches", body) == (200, answer)
    # never in a second batch
    status, refused = nodes[0].post(
        "/authority/v1/batches", {"epoch": 1, "batch_id": 1, "certificates": [c2]}
    )
    assert (status, refused["error"]["code"]) == (409, "invalid_batch")


def test_it_refuses_a_batch_id_reused_with_other_items(nodes, domain, redemption):
    _, c1 = redeem(nodes, domain, redemption, 1_000_000)
    _, c2 = redeem(nodes, domain, redemption, 1_000_000)
    assert (
        nodes[1].post("/authority/v1/batches", {"epoch": 1, "batch_id": 7, "certificates": [c1]})[0]
        == 200
    )
    status, body = nodes[1].post(
        "/authority/v1/batches", {"epoch": 1, "batch_id": 7, "certificates": [c2]}
    )
    assert (status, body["error"]["param"]) == (409, "batch_id")


def test_it_refuses_unapplied_non_redemption_or_invalid_certificates(nodes, domain, redemption):
    _, unapplied = redeem(nodes, domain, redemption, 1_000_000, apply=False)
    user = USERS.take()
    transfer = certify(nodes, domain, make_order(user), user)
    confirm(nodes, transfer)
    _, short = redeem(nodes, domain, redemption, 1_000_000, apply=True)
    short = {**short, "votes": short["votes"][:2]}
    for cert, reason in (
        (unapplied, "not applied"),
        (transfer, "not a redemption"),
        (short, "2/3"),
    ):
        status, body = nodes[2].post(
            "/authority/v1/batches", {"epoch": 1, "batch_id": 20, "certificates": [cert]}
        )
        assert (status, body["error"]["code"]) == (409, "invalid_batch")
        assert reason in body["error"]["message"]


def test_it_refuses_another_epoch(nodes, domain, redemption):
    _, cert = redeem(nodes, domain, redemption, 1_000_000)
    status, body = nodes[2].post(
        "/authority/v1/batches", {"epoch": 2, "batch_id": 30, "certificates": [cert]}
    )
    assert (status, body["error"]["code"]) == (409, "wrong_epoch")
