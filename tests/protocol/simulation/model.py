"""Symbolic signatures, certificates, the network and the invariant checker of the
committee simulation (see the package docstring for what is checked and why)."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

from fastpay_protocol import handoff
from fastpay_protocol.wire import Order

TOKEN = "0x" + "55" * 20


@dataclass(frozen=True, slots=True)
class Cert:
    """A certificate: the order and the authorities (lower-case) whose votes it holds."""

    order: Order
    voters: tuple[str, ...]

    def __str__(self) -> str:
        o = self.order
        voters = ",".join(name(v) for v in self.voters)
        return f"cert[{short(o)} by {voters}]"


_KINDS = {"aa": "w", "bb": "b", "cc": "t", "0d": "n"}  # wallet, byzantine, terminal, node


def name(address: str) -> str:
    """The simulation's addresses are 0x<kind><index>: w3, b17, t1, n5."""
    return f"{_KINDS.get(address[2:4], address[2:4])}{int(address[4:], 16)}"


def short(o: Order) -> str:
    return f"{name(o.sender)}#{o.sequence}->{name(o.recipient)}:{o.amount}@e{o.epoch}"


class Signatures:
    """Who signed what. Only the sender's actor adds to ``orders``; only an authority's
    node adds its own (authority, order) to ``votes``."""

    def __init__(self) -> None:
        self.orders: set[Order] = set()
        self.order_list: list[Order] = []  # in signing order (byzantine picks: deterministic)
        self.votes: set[tuple[str, Order]] = set()

    def sign_order(self, order: Order) -> None:
        if order not in self.orders:
            self.orders.add(order)
            self.order_list.append(order)

    def sign_vote(self, authority: str, order: Order) -> None:
        self.votes.add((authority, order))


class Network:
    """Messages delivered after 1..delay_max ticks (so reordered), each lost with
    probability ``loss``; what arrives at a crashed actor is dropped by the world."""

    def __init__(self, rng, loss: float, delay_max: int) -> None:
        self.rng = rng
        self.loss = loss
        self.delay_max = delay_max
        self.queue: list[tuple[int, int, str, tuple]] = []
        self.counter = 0
        self.sent = 0
        self.lost = 0

    def send(self, now: int, dst: str, msg: tuple) -> None:
        self.sent += 1
        if self.loss and self.rng.random() < self.loss:
            self.lost += 1
            return
        self.counter += 1
        delay = 1 + int(self.rng.random() * self.delay_max)
        heapq.heappush(self.queue, (now + delay, self.counter, dst, msg))

    def due(self, now: int):
        queue = self.queue
        while queue and queue[0][0] <= now:
            _, _, dst, msg = heapq.heappop(queue)
            yield dst, msg


class Violation(AssertionError):
    """An invariant broke: the message says which and where."""


class Checker:
    """The invariants (package docstring, "Checked"). ``certified`` is called for every
    certificate any party finds valid, ``accepted`` for every acceptance, ``vote`` for
    every honest vote, ``ledger`` after every step for the ledgers that changed."""

    def __init__(self, genesis: dict[str, int]) -> None:
        self.genesis = genesis
        self.total = sum(genesis.values())
        # (sender, sequence) -> (payment key, the first certificate, who saw it)
        self.payments: dict[tuple[str, int], tuple[tuple, Cert, str]] = {}
        self.accepted: dict[str, dict[tuple[str, int], tuple]] = {}
        self.honest_votes: dict[tuple[str, str, int], Order] = {}
        self.credits: dict[str, int] = {}  # certified credits per account
        self.debits: dict[str, int] = {}
        self.violation: str | None = None
        self.negative_seen = 0  # ledger checks that met a (missed-credit) negative balance

    def fail(self, message: str) -> None:
        if self.violation is None:
            self.violation = message

    def certified(self, cert: Cert, by: str) -> None:
        o = cert.order
        key = (o.sender, o.sequence)
        payment = handoff.payment_key(o)
        known = self.payments.get(key)
        if known is None:
            self.payments[key] = (payment, cert, by)
            self.credits[o.recipient] = self.credits.get(o.recipient, 0) + o.amount
            debits = self.debits.get(o.sender, 0) + o.amount
            self.debits[o.sender] = debits
            available = self.genesis.get(o.sender, 0) + self.credits.get(o.sender, 0)
            if debits > available:
                self.fail(
                    f"certified overspend by {o.sender}: {debits} debited, {available} "
                    f"available ({cert}, seen by {by})"
                )
        elif known[0] != payment:
            self.fail(
                f"DOUBLE SPEND at ({o.sender}, {o.sequence}): {known[1]} seen by {known[2]}, "
                f"and {cert} seen by {by}"
            )

    def accepted_by(self, party: str, cert: Cert) -> None:
        o = cert.order
        key = (o.sender, o.sequence)
        payment = handoff.payment_key(o)
        mine = self.accepted.setdefault(party, {})
        if mine.setdefault(key, payment) != payment:
            self.fail(f"{party} accepted two payments at {key}: {mine[key]} and {payment}")
        known = self.payments.get(key)
        if known is None or known[0] != payment:
            self.fail(f"{party} accepted {cert}, which is not the certified payment {known}")

    def vote(self, authority: str, order: Order) -> None:
        key = (authority, order.sender, order.sequence)
        earlier = self.honest_votes.setdefault(key, order)
        if handoff.equivocation(earlier, order):
            self.fail(
                f"honest node {authority} equivocated at ({order.sender}, {order.sequence}): "
                f"{short(earlier)} and {short(order)}"
            )

    def ledger(self, name: str, balances: dict[str, int], credits: dict[str, int]) -> None:
        total = sum(balances.values())
        if total != self.total:
            self.fail(f"{name}: balances total {total}, genesis total {self.total}")
        for account, balance in balances.items():
            if balance < 0:
                self.negative_seen += 1
                missed = self.credits.get(account, 0) - credits.get(account, 0)
                if balance + missed < 0:
                    self.fail(
                        f"{name}: {account} at {balance}, not explained by missed credits "
                        f"({missed})"
                    )


def describe(value: Any) -> str:
    if isinstance(value, Order):
        return short(value)
    if isinstance(value, handoff.Refusal):
        fields = {k: describe(v) for k, v in value.fields.items()}
        return f"{value.code}{fields}"
    return str(value)
