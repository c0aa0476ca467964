"""Start real authority node processes for tests and benchmarks: each on a free port with
its own SQLite database under a temporary folder, stopped (process group) on exit.

    with local_committee(tmp_path, genesis=[(address, token, units)]) as nodes:
        status, body = nodes[0].post("/authority/v1/orders", signed_order_json)

Django-free: the nodes are separate processes; this module only speaks HTTP to them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from authorities.node.local import write_local_committee
from fastpay_protocol import typed_data as td

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, entry: dict, key: bytes, log_dir: Path):
        self.name = entry["name"]
        self.address = entry["address"]
        self.port = entry["port"]
        self.url = entry["url"]
        self.env = dict(entry["env"])
        self.key = key
        self.log_path = log_dir / f"{self.name}.log"
        self.proc: subprocess.Popen | None = None

    # ------------------------------------------------------------------ process

    def start(self, *, wait: bool = True) -> Node:
        env = {**os.environ, **self.env, "DEBUG": "1", "PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    str(ROOT / "manage.py"),
                    "run_authority",
                    "--port",
                    str(self.port),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: workers and follower too
            )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_path.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                status, _ = self.get("/authority/v1/health", timeout=0.5)
                if status == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready:\n{self.log_path.read_text()[-3000:]}")

    def _signal_group(self, sig: int) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def stop(self) -> None:
        """Stop (SIGINT to the group: gunicorn's quick shutdown), SIGKILL if it lingers."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._signal_group(signal.SIGKILL)  # any straggler in the group
        self.proc = None

    def kill(self) -> None:
        """Crash: SIGKILL the whole process group."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    # ------------------------------------------------------------------ HTTP

    def request(self, method: str, path: str, body=None, timeout: float = 10):
        raw = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path, data=raw, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def get(self, path: str, timeout: float = 10):
        return self.request("GET", path, timeout=timeout)

    def post(self, path: str, body, timeout: float = 10):
        return self.request("POST", path, body, timeout=timeout)


@contextlib.contextmanager
def local_committee(
    tmp_path: Path,
    *,
    keys: list[bytes] | None = None,
    genesis: list[tuple[str, str, int]] = (),
    byzantine: tuple[str, ...] = (),
    rpc_url: str = "",
    deployment_path: str = "",
    confirmations: int = 1,
    tokens: list[dict] | None = None,
    extra_env: dict | None = None,
    start: bool = True,
) -> Iterator[list[Node]]:
    """Four (or len(keys)) nodes on free ports, started in parallel, stopped on exit."""
    from authorities.node.local import LOCAL_ACCOUNTS, anvil_key

    keys = keys or [anvil_key(i) for i in LOCAL_ACCOUNTS]
    entries = write_local_committee(
        tmp_path,
        keys=keys,
        deployment_path=deployment_path,
        rpc_url=rpc_url,
        ports=[free_port() for _ in keys],
        confirmations=confirmations,
        byzantine=byzantine,
        tokens=tokens,
    )
    genesis_file = tmp_path / "genesis.json"
    genesis_file.write_text(
        json.dumps([{"address": a, "token": t, "units": u} for a, t, u in genesis])
    )
    nodes = []
    for entry, key in zip(entries, keys, strict=True):
        entry["env"]["AUTHORITY_GENESIS_FILE"] = str(genesis_file)
        entry["env"]["AUTHORITY_POLL_MS"] = "100"
        entry["env"].update(extra_env or {})
        nodes.append(Node(entry, key, tmp_path))
    try:
        if start:
            start_all(nodes)
        yield nodes
    finally:
        stop_all(nodes)


def start_all(nodes: list[Node]) -> None:
    """Start in parallel, return when every node answers."""
    for node in nodes:
        node.start(wait=False)
    for node in nodes:
        node.wait_ready()


def stop_all(nodes: list[Node]) -> None:
    for node in nodes:
        node._signal_group(signal.SIGINT)
    for node in nodes:
        node.stop()


def write_schedule(
    tmp_path: Path, nodes: list[Node], epochs: list[tuple[list[int], int]], *, first_epoch=1
) -> dict:
    """Rewrite ``tmp_path/committee.json`` (atomically: running nodes re-read it) with one
    epoch per ``(member indices into nodes, activates_at)``, numbered from
    ``first_epoch``; chain, contracts and tokens stay as written. Returns the document."""
    path = Path(tmp_path) / "committee.json"
    base = json.loads(path.read_text())
    stake = {m["address"].lower(): m["stake"] for m in base["members"]}
    for old in base.get("previous_epochs", []):
        stake.update({m["address"].lower(): m["stake"] for m in old["members"]})

    def members(indices):
        return [
            {
                "name": nodes[i].name,
                "address": nodes[i].address,
                "stake": stake.get(nodes[i].address.lower(), 10 * 10**18),
                "url": nodes[i].url,
            }
            for i in indices
        ]

    listed = [
        {"epoch": first_epoch + n, "members": members(indices), "activates_at": at}
        for n, (indices, at) in enumerate(epochs)
    ]
    base.pop("previous_epochs", None)
    document = {**base, **listed[-1], "previous_epochs": listed[:-1]}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(temporary, path)
    return document


# ---------------------------------------------------------------------- wire helpers


def committee_domain(node: Node) -> td.Domain:
    status, body = node.get("/authority/v1/committee")
    assert status == 200, body
    return td.Domain(chain_id=body["chain_id"], verifying_contract=body["verifying_contract"])


def order_json(order: td.TransferOrder) -> dict:
    return order.as_message()


def signed_order_json(domain: td.Domain, order: td.TransferOrder, key: bytes) -> dict:
    """A SignedOrder signed with eth-account (independent of the node's fast path)."""
    return {"order": order_json(order), "signature": "0x" + td.sign_order(domain, order, key).hex()}


def certificate_json(signed: dict, votes: list[dict]) -> dict:
    return {"order": signed["order"], "signature": signed["signature"], "votes": votes}
