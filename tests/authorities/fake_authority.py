"""An in-process authority that speaks docs/protocol.md over real HTTP, for the committee
client's tests: honest by default, and down, slow, lying or lagging on demand.

It keeps the protocol's rules (sender signature, sequence == next, one locked order per
sequence, balance, certificates applied once and in order) in memory, and logs what it
applied so tests can check exactly which certificates a sync pushed.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from eth_account import Account

from fastpay_protocol import handoff, signing
from fastpay_protocol import typed_data as td
from fastpay_protocol.messages import (
    Certificate,
    Committee,
    InvalidCertificate,
    Member,
    MessageError,
    SignedOrder,
    Vote,
    order_to_json,
)

PREFIX = "/authority/v1"
CHAIN_ID = 31337
VERIFIER = "0x" + "ab" * 20
REDEMPTION = "0x" + "cd" * 20
TOKEN = "0x" + "55" * 20


@dataclass
class Account_:
    next_sequence: int = 0
    balances: dict[str, int] = field(default_factory=dict)
    pending: tuple[td.TransferOrder, Vote] | None = None


class FakeAuthority:
    """One authority. Modes: ``delay`` (seconds before each answer), ``lie`` (votes signed
    over another order), ``inflate`` (claims a next_sequence 100 too high), ``deaf``
    (answers 200 to certificates without applying them: it lags), ``handover_pending``
    (answers orders 503 handover_pending, as a new epoch's member still reading the
    previous epoch's state).

    Epochs: it votes only in ``committee``'s epoch (the active one: ``wrong_epoch`` naming
    it otherwise) and applies certificates of any epoch in ``committees`` (each verified
    against its own epoch's committee); a certificate for an applied (sender, sequence)
    is a no-op for the same payment and 409 ``conflicting_certificate`` for another."""

    def __init__(self, index: int):
        self.key = bytes([index + 1]) * 32
        self.address = Account.from_key(self.key).address
        self.signer = signing.Signer(self.key)
        self.name = f"fake-{index}"
        self.committee: Committee | None = None
        self.committees: dict[int, Committee] = {}  # other epochs it applies certificates of
        self.handover_pending = False
        self.accounts: dict[str, Account_] = {}
        self.certificates: dict[str, dict[int, Certificate]] = {}
        self.applied: list[tuple[str, int]] = []  # (sender, sequence) in the order applied
        self.received: list[str] = []  # request paths
        self.lock = threading.Lock()
        self.delay = 0.0
        self.lie = False
        self.inflate = False
        self.deaf = False
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()

    # ---------------------------------------------------------------- process

    def start(self) -> None:
        authority = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                authority._connections.add(self.connection)

            def finish(self) -> None:
                authority._connections.discard(self.connection)
                super().finish()

            def _answer(self, status: int, body: Any) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._answer(*authority.handle("GET", self.path, None))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                try:
                    body = json.loads(self.rfile.read(length))
                except ValueError:
                    self._answer(400, error("invalid_request", "not JSON"))
                    return
                self._answer(*authority.handle("POST", self.path, body))

        self._server = _QuietServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def stop(self) -> None:
        """Down: the port refuses connections (the state is kept for a restart)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for connection in list(self._connections):  # kept-alive ones too: really down
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fund(self, address: str, units: int, token: str = TOKEN) -> None:
        account = self.account(td._address(address, "address"))
        account.balances[token] = account.balances.get(token, 0) + units

    def account(self, address: str) -> Account_:
        return self.accounts.setdefault(address, Account_())

    # ---------------------------------------------------------------- protocol

    def handle(self, method: str, raw_path: str, body: Any) -> tuple[int, Any]:
        if self.delay:
            time.sleep(self.delay)
        url = urlsplit(raw_path)
        path = url.path.removeprefix(PREFIX)
        self.received.append(path)
        with self.lock:
            try:
                if method == "POST" and path == "/orders":
                    return self.order(SignedOrder.from_json(body))
                if method == "POST" and path == "/orders/batch":
                    answers = [self.order(SignedOrder.from_json(o)) for o in body["orders"]]
                    return 200, {"results": [answer for _, answer in answers]}
                if method == "POST" and path == "/certificates":
                    return self.certificate(Certificate.from_json(body))
                if method == "POST" and path == "/certificates/batch":
                    answers = [
                        self.certificate(Certificate.from_json(c)) for c in body["certificates"]
                    ]
                    return 200, {"results": [answer for _, answer in answers]}
                if method == "GET" and path.startswith("/accounts/"):
                    parts = path.split("/")
                    address = td._address(parts[2], "address")
                    if len(parts) == 4 and parts[3] == "certificates":
                        start = int(parse_qs(url.query)["from_sequence"][0])
                        return 200, self.history(address, start)
                    return 200, self.account_info(address)
                if method == "GET" and path == "/committee":
                    return 200, {**self.committee.to_json(), "self": self.address}
            except (MessageError, InvalidCertificate, KeyError, ValueError) as exc:
                return 400, error("invalid_request", str(exc))
        return 404, error("not_found", path)

    def order(self, signed: SignedOrder) -> tuple[int, Any]:
        order = signed.order
        hasher = self.committee.hasher
        if not signed.verify(hasher):
            return 400, error("invalid_signature", "not the sender's signature")
        if order.epoch != self.committee.epoch:
            return 409, error("wrong_epoch", "wrong epoch", epoch=self.committee.epoch)
        if self.handover_pending:
            return 503, error("handover_pending", "handover", epoch=self.committee.epoch)
        account = self.account(order.sender)
        if account.pending is not None and order.sequence == account.next_sequence:
            held, vote = account.pending
            if held == order:
                return 200, {"vote": vote.to_json()}
            return 409, error(
                "sequence_locked", "locked", order=order_to_json(held), vote=vote.to_json()
            )
        if order.sequence != account.next_sequence:
            return 409, error("sequence_mismatch", "mismatch", next_sequence=account.next_sequence)
        balance = account.balances.get(order.token, 0)
        if balance < order.amount:
            return 402, error("insufficient_balance", "balance", balance=balance)
        vote = Vote(self.address, self.signer.sign_digest(hasher.vote_digest(order)))
        account.pending = (order, vote)
        if self.lie:  # a valid-looking vote for another order
            other = td.TransferOrder(**{**order.as_message(), "amount": order.amount + 1})
            vote = Vote(self.address, self.signer.sign_digest(hasher.vote_digest(other)))
        return 200, {"vote": vote.to_json()}

    def certificate(self, certificate: Certificate) -> tuple[int, Any]:
        order = certificate.order
        committee = {**self.committees, self.committee.epoch: self.committee}.get(order.epoch)
        try:
            if committee is None:
                raise InvalidCertificate(f"unknown epoch {order.epoch}")
            certificate.verify(committee)
        except InvalidCertificate as exc:
            return 400, error("invalid_certificate", str(exc))
        account = self.account(order.sender)
        if self.deaf:
            return 200, {"applied": False, "account": self.account_info(order.sender)}
        if order.sequence < account.next_sequence:
            applied = self.certificates.get(order.sender, {}).get(order.sequence)
            if applied is not None and not handoff.same_payment(applied.order, order):
                return 409, error(
                    "conflicting_certificate",
                    "another payment was applied at this sequence",
                    order=order_to_json(applied.order),
                    certificate=applied.to_json(),
                )
            return 200, {"applied": False, "account": self.account_info(order.sender)}
        if order.sequence > account.next_sequence:
            return 409, error("missing_sequence", "missing", next_sequence=account.next_sequence)
        account.balances[order.token] = account.balances.get(order.token, 0) - order.amount
        account.next_sequence += 1
        account.pending = None
        recipient = self.account(order.recipient)
        recipient.balances[order.token] = recipient.balances.get(order.token, 0) + order.amount
        self.certificates.setdefault(order.sender, {})[order.sequence] = certificate
        self.applied.append((order.sender, order.sequence))
        return 200, {"applied": True, "account": self.account_info(order.sender)}

    def account_info(self, address: str) -> dict[str, Any]:
        account = self.account(address)
        pending = None
        if account.pending is not None:
            pending = {"order": order_to_json(account.pending[0]), "vote": account.pending[1]}
            pending["vote"] = pending["vote"].to_json()
        return {
            "address": address,
            "next_sequence": account.next_sequence + (100 if self.inflate else 0),
            "balances": dict(account.balances),
            "pending": pending,
        }

    def history(self, address: str, start: int) -> dict[str, Any]:
        held = self.certificates.get(address, {})
        return {
            "certificates": [
                held[sequence].to_json() for sequence in sorted(held) if sequence >= start
            ][:100]
        }


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up on a slow answer is part of the tests


def error(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "param": None}, **extra}


def committee_of(
    authorities: Iterable[FakeAuthority], stakes: Iterable[int] | None = None, epoch: int = 0
):
    authorities = list(authorities)
    stakes = list(stakes) if stakes is not None else [1] * len(authorities)
    committee = Committee(
        epoch=epoch,
        chain_id=CHAIN_ID,
        verifying_contract=VERIFIER,
        redemption_address=REDEMPTION,
        members=tuple(
            Member(a.name, a.address, stake, a.url)
            for a, stake in zip(authorities, stakes, strict=True)
        ),
    )
    for authority in authorities:
        authority.committee = committee
    return committee


def start_committee(size: int = 4, stakes: Iterable[int] | None = None):
    """``size`` running fake authorities and their committee."""
    authorities = [FakeAuthority(i) for i in range(size)]
    for authority in authorities:
        authority.start()
    return authorities, committee_of(authorities, stakes)
