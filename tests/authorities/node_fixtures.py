"""Shared pieces of the node tests: funded users, order building, voting and certifying
against real node processes (tests/authorities/nodes.py)."""

from __future__ import annotations

import itertools
import time

from eth_account import Account

from authorities.node.local import anvil_key
from fastpay_protocol import typed_data as td
from tests.authorities.nodes import Node, certificate_json, signed_order_json

TOKEN = "0x" + "55" * 20
OTHER_TOKEN = "0x" + "66" * 20
FUNDED_UNITS = 100_000_000  # 100 tokens in ledger units
_keys = itertools.count(1)


class Users:
    """A pool of funded user keys; each test takes fresh ones (nodes are shared)."""

    def __init__(self, count: int):
        self.accounts = [
            Account.from_key((0xA11CE000 + next(_keys)).to_bytes(32, "big")) for _ in range(count)
        ]
        self._free = iter(self.accounts)

    def genesis(self):
        return [(a.address, TOKEN, FUNDED_UNITS) for a in self.accounts]

    def take(self):
        return next(self._free)


def make_order(user, *, recipient=None, amount=1_000_000, sequence=0, epoch=1, token=TOKEN):
    return td.TransferOrder(
        sender=user.address,
        recipient=recipient or "0x" + "77" * 20,
        token=token,
        amount=amount,
        sequence=sequence,
        epoch=epoch,
    )


def vote_on(nodes: list[Node], signed: dict) -> list[dict]:
    votes = []
    for node in nodes:
        status, body = node.post("/authority/v1/orders", signed)
        assert status == 200, body
        votes.append(body["vote"])
    return votes


def certify(nodes: list[Node], domain, order, user, quorum: int = 3) -> dict:
    """Votes from the first ``quorum`` nodes, assembled into a certificate."""
    signed = signed_order_json(domain, order, user.key)
    return certificate_json(signed, vote_on(nodes[:quorum], signed))


def confirm(nodes: list[Node], certificate: dict) -> list[tuple[int, dict]]:
    return [node.post("/authority/v1/certificates", certificate) for node in nodes]


# ---------------------------------------------------------------------- epochs

#: nodes of the epoch tests re-read the committee file and retry handovers quickly
EPOCH_ENV = {"AUTHORITY_SCHEDULE_POLL_MS": "100", "AUTHORITY_HANDOVER_POLL_MS": "200"}
#: far enough to start every node before anything activates; rewritten once they run
LATER = 2**40


def node_keys(count: int) -> list[bytes]:
    """Keys of anvil's dev accounts #5, #6, ... (public test keys)."""
    return [anvil_key(5 + i) for i in range(count)]


def wait_for(condition, timeout: float = 20, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return condition()


def sleep_until(unix_seconds: float) -> None:
    time.sleep(max(0.0, unix_seconds - time.time()))


def schedule_known(nodes: list[Node], epoch: int, closes_at: int | None) -> bool:
    """Every node serves ``epoch`` as the active one with this close (schedule re-read)."""

    def known(node):
        status, body = node.get("/authority/v1/committee")
        return status == 200 and (body["epoch"], body["closes_at"]) == (epoch, closes_at)

    return bool(wait_for(lambda: all(known(n) for n in nodes)))


def vote_when_handed_over(node: Node, signed: dict, timeout: float = 20):
    """POST the order, retrying while the node answers 503 handover_pending (what the
    committee client does); the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = node.post("/authority/v1/orders", signed)
        if status != 503 or time.monotonic() > deadline:
            return status, body
        assert body["error"]["code"] == "handover_pending", body
        time.sleep(0.2)


def balance_of(node: Node, address: str, token: str = TOKEN) -> int:
    status, info = node.get(f"/authority/v1/accounts/{address}")
    assert status == 200, info
    return {t.lower(): units for t, units in info["balances"].items()}.get(token.lower(), 0)
