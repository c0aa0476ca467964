"""The committee change of issue 11 against real node processes: epoch 1 = n1..n4, epoch
2 = n1, n2, n5, n6, announced by rewriting the committee file while the nodes run.

The attack: order X for (sender, 0) certified by n2, n3, n4 in epoch 1 (the certificate
kept back), then order Y for the same (sender, 0) in epoch 2 by n1, n5, n6. With the
handoff rule (docs/protocol.md, "Epochs and the handover") epoch 1 stops at its close by
every node's clock, and the members of epoch 2 read the frozen state of epoch 1 first: X's
votes become carried locks, so Y gets no vote and only X re-signed for epoch 2 does."""

import time

import pytest
from eth_account import Account

from tests.authorities.node_fixtures import (
    EPOCH_ENV,
    FUNDED_UNITS,
    LATER,
    Users,
    balance_of,
    make_order,
    node_keys,
    schedule_known,
    sleep_until,
    vote_on,
    vote_when_handed_over,
)
from tests.authorities.nodes import (
    certificate_json,
    committee_domain,
    local_committee,
    signed_order_json,
    start_all,
    write_schedule,
)

EPOCH_1 = [0, 1, 2, 3]  # n1..n4
EPOCH_2 = [0, 1, 4, 5]  # n1, n2, n5, n6
#: seconds from the announcement to epoch 2: every node re-reads the file well before
DELAY_S = 4


@pytest.fixture
def six(tmp_path):
    users = Users(4)
    with local_committee(
        tmp_path,
        keys=node_keys(6),
        genesis=users.genesis(),
        extra_env=EPOCH_ENV,
        start=False,
    ) as nodes:
        write_schedule(tmp_path, nodes, [(EPOCH_1, 0), (EPOCH_2, LATER)])
        start_all(nodes)
        yield tmp_path, nodes, users


def announce(tmp_path, nodes) -> int:
    """Epoch 2 activates DELAY_S from now; returns when (every node knows it)."""
    at = int(time.time()) + DELAY_S
    write_schedule(tmp_path, nodes, [(EPOCH_1, 0), (EPOCH_2, at)])
    assert schedule_known(nodes, 1, at)
    return at


def test_an_order_certified_in_the_old_epoch_blocks_another_payment_in_the_new_one(six):
    tmp_path, nodes, users = six
    domain = committee_domain(nodes[0])
    payer, bystander = users.take(), users.take()
    alice, bob = Account.create().address, Account.create().address
    old_only = nodes[3]
    pid = old_only.proc.pid
    at = announce(tmp_path, nodes)

    # given X certified by n2, n3, n4 in epoch 1 and kept back (applied nowhere)
    x = make_order(payer, recipient=alice, amount=5_000_000, epoch=1)
    signed_x = signed_order_json(domain, x, payer.key)
    cert_x = certificate_json(signed_x, vote_on(nodes[1:4], signed_x))
    early = signed_order_json(domain, make_order(bystander, epoch=1), bystander.key)
    assert old_only.post("/authority/v1/orders", early)[0] == 200

    # (before the close n2's feed is not frozen and shows no pending order)
    status, feed = nodes[1].get("/authority/v1/handover?epoch=1")
    assert (status, feed["frozen"], feed["pending"]) == (200, False, [])
    sleep_until(at + 0.5)

    # then epoch 1 is closed by every node's own clock, without a restart
    late = signed_order_json(
        domain, make_order(bystander, sequence=0, amount=7, epoch=1), bystander.key
    )
    for node in nodes:
        status, body = node.post("/authority/v1/orders", late)
        assert (status, body["error"]["code"], body["epoch"]) == (409, "wrong_epoch", 2)
    assert old_only.proc.pid == pid and old_only.proc.poll() is None
    y_old = signed_order_json(
        domain, make_order(payer, recipient=bob, amount=5_000_000, epoch=1), payer.key
    )
    assert nodes[0].post("/authority/v1/orders", y_old)[1]["error"]["code"] == "wrong_epoch"

    # when Y, another payment for the same (sender, sequence), is sent to n1, n5, n6
    y = signed_order_json(
        domain, make_order(payer, recipient=bob, amount=5_000_000, epoch=2), payer.key
    )
    for index in (0, 4, 5):
        status, body = vote_when_handed_over(nodes[index], y)
        # then each refuses it: X, read from epoch 1's frozen state, holds the sequence
        assert (status, body["error"]["code"]) == (409, "sequence_locked"), body
        assert body["order"] == signed_x["order"]
        assert body["carried"] is True

    # n2's frozen feed, paged, carries X with its vote, then every certificate to the end
    status, feed = nodes[1].get("/authority/v1/handover?epoch=1&limit=1")
    assert (status, feed["frozen"]) == (200, True)
    assert [(p["order"], p["vote"]["authority"]) for p in feed["pending"]] == [
        (signed_x["order"], nodes[1].address)
    ]
    pages = 1
    while feed["next"] is not None:
        status, feed = nodes[1].get(f"/authority/v1/handover?epoch=1&limit=1&after={feed['next']}")
        assert status == 200 and feed["frozen"] and pages < 10
        pages += 1
    for bad in ("epoch=9", "epoch=1&limit=501", "epoch=1&after=x.1", "epoch=-1"):
        status, body = nodes[1].get(f"/authority/v1/handover?{bad}")
        assert (status, body["error"]["code"]) == (400, "invalid_request"), bad

    # and X re-signed for epoch 2 (the same payment) is certified by the new committee
    x2 = make_order(payer, recipient=alice, amount=5_000_000, epoch=2)
    signed_x2 = signed_order_json(domain, x2, payer.key)
    votes = [vote_when_handed_over(nodes[i], signed_x2) for i in (0, 4, 5)]
    assert [status for status, _ in votes] == [200] * 3, votes
    cert_x2 = certificate_json(signed_x2, [body["vote"] for _, body in votes])
    for node in nodes:
        status, body = node.post("/authority/v1/certificates", cert_x2)
        assert (status, body["applied"]) == (200, True), body
        # the epoch-1 certificate of the same payment is a no-op everywhere
        status, body = node.post("/authority/v1/certificates", cert_x)
        assert (status, body["applied"]) == (200, False), body
        assert balance_of(node, alice) == 5_000_000
        assert balance_of(node, payer.address) == FUNDED_UNITS - 5_000_000
        assert balance_of(node, bob) == 0


