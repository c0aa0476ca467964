"""Certificates against real node processes: applied once, repeats are no-ops, forged or
short quorums refused, missing sequences answered, and the account moves exactly once."""

import pytest
from eth_account import Account

from fastpay_protocol import typed_data as td
from tests.authorities.node_fixtures import (
    FUNDED_UNITS,
    TOKEN,
    Users,
    certify,
    confirm,
    make_order,
    vote_on,
)
from tests.authorities.nodes import (
    certificate_json,
    committee_domain,
    local_committee,
    signed_order_json,
)

USERS = Users(30)


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    with local_committee(tmp_path_factory.mktemp("certs"), genesis=USERS.genesis()) as nodes:
        yield nodes


@pytest.fixture(scope="module")
def domain(nodes):
    return committee_domain(nodes[0])


@pytest.fixture
def user():
    return USERS.take()


def balance(node, address, token=TOKEN):
    _, info = node.get(f"/authority/v1/accounts/{address}")
    return info["balances"].get(td.TransferOrder(address, token, token, 0, 0, 0).token, 0)


def test_a_certificate_is_applied_once_on_every_node(nodes, domain, user):
    recipient = Account.create().address
    cert = certify(nodes, domain, make_order(user, recipient=recipient, amount=2_500_000), user)
    answers = confirm(nodes, cert)
    assert [status for status, _ in answers] == [200] * 4
    assert all(body["applied"] is True for _, body in answers)
    account = answers[3][1]["account"]
    assert account["next_sequence"] == 1
    assert account["pending"] is None
    assert account["balances"][td.TransferOrder(user.address, TOKEN, TOKEN, 0, 0, 0).token] == (
        FUNDED_UNITS - 2_500_000
    )
    again = confirm(nodes, cert)
    assert all(status == 200 and body["applied"] is False for status, body in again)
    for node in nodes:
        assert balance(node, recipient) == 2_500_000
        assert balance(node, user.address) == FUNDED_UNITS - 2_500_000


def test_after_the_certificate_the_order_replays_to_the_same_vote(nodes, domain, user):
    signed = signed_order_json(domain, make_order(user), user.key)
    votes = vote_on(nodes[:3], signed)
    confirm(nodes, certificate_json(signed, votes))
    assert nodes[0].post("/authority/v1/orders", signed) == (200, {"vote": votes[0]})


def test_a_certificate_below_quorum_is_refused(nodes, domain, user):
    cert = certify(nodes, domain, make_order(user), user, quorum=2)
    status, body = nodes[0].post("/authority/v1/certificates", cert)
    assert (status, body["error"]["code"]) == (400, "invalid_certificate")
    assert balance(nodes[0], user.address) == FUNDED_UNITS


def test_a_repeated_signer_does_not_count_twice(nodes, domain, user):
    short = certify(nodes, domain, make_order(user), user, quorum=2)
    short["votes"].append(short["votes"][0])  # 3 votes, 2 signers
    status, body = nodes[0].post("/authority/v1/certificates", short)
    assert (status, body["error"]["code"]) == (400, "invalid_certificate")
    full = certify(nodes, domain, make_order(user), user)
    full["votes"].append(full["votes"][1])  # a quorum plus a repeat: refused outright
    status, body = nodes[0].post("/authority/v1/certificates", full)
    assert (status, body["error"]["code"], body["error"]["param"]) == (
        400,
        "invalid_certificate",
        "votes[3]",
    )
    assert "duplicate" in body["error"]["message"]


def test_a_forged_vote_is_refused(nodes, domain, user):
    order = make_order(user)
    cert = certify(nodes, domain, order, user, quorum=2)
    outsider = Account.create()
    cert["votes"].append(
        {
            "authority": nodes[3].address,
            "signature": "0x" + td.sign_vote(domain, order, outsider.key).hex(),
        }
    )
    status, body = nodes[0].post("/authority/v1/certificates", cert)
    assert (status, body["error"]["code"], body["error"]["param"]) == (
        400,
        "invalid_certificate",
        "votes[2]",
    )


def test_a_vote_in_the_name_of_the_node_that_voted_is_still_checked(nodes, domain, user):
    # node 0 voted for the order (it knows its own vote without a recovery); a vote in its
    # name with other bytes, or the high-s twin of its real one, is recovered and refused
    order = make_order(user)
    cert = certify(nodes, domain, order, user)
    real = bytes.fromhex(cert["votes"][0]["signature"][2:])
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    twin = real[:32] + (n - int.from_bytes(real[32:64], "big")).to_bytes(32, "big")
    twin += bytes([55 - real[64]])
    forged = td.sign_vote(domain, order, Account.create().key)
    for signature in (forged, twin):
        votes = [{**cert["votes"][0], "signature": "0x" + signature.hex()}, *cert["votes"][1:]]
        status, body = nodes[0].post("/authority/v1/certificates", {**cert, "votes": votes})
        assert (status, body["error"]["code"], body["error"]["param"]) == (
            400,
            "invalid_certificate",
            "votes[0]",
        )
    assert nodes[0].post("/authority/v1/certificates", cert)[0] == 200


