"""Knowledge passed along the chain of epochs, against real node processes
(docs/protocol.md, "Epochs and the handover"): a source's frozen state includes the locks
it carries, and a member serves an epoch frozen only after its own handover of the epoch
before it. Both gaps were found by the committee simulation
(tests/protocol/simulation/test_simulation.py), each a double spend with every node
honest."""

import time

from eth_account import Account

from authorities.node.local import PLACEHOLDER_VAULT
from fastpay_protocol.wire import checksum
from tests.authorities.node_fixtures import (
    EPOCH_ENV,
    LATER,
    Users,
    make_order,
    node_keys,
    schedule_known,
    sleep_until,
    vote_on,
    vote_when_handed_over,
    wait_for,
)
from tests.authorities.nodes import (
    certificate_json,
    committee_domain,
    local_committee,
    signed_order_json,
    start_all,
    stop_all,
    write_schedule,
)

EPOCH_1 = [0, 1, 2, 3]  # n1..n4


def frozen(node, epoch: int) -> bool | None:
    """Whether ``node`` serves ``epoch`` frozen now (None: it does not answer)."""
    try:
        status, body = node.get(f"/authority/v1/handover?epoch={epoch}&limit=1", timeout=3)
    except OSError:
        return None
    return body["frozen"] if status == 200 else None


def frozen_pending(node, epoch: int) -> list[tuple[dict, str]]:
    """(order, voter) of every pending entry of ``node``'s frozen feed of ``epoch``."""
    entries, after = [], ""
    for _ in range(20):
        status, page = node.get(f"/authority/v1/handover?epoch={epoch}{after}")
        assert (status, page["frozen"]) == (200, True), page
        entries += [(p["order"], p["vote"]["authority"]) for p in page["pending"]]
        if page["next"] is None:
            return entries
        after = f"&after={page['next']}"
    raise AssertionError("the feed does not end")


def test_a_lock_carried_by_a_new_member_reaches_the_next_committee_after_its_voters_left(
    tmp_path,
):
    # epoch 1 = n1..n4, epoch 2 = n5 (new), epoch 3 = n6 (new): n6 can learn of epoch 1
    # only through n5's feed
    users = Users(1)
    with local_committee(
        tmp_path, keys=node_keys(6), genesis=users.genesis(), extra_env=EPOCH_ENV, start=False
    ) as nodes:
        write_schedule(tmp_path, nodes, [(EPOCH_1, 0), ([4], LATER), ([5], LATER + 1)])
        start_all(nodes)
        domain = committee_domain(nodes[0])
        payer = users.take()
        alice, bob = Account.create().address, Account.create().address
        second = int(time.time()) + 4
        third = second + 8
        write_schedule(tmp_path, nodes, [(EPOCH_1, 0), ([4], second), ([5], third)])
        assert schedule_known(nodes, 1, second)

        # given X certified by n2, n3, n4 in epoch 1 and kept back by its client
        signed_x = signed_order_json(
            domain, make_order(payer, recipient=alice, amount=5_000_000), payer.key
        )
        cert_x = certificate_json(signed_x, vote_on(nodes[1:4], signed_x))
        sleep_until(second + 0.3)
        # n5 carries X from epoch 1's frozen state (a refusal shows it)
        y2 = signed_order_json(
            domain, make_order(payer, recipient=bob, amount=5_000_000, epoch=2), payer.key
        )
        status, body = vote_when_handed_over(nodes[4], y2)
        assert (status, body["error"]["code"], body["carried"]) == (409, "sequence_locked", True)
        # and epoch 1's members, X's voters among them, leave
        stop_all(nodes[:4])

        # when epoch 3 activates and its new member n6 reads epoch 2's frozen state
        sleep_until(third + 0.3)
        # then n6 refuses another payment at that sequence: X holds it
        y3 = signed_order_json(
            domain, make_order(payer, recipient=bob, amount=5_000_000, epoch=3), payer.key
        )
        status, body = vote_when_handed_over(nodes[5], y3)
        assert (status, body["error"]["code"], body["carried"]) == (409, "sequence_locked", True)
        assert body["order"] == signed_x["order"]
        # n5's frozen feed of epoch 2 carries X with its epoch-1 voter's vote
        carried = frozen_pending(nodes[4], 2)
        assert [order for order, _ in carried] == [signed_x["order"]]
        assert carried[0][1] in {n.address for n in nodes[1:4]}
        # and certifies X re-signed for epoch 3 (the same payment)
        x3 = signed_order_json(
            domain, make_order(payer, recipient=alice, amount=5_000_000, epoch=3), payer.key
        )
        status, body = nodes[5].post("/authority/v1/orders", x3)
        assert status == 200, body
        cert_x3 = certificate_json(x3, [body["vote"]])
        for node in nodes[4:]:
            status, body = node.post("/authority/v1/certificates", cert_x3)
            assert (status, body["applied"]) == (200, True), body
            status, body = node.post("/authority/v1/certificates", cert_x)
            assert (status, body["applied"]) == (200, False), body  # the same payment


def test_a_member_serves_an_epoch_frozen_only_after_its_own_handover_of_the_one_before(
    tmp_path,
):
    # epoch 1 = n1..n4, epoch 2 = n1, n2, n3, n5 (n5 new), epoch 3 = n1, n3, n4, n5; only
    # n1 and n5 run at first: nobody can read epoch 1 from more than 2/3 of its stake
    with local_committee(tmp_path, keys=node_keys(5), extra_env=EPOCH_ENV, start=False) as nodes:
        epochs = [(EPOCH_1, 0), ([0, 1, 2, 4], LATER), ([0, 2, 3, 4], LATER + 1)]
        write_schedule(tmp_path, nodes, epochs)
        running = [nodes[0], nodes[4]]
        start_all(running)
        second = int(time.time()) + 3
        third = second + 3
        write_schedule(
            tmp_path, nodes, [(EPOCH_1, 0), ([0, 1, 2, 4], second), ([0, 2, 3, 4], third)]
        )
        assert schedule_known(running, 1, second)
        # (the committee info names the vault settlement batches credit)
        committee = nodes[0].get("/authority/v1/committee")[1]
        assert committee["vault_address"] == checksum(PLACEHOLDER_VAULT)

        # when epoch 2 has closed by n5's clock, its handover of epoch 1 still not done
        sleep_until(third + 3)
        # then n5 does not serve epoch 2 frozen: it could miss what epoch 1 locked
        assert frozen(nodes[4], 2) is False
        assert nodes[4].get("/authority/v1/health")[1]["handover_pending"] == 2

        # when a third member of epoch 1 is back (n1, n3, n4: 3/4 of its stake)
        start_all(nodes[2:4])
        # then n5 completes the handover of epoch 1, though epoch 2 is over, and serves
        # epoch 2 frozen
        assert wait_for(lambda: frozen(nodes[4], 2), timeout=30)
        assert wait_for(lambda: frozen(nodes[0], 2), timeout=10)