def test_a_new_member_waits_for_the_handover_then_votes_with_the_right_balances(six):
    tmp_path, nodes, users = six
    domain = committee_domain(nodes[0])
    payer = users.take()
    recipient = Account.create()
    at = announce(tmp_path, nodes)

    # given a payment of epoch 1 applied only by epoch 1's members
    spend = signed_order_json(
        domain, make_order(payer, recipient=recipient.address, amount=90_000_000), payer.key
    )
    cert = certificate_json(spend, vote_on(nodes[:3], spend))
    for node in nodes[:4]:
        assert node.post("/authority/v1/certificates", cert)[1]["applied"] is True
    # and two of epoch 1's four members down at the change (n1 + n2: half the stake)
    for node in nodes[2:4]:
        node.stop()
    sleep_until(at + 0.5)

    # when the new member n5 is asked to vote in epoch 2
    too_much = signed_order_json(
        domain, make_order(payer, amount=20_000_000, sequence=1, epoch=2), payer.key
    )
    status, body = nodes[4].post("/authority/v1/orders", too_much)
    time.sleep(3)  # well past the close: the sources it can reach are frozen
    status, body = nodes[4].post("/authority/v1/orders", too_much)
    # then it answers handover_pending: the sources it reached hold only half the stake
    assert (status, body["error"]["code"], body["epoch"]) == (503, "handover_pending", 2)
    assert nodes[4].get("/authority/v1/health")[1]["handover_pending"] == 1

    # when a third member of epoch 1 is back
    nodes[2].start()
    # then the handover completes and n5 votes with epoch 1's payment applied
    status, body = vote_when_handed_over(nodes[4], too_much)
    assert (status, body["error"]["code"], body["balance"]) == (
        402,
        "insufficient_balance",
        FUNDED_UNITS - 90_000_000,
    )
    fits = signed_order_json(
        domain, make_order(payer, amount=10_000_000, sequence=1, epoch=2), payer.key
    )
    assert vote_when_handed_over(nodes[4], fits)[0] == 200
    assert nodes[4].get("/authority/v1/health")[1]["handover_pending"] is None
    assert balance_of(nodes[4], recipient.address) == 90_000_000
    # the recipient of epoch 1's payment spends it in epoch 2 through the new members
    onward = signed_order_json(
        domain,
        make_order(recipient, amount=90_000_000, epoch=2),
        recipient.key,
    )
    for index in (0, 1, 4, 5):
        assert vote_when_handed_over(nodes[index], onward)[0] == 200

    # the handover is recorded: restarted while too few old members are up to read it
    # again, n5 votes at once
    nodes[2].stop()
    nodes[4].stop()
    nodes[4].start()
    other = users.take()
    fresh = signed_order_json(domain, make_order(other, epoch=2), other.key)
    status, body = nodes[4].post("/authority/v1/orders", fresh)
    assert status == 200, body
