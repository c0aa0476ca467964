"""Deposits followed by real node processes on their own anvil: credited once, only after
the confirmations, across node restarts, a reorg and the chain being unreachable."""

import time

import pytest

from tests.authorities.anvil import (
    TcpProxy,
    deploy_deposits,
    deposit,
    deposit_prepare,
    deposit_send,
    require_chain_tools,
    running_anvil,
)
from tests.authorities.nodes import local_committee, start_all, stop_all

CONFIRMATIONS = 3
UNITS = 10**6  # ledger units per whole token


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    require_chain_tools()
    from eth_account import Account

    from authorities.node.local import LOCAL_ACCOUNTS, anvil_key

    members = [Account.from_key(anvil_key(i)).address for i in LOCAL_ACCOUNTS]
    with running_anvil() as w3:
        contracts = deploy_deposits(w3, tmp_path_factory.mktemp("chain"), members)
        yield w3, contracts


def two_nodes(tmp_path, rpc_url, contracts):
    """Two nodes following the chain: enough to show each follows on its own, and quick."""
    from authorities.node.local import LOCAL_ACCOUNTS, anvil_key

    return local_committee(
        tmp_path,
        keys=[anvil_key(i) for i in LOCAL_ACCOUNTS[:2]],
        rpc_url=rpc_url,
        deployment_path=contracts["path"],
        confirmations=CONFIRMATIONS,
    )


def mine(w3, blocks: int) -> None:
    w3.provider.make_request("anvil_mine", [hex(blocks)])


def balance(node, account, token) -> int:
    _, info = node.get(f"/authority/v1/accounts/{account}")
    return sum(units for t, units in info["balances"].items() if t.lower() == token.lower())


# a restarted follower imports web3 first: well over 15 s when the machine is loaded
def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def settle(w3, nodes, *, blocks=CONFIRMATIONS):
    """Mine past the confirmation depth and wait until every follower has seen the head."""
    mine(w3, blocks)
    head = w3.eth.block_number - CONFIRMATIONS + 1
    assert wait_for(
        lambda: all(n.get("/authority/v1/health")[1]["deposits_block"] == head for n in nodes)
    )


def test_deposits_are_credited_once_after_confirmations_and_across_restarts(chain, tmp_path):
    w3, contracts = chain
    user, usdt = w3.eth.accounts[1], contracts["usdt"].address
    with two_nodes(tmp_path, w3.provider.endpoint_uri, contracts) as nodes:
        deposit(w3, contracts, user, 5)
        time.sleep(0.5)
        assert all(balance(n, user, usdt) == 0 for n in nodes)  # 1 confirmation of 3
        settle(w3, nodes)
        assert [balance(n, user, usdt) for n in nodes] == [5 * UNITS] * 2
        stop_all(nodes)
        deposit(w3, contracts, user, 2)  # made while the nodes are down
        start_all(nodes)
        settle(w3, nodes)
        assert [balance(n, user, usdt) for n in nodes] == [7 * UNITS] * 2


def test_an_orphaned_deposit_is_never_credited_after_a_shallow_reorg(chain, tmp_path):
    w3, contracts = chain
    orphan, kept, usdt = w3.eth.accounts[2], w3.eth.accounts[3], contracts["usdt"].address
    orphan_amount = deposit_prepare(w3, contracts, orphan, 9)
    kept_amount = deposit_prepare(w3, contracts, kept, 4)
    with two_nodes(tmp_path, w3.provider.endpoint_uri, contracts) as nodes:
        settle(w3, nodes, blocks=1)
        snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
        deposit_send(w3, contracts, orphan, orphan_amount)
        mine(w3, CONFIRMATIONS - 2)  # the deposit's block: one confirmation short
        time.sleep(0.5)
        assert w3.provider.make_request("evm_revert", [snapshot])["result"] is True
        deposit_send(w3, contracts, kept, kept_amount)  # takes the orphan's depositId
        settle(w3, nodes)
        assert [balance(n, kept, usdt) for n in nodes] == [4 * UNITS] * 2
        assert [balance(n, orphan, usdt) for n in nodes] == [0] * 2
        assert all("reorganised" not in n.log_path.read_text() for n in nodes)


def test_a_reorg_deeper_than_the_confirmations_is_reported_and_never_credits_twice(chain, tmp_path):
    w3, contracts = chain
    first, second, usdt = w3.eth.accounts[5], w3.eth.accounts[6], contracts["usdt"].address
    first_amount = deposit_prepare(w3, contracts, first, 6)
    second_amount = deposit_prepare(w3, contracts, second, 1)
    with two_nodes(tmp_path, w3.provider.endpoint_uri, contracts) as nodes:
        settle(w3, nodes, blocks=1)
        snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
        deposit_send(w3, contracts, first, first_amount)
        settle(w3, nodes)  # credited: confirmed at the configured depth
        assert [balance(n, first, usdt) for n in nodes] == [6 * UNITS] * 2
        assert w3.provider.make_request("evm_revert", [snapshot])["result"] is True
        deposit_send(w3, contracts, second, second_amount)  # the same depositId, elsewhere
        settle(w3, nodes, blocks=CONFIRMATIONS + 2)
        assert all(wait_for(lambda n=n: "reorganised" in n.log_path.read_text()) for n in nodes)
        # the follower rewound and rescanned, and no deposit id was credited twice; the
        # orphaned credit stays: an operator's call (docs/authorities.md)
        assert [balance(n, first, usdt) for n in nodes] == [6 * UNITS] * 2
        assert [balance(n, second, usdt) for n in nodes] == [0] * 2


def test_the_follower_survives_the_chain_being_unreachable(chain, tmp_path):
    w3, contracts = chain
    user, usdt = w3.eth.accounts[4], contracts["usdt"].address
    port = int(w3.provider.endpoint_uri.rsplit(":", 1)[1])
    proxy = TcpProxy(port).start()
    with two_nodes(tmp_path, f"http://127.0.0.1:{proxy.port}", contracts) as nodes:
        node = nodes[0]
        settle(w3, nodes, blocks=1)  # every follower is up and has a cursor
        proxy.stop()
        deposit(w3, contracts, user, 3)
        mine(w3, CONFIRMATIONS)
        assert wait_for(lambda: "retrying" in node.log_path.read_text())
        assert balance(node, user, usdt) == 0
        proxy.start()
        assert wait_for(lambda: balance(node, user, usdt) == 3 * UNITS)