def test_a_certificate_without_the_senders_signature_is_refused(nodes, domain, user):
    order = make_order(user)
    cert = certify(nodes, domain, order, user)
    other = USERS.take()
    cert["signature"] = "0x" + td.sign_order(domain, order, other.key).hex()
    status, body = nodes[0].post("/authority/v1/certificates", cert)
    assert (status, body["error"]["code"], body["error"]["param"]) == (
        400,
        "invalid_certificate",
        "signature",
    )


def test_votes_from_non_members_are_refused(nodes, domain, user):
    order = make_order(user)
    cert = certify(nodes, domain, order, user)
    outsider = Account.create()
    cert["votes"].append(
        {
            "authority": outsider.address,
            "signature": "0x" + td.sign_vote(domain, order, outsider.key).hex(),
        }
    )
    status, body = nodes[0].post("/authority/v1/certificates", cert)
    assert (status, body["error"]["code"]) == (400, "invalid_certificate")


def test_votes_for_another_order_do_not_certify_this_one(nodes, domain, user):
    cert = certify(nodes, domain, make_order(user, amount=1_000_000), user)
    cheaper = signed_order_json(domain, make_order(user, amount=1), user.key)
    forged = certificate_json(cheaper, cert["votes"])
    status, body = nodes[0].post("/authority/v1/certificates", forged)
    assert (status, body["error"]["code"]) == (400, "invalid_certificate")


def test_a_certificate_ahead_of_the_sequence_names_the_missing_one(nodes, domain, user):
    first = certify(nodes, domain, make_order(user, sequence=0), user)
    confirm(nodes[:3], first)  # node 4 misses sequence 0
    second = certify(nodes, domain, make_order(user, sequence=1), user)
    status, body = nodes[3].post("/authority/v1/certificates", second)
    assert (status, body["error"]["code"], body["next_sequence"]) == (409, "missing_sequence", 0)
    # catch up from a node that has it, in one batch, in any order
    _, listing = nodes[0].get(f"/authority/v1/accounts/{user.address}/certificates?from_sequence=0")
    assert [c["order"]["sequence"] for c in listing["certificates"]] == [0]
    status, body = nodes[3].post(
        "/authority/v1/certificates/batch", {"certificates": [second, listing["certificates"][0]]}
    )
    assert status == 200
    assert body["results"] == [
        {"applied": True, "next_sequence": 2},
        {"applied": True, "next_sequence": 1},
    ]
    assert balance(nodes[3], user.address) == FUNDED_UNITS - 2_000_000


def test_a_lagging_node_applies_a_certificate_it_never_voted_for(nodes, domain, user):
    cert = certify(nodes[1:], domain, make_order(user), user)  # nodes 2-4 vote
    status, body = nodes[0].post("/authority/v1/certificates", cert)
    assert status == 200 and body["applied"] is True


def test_a_redemption_credits_nobody(nodes, domain, user):
    _, committee = nodes[0].get("/authority/v1/committee")
    redemption = committee["redemption_address"]
    cert = certify(nodes, domain, make_order(user, recipient=redemption, amount=3_000_000), user)
    confirm(nodes, cert)
    _, info = nodes[0].get(f"/authority/v1/accounts/{redemption}")
    assert info["balances"] == {}
    assert balance(nodes[0], user.address) == FUNDED_UNITS - 3_000_000


def test_certificates_listing_is_paged_from_a_sequence(nodes, domain, user):
    for sequence in range(3):
        confirm(nodes, certify(nodes, domain, make_order(user, sequence=sequence), user))
    _, body = nodes[2].get(f"/authority/v1/accounts/{user.address}/certificates?from_sequence=1")
    assert [c["order"]["sequence"] for c in body["certificates"]] == [1, 2]
    cert = body["certificates"][0]
    order = td.TransferOrder(**cert["order"])
    packed = td.pack_signatures(
        {v["authority"]: bytes.fromhex(v["signature"][2:]) for v in cert["votes"]}
    )
    stakes = {n.address: 1 for n in nodes}
    assert td.verify_certificate(domain, order, packed, stakes)
    status, body = nodes[2].get(
        f"/authority/v1/accounts/{user.address}/certificates?from_sequence=x"
    )
    assert (status, body["error"]["param"]) == (400, "from_sequence")


def test_malformed_certificates_are_400(nodes):
    for body in ({}, {"order": {}, "votes": []}, {"votes": [1]}):
        status, answer = nodes[0].post("/authority/v1/certificates", body)
        assert status == 400, answer
