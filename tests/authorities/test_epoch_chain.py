"""The schedule read from the chain (AUTHORITY_CHAIN_SCHEDULE=1): CommitteeConsensus and
AuthorityManager on anvil, deployed from the compiled artifacts, four nodes following it.
An epoch registered with ``AuthorityManager.advanceEpoch(activatesAt)`` (n4 removed, n5
registered with its endpoint) is picked up by the running nodes without a restart; n4
stops voting at the activation by its own clock, and n5, started with no committee file
at all, completes the handover and votes with the right balances.

Anvil's clock starts two hours behind the wall clock, so the contract's one-hour minimum
activation delay is already behind us and the epoch activates a few seconds from now."""

import json
import time

import pytest
from eth_account import Account

from tests.authorities.anvil import ANVIL, ARTIFACTS, PLACEHOLDER, _deploy, running_anvil, transact
from tests.authorities.node_fixtures import (
    EPOCH_ENV,
    FUNDED_UNITS,
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
)

STAKE = 10 * 10**18
BEHIND_S = 2 * 3600


def _require():
    needed = [ANVIL, ARTIFACTS / "CommitteeConsensus.json", ARTIFACTS / "AuthorityManager.json"]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}: run `make node_modules contracts`")
    abi = json.loads((ARTIFACTS / "AuthorityManager.json").read_text())["abi"]
    if not any(f.get("name") == "endpointOf" for f in abi):
        pytest.skip("the compiled AuthorityManager predates endpointOf: run `make contracts`")


def _governance(w3, out):
    admin = w3.eth.accounts[0]
    consensus = _deploy(w3, "CommitteeConsensus", 0, admin, 7 * 86_400)  # the floor
    manager = _deploy(
        w3,
        "AuthorityManager",
        0,
        admin,
        consensus.address,
        PLACEHOLDER,
        10**18,
        1000,
        admin,
        3600,
        7 * 86_400,
    )
    role = consensus.functions.MANAGER_ROLE().call()
    transact(w3, consensus.functions.grantRole(role, manager.address), admin)
    path = out / "deployment.json"
    path.write_text(
        json.dumps(
            {
                "chain_id": w3.eth.chain_id,
                "block_number": w3.eth.block_number,
                "contracts": {
                    "CommitteeConsensus": {"address": consensus.address},
                    "AuthorityManager": {"address": manager.address},
                    "CertificateVerifier": {"address": PLACEHOLDER},
                    "OfflinePaymentProcessor": {"address": "0x" + "00" * 19 + "f2"},
                    "FastPayRegistry": {"address": "0x" + "00" * 19 + "f3"},
                },
                "tokens": [],
            }
        )
    )
    return manager, path


def _register(w3, manager, node):
    call = manager.functions.registerAuthority(node.address, node.url)
    receipt = w3.eth.wait_for_transaction_receipt(
        call.transact({"from": w3.eth.accounts[0], "value": STAKE})
    )
    assert receipt.status == 1


def test_nodes_follow_an_epoch_registered_on_chain_without_a_restart(tmp_path):
    _require()
    users = Users(2)
    payer = users.take()
    with (
        running_anvil(timestamp=int(time.time()) - BEHIND_S) as w3,
        local_committee(
            tmp_path, keys=node_keys(5), genesis=users.genesis(), extra_env=EPOCH_ENV, start=False
        ) as nodes,
    ):
        admin = w3.eth.accounts[0]
        manager, deployment = _governance(w3, tmp_path)
        for node in nodes[:4]:
            _register(w3, manager, node)
        transact(w3, manager.functions.advanceEpoch(0), admin)
        for node in nodes:
            node.env.update(
                AUTHORITY_CHAIN_SCHEDULE="1",
                AUTHORITY_COMMITTEE_FILE="",
                CHAIN_RPC_URL=w3.provider.endpoint_uri,
                DEPLOYMENT_JSON=str(deployment),
                AUTHORITY_CONFIRMATIONS="1",
            )
        start_all(nodes[:4])
        domain = committee_domain(nodes[0])
        recipient = Account.create().address
        spend = signed_order_json(
            domain, make_order(payer, recipient=recipient, amount=60_000_000), payer.key
        )
        cert = certificate_json(spend, vote_on(nodes[:3], spend))
        for node in nodes[:4]:
            assert node.post("/authority/v1/certificates", cert)[1]["applied"] is True

        # when epoch 2 is registered on-chain: n4 out, n5 in
        transact(w3, manager.functions.removeAuthority(nodes[3].address), admin)
        _register(w3, manager, nodes[4])
        at = int(time.time()) + 10  # n5 starts in between
        transact(w3, manager.functions.advanceEpoch(at), admin)

        # then every running node knows it, and n4 stops voting at the activation
        assert schedule_known(nodes[:4], 1, at)
        nodes[4].start()  # a member of a registered epoch now
        sleep_until(at + 0.5)
        late = signed_order_json(
            domain, make_order(payer, amount=1, sequence=1, epoch=1), payer.key
        )
        status, body = nodes[3].post("/authority/v1/orders", late)
        assert (status, body["error"]["code"], body["epoch"]) == (409, "wrong_epoch", 2)
        # and n5 votes in epoch 2 once it has the handover, with epoch 1's payment applied
        too_much = signed_order_json(
            domain, make_order(payer, amount=50_000_000, sequence=1, epoch=2), payer.key
        )
        status, body = vote_when_handed_over(nodes[4], too_much)
        assert (status, body["error"]["code"], body["balance"]) == (
            402,
            "insufficient_balance",
            FUNDED_UNITS - 60_000_000,
        )
        assert balance_of(nodes[4], recipient) == 60_000_000
        fits = signed_order_json(
            domain, make_order(payer, amount=40_000_000, sequence=1, epoch=2), payer.key
        )
        for node in (nodes[0], nodes[1], nodes[2], nodes[4]):
            assert vote_when_handed_over(node, fits)[0] == 200
        status, body = nodes[4].get("/authority/v1/committee")
        assert [m["url"] for m in body["members"]] == [n.url for n in nodes[:3]] + [nodes[4].url]
