"""Certificates are final (docs/protocol.md, "Certificate refusals"), on real nodes:

- a node that missed a credit applies a later certificate anyway and lets the balance go
  negative (it used to refuse ``balance_lagging`` and stay behind on that account for
  good); the missed credit brings it back; votes still need the balance;
- a second certificate for an applied (sender, sequence) is a no-op when it is the same
  payment, and 409 ``conflicting_certificate`` (logged at ERROR) when it is another one:
  possible only when more than f of the committee lied (here two byzantine nodes of 4).
"""

import pytest
from eth_account import Account

from tests.authorities.node_fixtures import (
    FUNDED_UNITS,
    Users,
    balance_of,
    certify,
    make_order,
    vote_on,
)
from tests.authorities.nodes import (
    certificate_json,
    committee_domain,
    local_committee,
    signed_order_json,
)

USERS = Users(10)


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    with local_committee(
        tmp_path_factory.mktemp("final"),
        genesis=USERS.genesis(),
        byzantine=("authority-2", "authority-3"),
    ) as nodes:
        yield nodes


@pytest.fixture(scope="module")
def domain(nodes):
    return committee_domain(nodes[0])


def test_a_node_that_missed_a_credit_applies_the_spend_and_goes_negative(nodes, domain):
    payer = USERS.take()
    middle = Account.create()
    final = Account.create().address
    lagging = nodes[3]
    # given a payment to `middle` that the lagging node never received
    credit = certify(nodes, domain, make_order(payer, recipient=middle.address, amount=30), payer)
    for node in nodes[:3]:
        assert node.post("/authority/v1/certificates", credit)[1]["applied"] is True
    # and middle's spend of it, certified by the three others
    spend = certify(nodes, domain, make_order(middle, recipient=final, amount=30), middle)

    # when the lagging node is asked to confirm the spend
    status, body = lagging.post("/authority/v1/certificates", spend)

    # then it applies it: middle is at -30 there, the recipient credited, the sequence moved
    assert (status, body["applied"]) == (200, True), body
    assert body["account"]["next_sequence"] == 1
    assert balance_of(lagging, middle.address) == -30
    assert balance_of(lagging, final) == 30
    # and it votes for nothing middle sends while it is negative
    again = signed_order_json(domain, make_order(middle, amount=1, sequence=1), middle.key)
    status, body = lagging.post("/authority/v1/orders", again)
    assert (status, body["error"]["code"], body["balance"]) == (402, "insufficient_balance", -30)
    # when the missed credit arrives, the account is right again
    assert lagging.post("/authority/v1/certificates", credit)[1]["applied"] is True
    assert balance_of(lagging, middle.address) == 0
    assert balance_of(lagging, payer.address) == FUNDED_UNITS - 30


def test_another_payment_certified_for_an_applied_sequence_is_a_conflicting_certificate(
    nodes, domain
):
    payer = USERS.take()
    alice, bob = Account.create().address, Account.create().address
    # given X voted by n1, n2, n3, and Y for the same (sender, sequence) voted by the two
    # liars (n2, n3 equivocate) and n4, which had not seen X: two valid certificates
    x = signed_order_json(domain, make_order(payer, recipient=alice, amount=10), payer.key)
    y = signed_order_json(domain, make_order(payer, recipient=bob, amount=10), payer.key)
    cert_x = certificate_json(x, vote_on(nodes[:3], x))
    cert_y = certificate_json(y, vote_on(nodes[1:4], y))
    # and X applied by n4
    status, body = nodes[3].post("/authority/v1/certificates", cert_x)
    assert (status, body["applied"]) == (200, True)

    # when n4 is asked to confirm Y
    status, body = nodes[3].post("/authority/v1/certificates", cert_y)

    # then it refuses with the applied order and its certificate, and logs it at ERROR
    assert (status, body["error"]["code"]) == (409, "conflicting_certificate"), body
    assert body["order"] == cert_x["order"]
    assert body["certificate"]["order"] == cert_x["order"]
    assert [v["authority"] for v in body["certificate"]["votes"]] == [
        v["authority"] for v in cert_x["votes"]
    ]
    assert "ERROR authorities.node.certificates conflicting certificate" in (
        nodes[3].log_path.read_text()
    )
    # and nothing moved twice: X again is a no-op, bob has nothing
    assert nodes[3].post("/authority/v1/certificates", cert_x)[1]["applied"] is False
    assert balance_of(nodes[3], bob) == 0
    assert balance_of(nodes[3], alice) == 10
