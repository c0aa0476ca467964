"""The committee client: FastPay's client side, with no Django import.

A wallet app, a POS terminal or the platform embeds it to move money between FastPay
accounts (docs/committee-client.md):

    client = CommitteeClient(committee, timeout=2.0)
    certificate = client.transfer(sender_key, recipient=..., token=..., amount=12_500_000)

- ``certify`` sends a signed order to every authority in parallel and returns a
  Certificate as soon as valid votes hold more than 2/3 of the stake; it never waits for
  slow authorities past that point and fails fast once a quorum has become impossible.
  Every vote is verified before it counts, so a lying authority cannot break it.
- ``confirm`` sends the certificate to every authority. An authority that is behind on the
  sender's sequence (``missing_sequence``) is caught up first: the client fetches the
  sender's certificates from another authority, verifies them and pushes them in order
  (FastPay's synchronisation), then retries.
- ``certify_batch`` / ``confirm_batch`` do the same for many orders (from many senders)
  with one request per authority per 1000 items.

Up to f of 3f+1 authorities (by stake: less than 1/3) may be down, slow or lying.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastpay_protocol import signing
from fastpay_protocol import typed_data as td
from fastpay_protocol.committee_errors import (
    AuthorityFailure,
    CommitteeError,
    ConflictingOrder,
    NoQuorum,
    NotConfirmed,
    StateUnknown,
)
from fastpay_protocol.messages import (
    AccountInfo,
    Certificate,
    Committee,
    ErrorBody,
    InvalidCertificate,
    MessageError,
    PendingOrder,
    SignedOrder,
    Vote,
    parse_signature,
)
from fastpay_protocol.transport import Endpoint, HttpTransport, TransportError

__all__ = [
    "AccountState",
    "AuthorityFailure",
    "CommitteeClient",
    "CommitteeError",
    "Confirmation",
    "ConflictingOrder",
    "NoQuorum",
    "NotConfirmed",
    "StateUnknown",
    "fetch_committee",
]

BATCH_LIMIT = 1000  # items per batch request (docs/protocol.md)


@dataclass(frozen=True)
class Confirmation:
    """Which authorities hold a certificate as applied (``applied``: including those that
    had it already) and why the others do not (``failures``; authorities still working in
    the background when ``confirm`` returned at a quorum are in neither)."""

    certificate: Certificate
    applied: frozenset[str]
    failures: Mapping[str, AuthorityFailure] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountState:
    """The committee's view of an account. ``next_sequence`` is the highest sequence that
    authorities with more than 1/3 of the stake (so at least one honest one) have reached;
    ``balances`` (token -> ledger units) and ``pending`` come from the answers at that
    sequence that the most stake agrees on. ``views`` are the raw answers."""

    address: str
    next_sequence: int
    balances: Mapping[str, int]
    pending: PendingOrder | None
    views: Mapping[str, AccountInfo]
    failures: Mapping[str, AuthorityFailure]

    def balance(self, token: str) -> int:
        return self.balances.get(td._address(token, "token"), 0)

    def to_json(self) -> dict[str, Any]:
        """AccountInfo's JSON shape (the agreed view) plus each authority's answer."""
        return {
            "address": self.address,
            "next_sequence": self.next_sequence,
            "balances": dict(self.balances),
            "pending": None if self.pending is None else self.pending.to_json(),
            "views": {authority: view.to_json() for authority, view in self.views.items()},
            "unavailable": {authority: str(f) for authority, f in self.failures.items()},
        }


@dataclass
class _Outcome:
    authority: str
    vote: Vote | None = None
    conflict: PendingOrder | None = None
    applied: bool | None = None
    account: AccountInfo | None = None
    results: list[Any] | None = None
    failure: AuthorityFailure | None = None


def fetch_committee(url: str, *, timeout: float = 3.0) -> Committee:
    """The committee as one node describes it. Pin it (compare with AuthorityManager
    on-chain, or with several nodes) before trusting it: a node could describe a fake one."""
    transport = HttpTransport(timeout)
    try:
        status, body = transport.request(Endpoint.parse(url), "GET", "/committee")
    finally:
        transport.close()
    if status != 200:
        raise CommitteeError(f"GET /committee at {url} answered HTTP {status}: {body!r}")
    return Committee.from_json(body)


class CommitteeClient:
    """Talks to every member of one committee (one epoch). Thread-safe; reuse one client
    (its worker threads keep HTTP connections alive) and ``close()`` it when done.

    ``timeout``: seconds per HTTP request (connect, and each read). ``deadline``: seconds
    one call waits for authorities in total (default 3 x timeout: room for a lagging
    authority to be caught up); past it, the missing ones count as timeouts.
    """

    def __init__(
        self,
        committee: Committee,
        *,
        timeout: float = 3.0,
        deadline: float | None = None,
        max_workers: int | None = None,
        sync: bool = True,
        transport: HttpTransport | None = None,
    ):
        self.committee = committee
        self.hasher = committee.hasher
        self.timeout = timeout
        self.deadline = 3 * timeout if deadline is None else deadline
        self.sync = sync
        self._endpoints = {m.address: Endpoint.parse(m.url) for m in committee.members}
        self._transport = transport or HttpTransport(timeout)
        self._pool = ThreadPoolExecutor(
            max_workers or max(16, 4 * len(committee.members)),
            thread_name_prefix="fastpay-committee",
        )
        self._last_failure: dict[str, float] = {}

    @classmethod
    def connect(cls, url: str, **kwargs: Any) -> CommitteeClient:
        """A client for the committee that the node at ``url`` describes (see
        ``fetch_committee`` about trusting it)."""
        return cls(fetch_committee(url, timeout=kwargs.get("timeout", 3.0)), **kwargs)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> CommitteeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -------------------------------------------------------------- orders

    def signer(self, private_key: bytes | str | signing.Signer) -> signing.Signer:
        """A Signer for the key (keys are not cached: pass a Signer to sign many orders)."""
        if isinstance(private_key, signing.Signer):
            return private_key
        return signing.Signer(private_key)

    def sign_order(
        self,
        private_key: bytes | str | signing.Signer,
        *,
        recipient: str,
        token: str,
        amount: int,
        sequence: int,
        epoch: int | None = None,
    ) -> SignedOrder:
        """A transfer order from the key's address, signed for this committee's domain.
        ``amount`` in ledger units (int)."""
        signer = self.signer(private_key)
        order = td.TransferOrder(
            sender=signer.address,
            recipient=recipient,
            token=token,
            amount=amount,
            sequence=sequence,
            epoch=self.committee.epoch if epoch is None else epoch,
        )
        return SignedOrder(order, signer.sign_digest(self.hasher.order_digest(order)))

    def transfer(
        self,
        order: td.TransferOrder,
        private_key: bytes | str | signing.Signer,
        *,
        wait_all: bool = False,
        credits: Sequence[Certificate] = (),
    ) -> Certificate:
        """Sign ``order`` with the sender's key, certify it and confirm it. Idempotent: the
        same order again gets the same votes and a no-op confirmation. Raises NoQuorum,
        ConflictingOrder or NotConfirmed. ``credits``: see ``certify``."""
        signer = self.signer(private_key)
        if signer.address != order.sender:
            raise ValueError(f"the key is {signer.address}'s, the order is {order.sender}'s")
        signed = SignedOrder(order, signer.sign_digest(self.hasher.order_digest(order)))
        certificate = self.certify(signed, credits=credits)
        self.confirm(certificate, wait_all=wait_all)
        return certificate

    def pay(
        self,
        private_key: bytes | str | signing.Signer,
        *,
        recipient: str,
        token: str,
        amount: int,
        sequence: int | None = None,
        wait_all: bool = False,
        credits: Sequence[Certificate] = (),
    ) -> Certificate:
        """``transfer`` of a new order from the key's account (``amount`` in ledger units;
        the sequence defaults to the account's next one as the committee sees it)."""
        signer = self.signer(private_key)
        if sequence is None:
            sequence = self.next_sequence(signer.address)
        signed = self.sign_order(
            signer, recipient=recipient, token=token, amount=amount, sequence=sequence
        )
        return self.transfer(signed.order, signer, wait_all=wait_all, credits=credits)

    def certify(self, signed: SignedOrder, *, credits: Sequence[Certificate] = ()) -> Certificate:
        """Votes of more than 2/3 of the stake for ``signed``, as a Certificate.

        ``credits``: certificates that paid the sender (a wallet keeps those it received);
        an authority that answers ``insufficient_balance`` is shown them, then asked again,
        so an authority that missed a payment to the sender can still vote."""
        order = signed.order
        if order.epoch != self.committee.epoch:
            raise CommitteeError(
                f"order epoch {order.epoch} is not the committee's {self.committee.epoch}"
            )
        payload = _encode(signed.to_json())
        vote_digest = self.hasher.vote_digest(order)
        votes: dict[str, Vote] = {}
        conflicts: dict[str, PendingOrder] = {}
        failures: dict[str, AuthorityFailure] = {}

        def on_outcome(outcome: _Outcome, unfinished: set[str]) -> bool:
            if outcome.vote is not None:
                votes[outcome.authority] = outcome.vote
            elif outcome.conflict is not None:
                conflicts[outcome.authority] = outcome.conflict
            if outcome.failure is not None:
                failures[outcome.authority] = outcome.failure
            return self.committee.has_quorum(votes) or not self.committee.has_quorum(
                set(votes) | unfinished
            )

        unfinished = self._gather(
            {
                a: _bind(self._order_at, a, signed, payload, vote_digest, credits)
                for a in self._endpoints
            },
            on_outcome,
        )
        if self.committee.has_quorum(votes):
            return Certificate(order, signed.signature, tuple(votes.values()))
        failures.update(unfinished)
        raise self._no_quorum(order, votes, conflicts, failures)

    def _no_quorum(
        self,
        order: td.TransferOrder,
        votes: Mapping[str, Vote],
        conflicts: Mapping[str, PendingOrder],
        failures: Mapping[str, AuthorityFailure],
    ) -> NoQuorum:
        if conflicts:
            return ConflictingOrder(
                f"authorities hold another order for {order.sender} sequence {order.sequence}",
                conflicts=conflicts,
                order=order,
                failures=failures,
                votes=votes,
            )
        return NoQuorum(
            f"no quorum for {order.sender} sequence {order.sequence}",
            order=order,
            failures=failures,
            votes=votes,
        )

    def _order_at(
        self,
        authority: str,
        signed: SignedOrder,
        payload: bytes,
        vote_digest: bytes,
        credits: Sequence[Certificate] = (),
    ) -> _Outcome:
        order = signed.order
        synced = credited = False
        while True:
            status, body = self._call(authority, "POST", "/orders", payload)
            if status == 200:
                return self._read_vote(authority, body.get("vote"), vote_digest)
            failure = self._refusal(authority, status, body)
            if failure.code == "sequence_locked":
                return self._read_conflict(authority, order, failure, vote_digest)
            behind = _int_or_none((failure.extra or {}).get("next_sequence"))
            if (
                failure.code == "sequence_mismatch"
                and self.sync
                and not synced
                and behind is not None
                and behind < order.sequence
            ):
                synced = True
                self.sync_authority(authority, order.sender, behind, order.sequence)
                continue
            if failure.code == "insufficient_balance" and credits and not credited:
                # the authority may have missed the transfers that paid the sender: show it
                # the certificates the caller holds for them, then ask again
                credited = True
                for credit in credits:
                    self._confirm_at(authority, credit, _encode(credit.to_json()))
                continue
            return _Outcome(authority, failure=failure)

    def _read_vote(self, authority: str, data: Any, vote_digest: bytes) -> _Outcome:
        # hot path: compare the address as text instead of checksumming it
        if not isinstance(data, dict) or str(data.get("authority", "")).lower() != (
            authority.lower()
        ):
            return _Outcome(
                authority, failure=AuthorityFailure(authority, "bad_vote", "not its vote")
            )
        try:
            signature = parse_signature(data.get("signature"), "vote.signature")
        except MessageError as exc:
            return _Outcome(authority, failure=AuthorityFailure(authority, "bad_vote", str(exc)))
        if not signing.signed_by(vote_digest, signature, authority):
            return _Outcome(
                authority,
                failure=AuthorityFailure(
                    authority, "bad_vote", "the vote signature does not verify"
                ),
            )
        return _Outcome(authority, vote=Vote(authority, signature))

    def _read_conflict(
        self,
        authority: str,
        order: td.TransferOrder,
        failure: AuthorityFailure,
        vote_digest: bytes,
    ) -> _Outcome:
        try:
            held = PendingOrder.from_json(dict(failure.extra or {}), "sequence_locked")
        except (MessageError, ValueError) as exc:
            return _Outcome(authority, failure=AuthorityFailure(authority, "bad_vote", str(exc)))
        if held.order == order:  # the same order after all: its vote counts
            return self._read_vote(authority, held.vote.to_json(), vote_digest)
        if held.vote.authority != authority or not held.vote.verify(self.hasher, held.order):
            return _Outcome(
                authority,
                failure=AuthorityFailure(
                    authority, "bad_vote", "sequence_locked without a valid vote of its own"
                ),
            )
        return _Outcome(
            authority,
            conflict=held,
            failure=AuthorityFailure(
                authority,
                "conflict",
                f"holds another order for sequence {order.sequence}",
                failure.code,
                failure.status,
                failure.extra,
            ),
        )

    # -------------------------------------------------------------- confirmation

    def confirm(self, certificate: Certificate, *, wait_all: bool = False) -> Confirmation:
        """Send ``certificate`` to every authority (catching up lagging ones). Returns once
        authorities with more than 2/3 of the stake hold it applied (the rest carry on in the
        background) or, with ``wait_all``, once every authority answered or the deadline
        passed. Raises NotConfirmed when fewer than a quorum applied it."""
        payload = _encode(certificate.to_json())
        applied: set[str] = set()
        failures: dict[str, AuthorityFailure] = {}

        def on_outcome(outcome: _Outcome, unfinished: set[str]) -> bool:
            if outcome.failure is not None:
                failures[outcome.authority] = outcome.failure
            else:
                applied.add(outcome.authority)
            return not wait_all and self.committee.has_quorum(applied)

        unfinished = self._gather(
            {a: _bind(self._confirm_at, a, certificate, payload) for a in self._endpoints},
            on_outcome,
        )
        if wait_all:
            failures.update(unfinished)
        if not self.committee.has_quorum(applied):
            failures.update(unfinished)
            raise NotConfirmed(
                f"certificate for {certificate.order.sender} sequence "
                f"{certificate.order.sequence} applied by too few authorities",
                certificate=certificate,
                failures=failures,
            )
        return Confirmation(certificate, frozenset(applied), failures)

    def _confirm_at(self, authority: str, certificate: Certificate, payload: bytes) -> _Outcome:
        order = certificate.order
        for attempt in (0, 1):
            status, body = self._call(authority, "POST", "/certificates", payload)
            if status == 200:
                return _Outcome(authority, applied=bool(body.get("applied")))
            failure = self._refusal(authority, status, body)
            behind = _int_or_none((failure.extra or {}).get("next_sequence"))
            if (
                failure.code == "missing_sequence"
                and self.sync
                and attempt == 0
                and behind is not None
                and behind < order.sequence
            ):
                self.sync_authority(authority, order.sender, behind, order.sequence)
                continue
            return _Outcome(authority, failure=failure)
        raise AssertionError("unreachable")  # pragma: no cover

    def sync_authority(
        self, authority: str, sender: str, from_sequence: int, to_sequence: int
    ) -> int:
        """Push ``sender``'s certificates for sequences [from_sequence, to_sequence) to
        ``authority``, in order, fetched from other authorities and verified first.
        Returns how many were pushed; raises CommitteeError when no authority has them."""
        pushed, sequence = 0, from_sequence
        while sequence < to_sequence:
            certificates = self._fetch_certificates(authority, sender, sequence, to_sequence)
            for certificate in certificates:
                status, body = self._call(
                    authority, "POST", "/certificates", _encode(certificate.to_json())
                )
                if status != 200:
                    failure = self._refusal(authority, status, body)
                    raise CommitteeError(f"sync: {failure}")
                pushed += 1
                sequence += 1
        return pushed

    def _fetch_certificates(
        self, target: str, sender: str, from_sequence: int, to_sequence: int
    ) -> list[Certificate]:
        """Consecutive valid certificates of ``sender`` from ``from_sequence`` (at least one),
        from the first other authority that has them (recently healthy ones first)."""
        sources = sorted(
            (a for a in self._endpoints if a != target),
            key=lambda a: self._last_failure.get(a, 0.0),
        )
        path = f"/accounts/{quote(sender)}/certificates?from_sequence={from_sequence}"
        reasons = []
        for source in sources:
            try:
                status, body = self._call(source, "GET", path)
                if status != 200:
                    reasons.append(str(self._refusal(source, status, body)))
                    continue
                found = []
                for item in body.get("certificates", []):
                    certificate = Certificate.from_json(item, "certificates[]")
                    expected = from_sequence + len(found)
                    if certificate.order.sender != sender or certificate.order.sequence != (
                        expected
                    ):
                        break
                    certificate.verify(self.committee)
                    found.append(certificate)
                    if expected + 1 >= to_sequence:
                        break
            except (TransportError, MessageError, InvalidCertificate, AttributeError) as exc:
                reasons.append(f"{source}: {exc}")
                continue
            if found:
                return found
            reasons.append(f"{source}: no certificate from sequence {from_sequence}")
        raise CommitteeError(
            f"sync of {target}: no authority gave {sender}'s certificate {from_sequence}: "
            + "; ".join(reasons)
        )

    # -------------------------------------------------------------- accounts

    def account_state(self, address: str) -> AccountState:
        """Ask every authority; decide once authorities with more than 2/3 of the stake
        answered (or all did, or the deadline passed). Raises StateUnknown when the
        answers hold no more than 1/3 of the stake."""
        address = td._address(address, "address")
        path = f"/accounts/{quote(address)}"
        views: dict[str, AccountInfo] = {}
        failures: dict[str, AuthorityFailure] = {}

        def on_outcome(outcome: _Outcome, unfinished: set[str]) -> bool:
            if outcome.account is not None and outcome.account.address == address:
                views[outcome.authority] = outcome.account
            elif outcome.failure is not None:
                failures[outcome.authority] = outcome.failure
            else:
                failures[outcome.authority] = AuthorityFailure(
                    outcome.authority, "bad_response", "answered for another address"
                )
            return self.committee.has_quorum(views)

        unfinished = self._gather(
            {a: _bind(self._account_at, a, path) for a in self._endpoints}, on_outcome
        )
        failures.update(unfinished)
        return self._account_state(address, views, failures)

    def _account_state(
        self,
        address: str,
        views: Mapping[str, AccountInfo],
        failures: Mapping[str, AuthorityFailure],
    ) -> AccountState:
        committee = self.committee
        # the highest sequence that more than 1/3 of the stake has reached: at least one
        # honest authority vouches for it, so a liar alone cannot inflate it
        next_sequence = None
        for candidate in sorted({v.next_sequence for v in views.values()}, reverse=True):
            reached = [a for a, v in views.items() if v.next_sequence >= candidate]
            if 3 * committee.stake_of(reached) > committee.total_stake:
                next_sequence = candidate
                break
        if next_sequence is None:
            raise StateUnknown(f"too few authorities answered for {address}", failures=failures)
        groups: dict[tuple[Any, ...], list[str]] = {}
        for authority, view in views.items():
            if view.next_sequence == next_sequence:
                key = (tuple(sorted(view.balances.items())), view.pending)
                groups.setdefault(key, []).append(authority)
        best = max(groups.values(), key=committee.stake_of, default=None)
        chosen = views[best[0]] if best else None
        return AccountState(
            address=address,
            next_sequence=next_sequence,
            balances=dict(chosen.balances) if chosen else {},
            pending=chosen.pending if chosen else None,
            views=dict(views),
            failures=dict(failures),
        )

    def _account_at(self, authority: str, path: str) -> _Outcome:
        status, body = self._call(authority, "GET", path)
        if status != 200:
            return _Outcome(authority, failure=self._refusal(authority, status, body))
        return _Outcome(authority, account=AccountInfo.from_json(body))

    def next_sequence(self, address: str) -> int:
        return self.account_state(address).next_sequence

    # -------------------------------------------------------------- batches

    def certify_batch(
        self, signed_orders: Sequence[SignedOrder]
    ) -> list[Certificate | CommitteeError]:
        """Certify many orders (distinct (sender, sequence) pairs) with one
        ``/orders/batch`` request per authority per 1000 orders. Returns, in order, a
        Certificate or the error that ``certify`` would have raised. Orders that an
        authority refuses only because it is behind are retried one by one with
        synchronisation."""
        results: list[Certificate | CommitteeError] = []
        for start in range(0, len(signed_orders), BATCH_LIMIT):
            results.extend(self._certify_chunk(signed_orders[start : start + BATCH_LIMIT]))
        return results

    def _certify_chunk(self, chunk: Sequence[SignedOrder]) -> list[Certificate | CommitteeError]:
        payload = _encode({"orders": [signed.to_json() for signed in chunk]})
        size = len(chunk)
        votes: list[dict[str, Vote]] = [{} for _ in range(size)]
        conflicts: list[dict[str, PendingOrder]] = [{} for _ in range(size)]
        failures: list[dict[str, AuthorityFailure]] = [{} for _ in range(size)]
        digests: list[bytes | None] = [None] * size
        done = [False] * size
        remaining = [size]

        def on_outcome(outcome: _Outcome, unfinished: set[str]) -> bool:
            authority = outcome.authority
            for i in range(size):
                if done[i]:
                    continue
                if outcome.failure is not None:
                    failures[i][authority] = outcome.failure
                    continue
                self._read_batch_vote(
                    authority,
                    chunk[i].order,
                    outcome.results[i],
                    i,
                    digests,
                    votes,
                    conflicts,
                    failures,
                )
                if self.committee.has_quorum(votes[i]):
                    done[i] = True
                    remaining[0] -= 1
            return remaining[0] == 0

        unfinished = self._gather(
            {a: _bind(self._batch_at, a, "/orders/batch", payload, size) for a in self._endpoints},
            on_outcome,
        )
        results: list[Certificate | CommitteeError] = []
        for i, signed in enumerate(chunk):
            if done[i]:
                results.append(
                    Certificate(signed.order, signed.signature, tuple(votes[i].values()))
                )
                continue
            if self.sync and any(
                f.code == "sequence_mismatch"
                and (_int_or_none((f.extra or {}).get("next_sequence")) or 0)
                < signed.order.sequence
                for f in failures[i].values()
            ):
                try:
                    results.append(self.certify(signed))
                except CommitteeError as exc:
                    results.append(exc)
                continue
            failures[i].update(unfinished)
            results.append(self._no_quorum(signed.order, votes[i], conflicts[i], failures[i]))
        return results

    def _read_batch_vote(
        self,
        authority: str,
        order: td.TransferOrder,
        result: Any,
        i: int,
        digests: list[bytes | None],
        votes: list[dict[str, Vote]],
        conflicts: list[dict[str, PendingOrder]],
        failures: list[dict[str, AuthorityFailure]],
    ) -> None:
        if digests[i] is None:
            digests[i] = self.hasher.vote_digest(order)
        if isinstance(result, dict) and "vote" in result:
            outcome = self._read_vote(authority, result["vote"], digests[i])
        else:
            failure = self._refusal(authority, 200, result)
            if failure.code == "sequence_locked":
                outcome = self._read_conflict(authority, order, failure, digests[i])
            else:
                outcome = _Outcome(authority, failure=failure)
        if outcome.vote is not None:
            votes[i][authority] = outcome.vote
        if outcome.conflict is not None:
            conflicts[i][authority] = outcome.conflict
        if outcome.failure is not None:
            failures[i][authority] = outcome.failure

    def confirm_batch(
        self, certificates: Sequence[Certificate], *, wait_all: bool = False
    ) -> list[Confirmation | NotConfirmed]:
        """Confirm many certificates with one ``/certificates/batch`` request per
        authority per 1000; an authority missing earlier sequences is caught up and the
        certificate retried alone. Returns a Confirmation or NotConfirmed per certificate."""
        results: list[Confirmation | NotConfirmed] = []
        for start in range(0, len(certificates), BATCH_LIMIT):
            chunk = certificates[start : start + BATCH_LIMIT]
            results.extend(self._confirm_chunk(chunk, wait_all))
        return results

    def _confirm_chunk(
        self, chunk: Sequence[Certificate], wait_all: bool
    ) -> list[Confirmation | NotConfirmed]:
        payload = _encode({"certificates": [c.to_json() for c in chunk]})
        size = len(chunk)
        applied: list[set[str]] = [set() for _ in range(size)]
        failures: list[dict[str, AuthorityFailure]] = [{} for _ in range(size)]

        def on_outcome(outcome: _Outcome, unfinished: set[str]) -> bool:
            authority = outcome.authority
            for i in range(size):
                if outcome.failure is not None:
                    failures[i][authority] = outcome.failure
                    continue
                result = outcome.results[i]
                if isinstance(result, _Outcome):  # retried alone after a sync
                    if result.failure is None:
                        applied[i].add(authority)
                    else:
                        failures[i][authority] = result.failure
                elif isinstance(result, dict) and "applied" in result:
                    applied[i].add(authority)
                else:
                    failures[i][authority] = self._refusal(authority, 200, result)
            return not wait_all and all(self.committee.has_quorum(a) for a in applied)

        def at(authority: str) -> _Outcome:
            outcome = self._batch_at(authority, "/certificates/batch", payload, size)
            if outcome.results is None or not self.sync:
                return outcome
            for i, result in enumerate(outcome.results):
                # an authority missing the sender's earlier certificates: catch it up, then
                # send this one alone (in this authority's own worker thread)
                error = _error_code(result)
                if error == "missing_sequence":
                    certificate = chunk[i]
                    outcome.results[i] = _guard(
                        authority,
                        lambda c=certificate: self._confirm_at(authority, c, _encode(c.to_json())),
                    )
            return outcome

        unfinished = self._gather({a: _bind(at, a) for a in self._endpoints}, on_outcome)
        results: list[Confirmation | NotConfirmed] = []
        for i, certificate in enumerate(chunk):
            if wait_all:
                failures[i].update(unfinished)
            if self.committee.has_quorum(applied[i]):
                results.append(Confirmation(certificate, frozenset(applied[i]), failures[i]))
            else:
                failures[i].update(unfinished)
                results.append(
                    NotConfirmed(
                        f"certificate for {certificate.order.sender} sequence "
                        f"{certificate.order.sequence} applied by too few authorities",
                        certificate=certificate,
                        failures=failures[i],
                    )
                )
        return results

    def _batch_at(self, authority: str, path: str, payload: bytes, size: int) -> _Outcome:
        status, body = self._call(authority, "POST", path, payload)
        if status != 200:
            return _Outcome(authority, failure=self._refusal(authority, status, body))
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list) or len(results) != size:
            return _Outcome(
                authority,
                failure=AuthorityFailure(
                    authority, "bad_response", f"expected {size} results in the batch answer"
                ),
            )
        return _Outcome(authority, results=results)

    # -------------------------------------------------------------- plumbing

    def _call(
        self, authority: str, method: str, path: str, payload: bytes | None = None
    ) -> tuple[int, Any]:
        """One HTTP request; raises TransportError (and notes the authority as failing)."""
        try:
            return self._transport.request(self._endpoints[authority], method, path, payload)
        except TransportError:
            self._last_failure[authority] = time.monotonic()
            raise

    @staticmethod
    def _refusal(authority: str, status: int, body: Any) -> AuthorityFailure:
        try:
            error = ErrorBody.from_json(body)
        except MessageError:
            return AuthorityFailure(
                authority, "bad_response", f"HTTP {status} without a protocol error body"
            )
        return AuthorityFailure(
            authority, "refused", error.message, error.code, status, dict(error.extra)
        )

    def _gather(
        self,
        tasks: Mapping[str, Callable[[], _Outcome]],
        on_outcome: Callable[[_Outcome, set[str]], bool],
    ) -> dict[str, AuthorityFailure]:
        """Run one task per authority in parallel; feed each outcome to ``on_outcome``
        (with the authorities still running) until it returns True, every task finished or
        the deadline passed. Returns failures for the authorities that were not waited for.

        Tasks left running finish in the background; their answers are dropped."""
        futures: dict[Future[_Outcome], str] = {
            self._pool.submit(_guard, authority, task): authority
            for authority, task in tasks.items()
        }
        waiting = set(futures)
        end = time.monotonic() + self.deadline
        stopped = False
        while waiting and not stopped:
            finished, _ = wait(
                waiting, timeout=max(0.0, end - time.monotonic()), return_when=FIRST_COMPLETED
            )
            if not finished:
                break
            for future in finished:
                waiting.discard(future)
                if on_outcome(future.result(), {futures[f] for f in waiting}):
                    stopped = True
                    break
        if stopped:
            reason, message = "abandoned", "not waited for (already decided)"
        else:
            reason, message = "timeout", f"no answer within the {self.deadline}s deadline"
        return {futures[f]: AuthorityFailure(futures[f], reason, message) for f in waiting}


def _guard(authority: str, task: Callable[[], _Outcome]) -> _Outcome:
    """Run one authority's task; turn every failure into an AuthorityFailure (a broken or
    lying node must not break the caller)."""
    try:
        return task()
    except TransportError as exc:
        return _Outcome(authority, failure=AuthorityFailure(authority, exc.kind, exc.message))
    except CommitteeError as exc:
        return _Outcome(authority, failure=AuthorityFailure(authority, "sync_failed", str(exc)))
    except (MessageError, ValueError, TypeError, AttributeError, KeyError) as exc:
        return _Outcome(authority, failure=AuthorityFailure(authority, "bad_response", str(exc)))


def _bind(function: Callable[..., _Outcome], *args: Any) -> Callable[[], _Outcome]:
    return lambda: function(*args)


def _encode(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _error_code(result: Any) -> str | None:
    if isinstance(result, dict) and isinstance(result.get("error"), dict):
        code = result["error"].get("code")
        return code if isinstance(code, str) else None
    return None
