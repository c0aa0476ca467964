"""Faults: anvil stopped and restarted (its state kept: the same chain comes back), anvil
frozen (timeouts), a first RPC URL that is down, an RPC answering garbage, a malformed
Transfer log, a token contract that reverts or answers odd decimals. Each a recorded
outcome on the cursor, the watcher keeps running, nothing skipped, nothing wrongly
credited; the ledger checks clean."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.authorities.anvil import ANVIL, _deploy, require_chain_tools
from tests.authorities.nodes import free_port
from tests.wallets.chain.conftest import Anvil
from tests.wallets.chain.watcher_fixtures import (
    CONFIRMED,
    balance,
    credited_entries,
    ledger_clean,
    states,
    watch,
)
from wallets.chain.models import ChainBlock, Deposit, WatcherCursor
from wallets.chain.rpc import ChainRpc
from wallets.chain.watcher import TRANSFER_TOPIC, Watcher

pytestmark = pytest.mark.django_db


class RestartableAnvil:
    """An anvil on a fixed port whose state (blocks included) survives a stop/start."""

    def __init__(self, state_file):
        self.state_file = str(state_file)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        from web3 import Web3

        args = ["--host", "127.0.0.1", "--port", str(self.port), "--silent"]
        args += ["--hardfork", "cancun", "--gas-limit", "60000000", "--base-fee", "0"]
        args += ["--state", self.state_file]
        self.proc = subprocess.Popen([str(ANVIL), *args], start_new_session=True)
        w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 2}))
        for _ in range(200):
            with contextlib.suppress(Exception):
                if w3.eth.chain_id:
                    return
            time.sleep(0.05)
        raise RuntimeError("anvil did not start")

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)  # anvil writes its state on exit
            self.proc.wait(timeout=20)
            self.proc = None

    def pause(self) -> None:
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.proc.pid, signal.SIGCONT)


@pytest.fixture(scope="module")
def anvil(tmp_path_factory):
    """This module's own anvil (the conftest's ``chain``, ``mint``... use it): one that can
    be stopped and started again."""
    from web3 import Web3

    require_chain_tools()
    node = RestartableAnvil(tmp_path_factory.mktemp("anvil") / "state.json")
    node.start()
    try:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 10}))
        found = Anvil(
            w3=w3,
            usdt=_deploy(w3, "MockUSDT"),
            usdc=_deploy(w3, "MockUSDC"),
            url=node.url,
            chain_id=w3.eth.chain_id,
        )
        found.node = node
        yield found
    finally:
        node.resume() if node.proc else None
        node.stop()


def fast_rpc(chain):
    return ChainRpc(chain, timeout=0.5, retries=1, backoff_base=0.05)


def _no_gap(chain) -> None:
    numbers = sorted(ChainBlock.objects.filter(chain=chain).values_list("number", flat=True))
    assert numbers == list(range(numbers[0], numbers[-1] + 1))


# ------------------------------------------------------------------ outages


def test_anvil_stopped_and_restarted_resumes_with_no_skipped_block(
    anvil, chain, usdc, mint, mine, deposit_address
):
    address, _ = deposit_address()
    chain.refresh_from_db()
    watcher = Watcher(chain, rpc=fast_rpc(chain))
    mint(usdc, address.address, 1 * 10**6)
    watch(watcher)

    anvil.node.stop()
    results = watcher.run(max_ticks=3)  # never raises
    assert {r.state for r in results} == {"rpc_error"}
    cursor = WatcherCursor.objects.get(chain=chain)
    assert cursor.rpc_errors >= 3
    assert "failed on every RPC URL" in cursor.last_error

    anvil.node.start()
    for amount in (2, 3, 4):
        mint(usdc, address.address, amount * 10**6)
    mine(3)
    watch(watcher)
    assert states(address=address) == [CONFIRMED] * 4
    assert balance(address.user, usdc) == 10 * 10**6
    _no_gap(chain)
    ledger_clean()


def test_anvil_frozen_times_out_then_resumes(anvil, chain, usdc, mint, mine, deposit_address):
    address, _ = deposit_address()
    chain.refresh_from_db()
    watcher = Watcher(chain, rpc=fast_rpc(chain))
    watch(watcher)
    anvil.node.pause()
    try:
        started = time.monotonic()
        result = watcher.tick()
        assert result.state == "rpc_error"
        assert time.monotonic() - started < 10  # timeouts, not a hang
        assert "Timeout" in WatcherCursor.objects.get(chain=chain).last_error
    finally:
        anvil.node.resume()
    mint(usdc, address.address, 5 * 10**6)
    mine(3)
    watch(watcher)
    assert balance(address.user, usdc) == 5 * 10**6
    _no_gap(chain)
    ledger_clean()


def test_a_first_rpc_url_that_is_down_falls_back_to_the_next(
    anvil, chain, usdc, mint, mine, deposit_address
):
    dead = f"http://127.0.0.1:{free_port()}"
    chain.rpc_urls = [dead, anvil.url]
    chain.save()
    address, _ = deposit_address()
    rpc = fast_rpc(chain)
    watcher = Watcher(chain, rpc=rpc)
    mint(usdc, address.address, 3 * 10**6)
    mine(3)
    watch(watcher)
    assert balance(address.user, usdc) == 3 * 10**6
    assert rpc.error_count >= 1
    assert {url for _, url, _ in rpc.errors} == {dead}
    cursor = WatcherCursor.objects.get(chain=chain)
    assert cursor.rpc_errors >= 1
    assert dead in cursor.last_error
    ledger_clean()


# ------------------------------------------------------------------ garbage


class GarbageRpc:
    """An HTTP JSON-RPC endpoint answering garbage of the chosen ``mode``."""

    MODES = {
        "not_json": lambda body: b"<html>502 bad gateway</html>",
        "no_result": lambda body: json.dumps({"jsonrpc": "2.0", "id": 1}).encode(),
        "bad_block": lambda body: json.dumps(
            _answer(body, {"number": "0xzz", "hash": "0x12", "parentHash": None})
        ).encode(),
        "wrong_types": lambda body: json.dumps(_answer(body, ["a", 1, None])).encode(),
    }

    def __init__(self, mode: str):
        self.mode = mode
        garbage = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                data = GarbageRpc.MODES[garbage.mode](body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _answer(body, result):
    if isinstance(body, list):
        return [{"jsonrpc": "2.0", "id": item["id"], "result": result} for item in body]
    return {"jsonrpc": "2.0", "id": body["id"], "result": result}


@pytest.mark.parametrize("mode", sorted(GarbageRpc.MODES))
def test_garbage_rpc_answers_are_errors_and_the_next_url_is_used(
    mode, anvil, chain, usdc, mint, mine, deposit_address
):
    garbage = GarbageRpc(mode)
    try:
        chain.rpc_urls = [garbage.url]
        chain.save()
        address, _ = deposit_address()
        mint(usdc, address.address, 2 * 10**6)
        watcher = Watcher(chain, rpc=fast_rpc(chain))
        results = watcher.run(max_ticks=2)
        assert {r.state for r in results} == {"rpc_error"}
        cursor = WatcherCursor.objects.get(chain=chain)
        assert "Garbage" in cursor.last_error or "Error" in cursor.last_error
        assert Deposit.objects.count() == 0

        chain.rpc_urls = [garbage.url, anvil.url]
        chain.save()
        watcher = Watcher(chain, rpc=fast_rpc(chain))
        mine(3)
        watch(watcher)
        assert balance(address.user, usdc) == 2 * 10**6
        assert credited_entries() == 1
        ledger_clean()
    finally:
        garbage.close()


# ------------------------------------------------------------------ odd contracts


def _emitter(topics: int) -> str:
    """Runtime code that logs the call data: LOG<topics> with topic0 = Transfer's, then
    32-byte words of the call data as the other topics, the rest of it as the data."""
    code = "366000600037"  # CALLDATACOPY(0, 0, CALLDATASIZE)
    for i in reversed(range(topics - 1)):
        code += f"60{i * 32:02x}35"  # CALLDATALOAD(32 * i)
    code += "7f" + TRANSFER_TOPIC[2:]
    skip = (topics - 1) * 32
    code += f"60{skip:02x}3603"  # size = CALLDATASIZE - skip
    code += f"60{skip:02x}"  # offset = skip
    code += f"{0xA0 + topics:02x}00"  # LOGn, STOP
    return "0x" + code


@contextlib.contextmanager
def code_at(anvil, address: str, code: str):
    original = anvil.w3.eth.get_code(address).to_0x_hex()
    anvil.w3.provider.make_request("anvil_setCode", [address, code])
    try:
        yield
    finally:
        anvil.w3.provider.make_request("anvil_setCode", [address, original])


def _word(address: str) -> str:
    return "00" * 12 + address[2:].lower()


def test_malformed_transfer_logs_are_skipped_counted_and_logged(
    anvil, chain, usdc, mint, mine, deposit_address, caplog
):
    address, _ = deposit_address()
    watcher = Watcher(chain)
    watch(watcher)  # the token's decimals() checked with its real code
    sender = anvil.w3.eth.accounts[0]
    to = _word(address.address)
    calls = [
        (_emitter(2), to + "00" * 31 + "05"),  # 2 topics: `to` not indexed
        (_emitter(3), "00" * 32 + to + "00" * 31),  # data of 31 bytes
        (_emitter(3), "00" * 32 + to + "00" * 64),  # data of 64 bytes
        (_emitter(3), "00" * 32 + "ff" * 12 + address.address[2:] + "00" * 31 + "07"),  # dirty
        (_emitter(4), "00" * 32 + to + "00" * 32),  # ERC-721 style: 4 topics
    ]
    for code, data in calls:
        with code_at(anvil, usdc.contract_address, code):
            receipt = anvil.w3.eth.wait_for_transaction_receipt(
                anvil.w3.eth.send_transaction(
                    {"from": sender, "to": usdc.contract_address, "data": "0x" + data}
                )
            )
            assert len(receipt.logs) == 1
    mint(usdc, address.address, 6 * 10**6)  # a good one after the bad ones
    mine(3)
    results = watch(watcher)
    assert sum(r.skipped_logs for r in results) == len(calls)
    assert "malformed" in WatcherCursor.objects.get(chain=chain).last_error
    assert any("skipped a malformed Transfer log" in r.getMessage() for r in caplog.records)
    assert states(address=address) == [CONFIRMED]
    assert balance(address.user, usdc) == 6 * 10**6
    ledger_clean()


@pytest.mark.parametrize(
    "code, expected",
    [
        ("0x60006000fd", "decimals() failed"),  # REVERT(0, 0)
        ("0x604d60005260206000f3", "answers decimals() = 77"),  # returns 77
        ("0x00", "decimals() failed"),  # STOP: an empty answer
    ],
)
def test_a_token_that_reverts_or_answers_odd_decimals_stops_the_watcher_until_fixed(
    code, expected, anvil, chain, usdt, mint, mine, deposit_address
):
    address, _ = deposit_address()
    mint(usdt, address.address, 9 * 10**18)
    with code_at(anvil, usdt.contract_address, code):
        watcher = Watcher(chain)
        results = watcher.run(max_ticks=2)
        assert {r.state for r in results} == {"stalled"}
        cursor = WatcherCursor.objects.get(chain=chain)
        assert expected in cursor.last_error
        assert Deposit.objects.count() == 0
    mine(3)
    watch(Watcher(chain))  # the token answers again: nothing was skipped
    assert balance(address.user, usdt) == 9 * 10**6
    ledger_clean()
