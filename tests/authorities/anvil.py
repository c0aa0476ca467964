"""An own anvil for node tests, and the minimal deposit path deployed with web3 from the
compiled artifacts (build/contracts, from `make contracts`): TokenVault, FastPayRegistry and
a mock USDT (18 decimals). About a second, against ~15 s for scripts/deploy.py via Brownie;
the node only needs the registry's deposit events. Skips when anvil or the artifacts are
missing (run `make node_modules contracts`)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.authorities.nodes import ROOT, free_port

ANVIL = ROOT / "node_modules" / ".bin" / "anvil"
ARTIFACTS = ROOT / "build" / "contracts"
PLACEHOLDER = "0x" + "00" * 19 + "f1"


def require_chain_tools() -> None:
    missing = [p for p in (ANVIL, ARTIFACTS / "FastPayRegistry.json") if not p.exists()]
    if missing:
        pytest.skip(f"needs {', '.join(map(str, missing))}: run `make node_modules contracts`")


@contextlib.contextmanager
def running_anvil(timestamp: int | None = None):
    """``timestamp``: the genesis block's (e.g. in the past, so that a contract's minimum
    delay before an activation is already behind the wall clock)."""
    from web3 import Web3

    port = free_port()
    args = ["--host", "127.0.0.1", "--port", str(port), "--silent", "--hardfork", "cancun"]
    if timestamp is not None:
        args += ["--timestamp", str(timestamp)]
    proc = subprocess.Popen(
        [str(ANVIL), *args, "--gas-limit", "60000000", "--base-fee", "0"],
        start_new_session=True,
    )
    w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}", request_kwargs={"timeout": 10}))
    try:
        for _ in range(200):
            with contextlib.suppress(Exception):
                if w3.eth.chain_id:
                    break
            time.sleep(0.05)
        yield w3
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def _artifact(name: str) -> dict:
    return json.loads((ARTIFACTS / f"{name}.json").read_text())


def _deploy(w3, name: str, *args):
    art = _artifact(name)
    contract = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(
        contract.constructor(*args).transact({"from": w3.eth.accounts[0]})
    )
    return w3.eth.contract(address=receipt.contractAddress, abi=art["abi"])


def transact(w3, call, sender):
    receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": sender}))
    assert receipt.status == 1
    return receipt


def rlp_list(sender: bytes, nonce: int) -> bytes:
    """rlp([sender, nonce]) for a 20-byte sender: what a CREATE address hashes."""
    encoded_nonce = nonce.to_bytes((nonce.bit_length() + 7) // 8, "big") if nonce else b""
    if not (len(encoded_nonce) == 1 and encoded_nonce[0] < 0x80):
        encoded_nonce = bytes([0x80 + len(encoded_nonce)]) + encoded_nonce
    payload = bytes([0x94]) + sender + encoded_nonce
    return bytes([0xC0 + len(payload)]) + payload


def deploy_deposits(w3, out: Path, members: list[str]) -> dict:
    """Vault + registry + mock USDT; writes a deployment JSON the node and
    authority_local_committee read. Returns {"registry", "vault", "usdt", "path"}."""
    admin = w3.eth.accounts[0]
    # the vault's depositor is fixed in its constructor: the registry's address is the next
    # CREATE address (nonce + 1); no processor settles here (a placeholder address)
    nonce = w3.eth.get_transaction_count(admin)
    registry_at = w3.to_checksum_address(
        w3.keccak(rlp_list(bytes.fromhex(admin[2:]), nonce + 1))[12:]
    )
    zero = "0x" + "00" * 20
    processor = w3.to_checksum_address("0x" + "00" * 19 + "f2")
    vault = _deploy(w3, "TokenVault", 0, admin, admin, registry_at, processor, zero, 48 * 3600)
    registry = _deploy(w3, "FastPayRegistry", 0, admin, admin, vault.address)
    assert registry.address == registry_at
    usdt = _deploy(w3, "MockUSDT")
    transact(w3, vault.functions.addToken(usdt.address, 6), admin)
    deployment = {
        "network": "anvil-test",
        "chain_id": w3.eth.chain_id,
        "block_number": w3.eth.block_number,
        "contracts": {
            "TokenVault": {"address": vault.address, "abi": []},
            "FastPayRegistry": {"address": registry.address, "abi": []},
            "CertificateVerifier": {"address": PLACEHOLDER, "abi": []},
            "OfflinePaymentProcessor": {"address": "0x" + "00" * 19 + "f2", "abi": []},
        },
        "tokens": [{"symbol": "USDT", "address": usdt.address, "id": 0, "decimals": 18}],
        "committee": {
            "epoch": 1,
            "members": [{"address": a, "stake_wei": str(10**19), "name": ""} for a in members],
        },
    }
    path = out / "deployment.json"
    path.write_text(json.dumps(deployment))
    return {"registry": registry, "vault": vault, "usdt": usdt, "path": str(path)}


def deposit_prepare(w3, contracts: dict, user: str, whole_tokens: int) -> int:
    """Register ``user`` (an unlocked anvil account) if needed, mint and approve; returns
    the amount in base units for ``deposit_send``."""
    registry, vault, usdt = contracts["registry"], contracts["vault"], contracts["usdt"]
    amount = whole_tokens * 10**18
    if not registry.functions.isRegistered(user).call():
        transact(w3, registry.functions.registerUser(), user)
    transact(w3, usdt.functions.mint(user, amount), user)
    transact(w3, usdt.functions.approve(vault.address, amount), user)
    return amount


def deposit_send(w3, contracts: dict, user: str, amount: int) -> None:
    """The deposit itself: one transaction, one block on anvil."""
    registry, usdt = contracts["registry"], contracts["usdt"]
    transact(w3, registry.functions.depositTokens(usdt.address, amount), user)


def deposit(w3, contracts: dict, user: str, whole_tokens: int) -> None:
    deposit_send(w3, contracts, user, deposit_prepare(w3, contracts, user, whole_tokens))


class TcpProxy:
    """A TCP relay the test can cut and restore: the chain 'unreachable' for the node."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []

    def start(self) -> TcpProxy:
        self._server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._server,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept
            self._server.close()
            self._server = None
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.close()
        self._conns.clear()

    def _accept(self, server) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()
