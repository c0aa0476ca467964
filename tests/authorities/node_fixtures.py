"""Shared pieces of the node tests: funded users, order building, voting and certifying
against real node processes (tests/authorities/nodes.py)."""

from __future__ import annotations

import itertools

from eth_account import Account

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
