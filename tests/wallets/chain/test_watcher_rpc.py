"""ChainRpc on a real anvil: the calls the watcher, the sender and reconciliation use,
answers validated, rounds with backoff over the URLs, the error metric without API keys,
the beat task skipping a chain whose lease a running watcher holds."""

import pytest
from prometheus_client import REGISTRY

from tests.authorities.nodes import free_port
from tests.wallets.chain.watcher_fixtures import balance, ledger_clean
from wallets.chain.models import WatcherCursor
from wallets.chain.rpc import ChainRpc, RpcError, RpcRevert, SendRefused, url_label

pytestmark = pytest.mark.django_db


def test_reads_are_plain_values(anvil, chain, usdc):
    rpc = ChainRpc(chain)
    head = rpc.block("latest")
    assert head["number"] == anvil.w3.eth.block_number
    assert head["hash"] == anvil.head().hash.to_0x_hex()
    assert [h["number"] for h in rpc.blocks(range(head["number"] - 2, head["number"] + 1))] == [
        head["number"] - 2,
        head["number"] - 1,
        head["number"],
    ]
    assert rpc.block_or_none(head["number"] + 1000) is None
    assert rpc.decimals(usdc.contract_address) == 6
    someone = anvil.w3.eth.accounts[2]
    anvil.mint(usdc, someone, 42)
    assert rpc.balance_of(usdc.contract_address, someone) >= 42
    assert rpc.native_balance(someone) > 0
    assert rpc.nonce(someone, "latest") == anvil.w3.eth.get_transaction_count(someone)
    assert rpc.receipt("0x" + "ab" * 32) is None
    assert rpc.chain_id_check() == anvil.chain_id
    with pytest.raises(RpcRevert):
        rpc.call({"to": usdc.contract_address, "data": "0xdeadbeef"})
    with pytest.raises(SendRefused):
        rpc.send_raw("0x02")


def test_a_missing_block_is_an_error_after_rounds_with_backoff(chain):
    slept = []
    rpc = ChainRpc(chain, retries=3, backoff_base=0.1, sleep=slept.append)
    with pytest.raises(RpcError, match="4 rounds"):
        rpc.block(10**9)
    assert len(slept) == 3
    for n, delay in enumerate(slept):  # 0.1, 0.2, 0.4, each with +-50% jitter
        assert 0.05 * 2**n <= delay <= 0.15 * 2**n
    assert rpc.error_count == 4


def test_errors_are_counted_per_url_without_the_key(anvil, chain):
    port = free_port()
    chain.rpc_urls = [f"http://127.0.0.1:{port}/v3/SECRET-API-KEY?key=SECRET", anvil.url]
    rpc = ChainRpc(chain, timeout=0.5, retries=0)
    label = f"http://127.0.0.1:{port}"
    assert url_label(chain.rpc_urls[0]) == label
    before = REGISTRY.get_sample_value(
        "fastpay_chain_rpc_errors_total", {"chain": str(chain.chain_id), "url": label}
    )
    assert rpc.block("latest")["number"] >= 0
    after = REGISTRY.get_sample_value(
        "fastpay_chain_rpc_errors_total", {"chain": str(chain.chain_id), "url": label}
    )
    assert after == (before or 0) + 1
    assert all("SECRET" not in url for _, url, _ in rpc.errors)
    rpc.block("latest")  # the working URL is asked first now
    assert rpc.error_count == 1


def test_the_beat_task_watches_and_skips_a_chain_a_watcher_holds(
    anvil, chain, usdc, mint, mine, deposit_address
):
    from datetime import timedelta

    from django.utils import timezone

    from wallets.tasks import chain_watch_task

    address, _ = deposit_address()
    mint(usdc, address.address, 10**6)
    mine(3)
    WatcherCursor.objects.filter(chain=chain).update(
        lease_owner="chain_watch elsewhere", lease_until=timezone.now() + timedelta(seconds=60)
    )
    assert chain_watch_task.apply().get() == {chain.chain_id: "leased"}
    assert balance(address.user, usdc) == 0
    WatcherCursor.objects.filter(chain=chain).update(lease_owner="", lease_until=None)
    state = chain_watch_task.apply().get()[chain.chain_id]
    assert state in ("idle", "advanced")
    assert balance(address.user, usdc) == 10**6
    assert WatcherCursor.objects.get(chain=chain).lease_owner == ""  # released after its run
    ledger_clean()
