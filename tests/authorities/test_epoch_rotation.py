"""A committee rotated member by member over four epochs, on seven real nodes, without a
restart: epoch 1 = n1..n4, epoch 2 = n2..n5, epoch 3 = n3..n6, epoch 4 = n4..n7, all
announced while the nodes run. Every epoch carries payments between three accounts,
confirmed only at that epoch's members: a member that joins learns the history through
the handover alone, and every member of every epoch shows every balance right."""

import time

from eth_account import Account

from tests.authorities.node_fixtures import (
    EPOCH_ENV,
    FUNDED_UNITS,
    LATER,
    TOKEN,
    Users,
    balance_of,
    make_order,
    node_keys,
    schedule_known,
    sleep_until,
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

COMMITTEES = [[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5], [3, 4, 5, 6]]
FIRST_S = 4  # from the announcement to epoch 2
EPOCH_S = 10  # each later epoch's length: the handover (~2.5 s) and the payments fit


def test_a_committee_replaced_member_by_member_keeps_every_balance(tmp_path):
    users = Users(3)
    accounts = [users.take() for _ in range(3)]
    with local_committee(
        tmp_path, keys=node_keys(7), genesis=users.genesis(), extra_env=EPOCH_ENV, start=False
    ) as nodes:
        write_schedule(
            tmp_path,
            nodes,
            [(COMMITTEES[0], 0)] + [(c, LATER + i) for i, c in enumerate(COMMITTEES[1:])],
        )
        start_all(nodes)
        domain = committee_domain(nodes[0])
        start = int(time.time()) + FIRST_S
        times = [0] + [start + i * EPOCH_S for i in range(3)]
        write_schedule(tmp_path, nodes, list(zip(COMMITTEES, times, strict=True)))
        assert schedule_known(nodes, 1, times[1])

        expected = {a.address: FUNDED_UNITS for a in accounts}
        for epoch, members in enumerate(COMMITTEES, start=1):
            sleep_until(times[epoch - 1] + 0.3)
            committee = [nodes[i] for i in members]
            for payer, payee, amount in (
                (accounts[0], accounts[1], epoch * 1_000_000),
                (accounts[1], accounts[2], epoch * 700_000),
                (accounts[2], accounts[0], 300_000),
            ):
                order = make_order(
                    payer,
                    recipient=payee.address,
                    amount=amount,
                    sequence=epoch - 1,
                    epoch=epoch,
                )
                signed = signed_order_json(domain, order, payer.key)
                # every member, the new one too once it has the handover, votes
                answers = [vote_when_handed_over(node, signed) for node in committee]
                assert [status for status, _ in answers] == [200] * 4, (epoch, answers)
                cert = certificate_json(signed, [body["vote"] for _, body in answers[:3]])
                for node in committee:
                    status, body = node.post("/authority/v1/certificates", cert)
                    assert (status, body["applied"]) == (200, True), (epoch, node.name, body)
                expected[payer.address] -= amount
                expected[payee.address] += amount
            if epoch < len(COMMITTEES):
                assert time.time() < times[epoch] - 0.5, "the payments overran the epoch"
            for node in committee:
                assert {a: balance_of(node, a, TOKEN) for a in expected} == expected, node.name
        assert sum(expected.values()) == 3 * FUNDED_UNITS
        # the last committee's newest member holds four epochs of history it never took
        # part in, and votes on it
        newest = nodes[COMMITTEES[-1][-1]]
        stranger = Account.create().address
        final = signed_order_json(
            domain,
            make_order(
                accounts[0],
                recipient=stranger,
                amount=expected[accounts[0].address],
                sequence=4,
                epoch=4,
            ),
            accounts[0].key,
        )
        assert newest.post("/authority/v1/orders", final)[0] == 200
