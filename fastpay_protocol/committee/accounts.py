"""Account queries: the state that the committee's answers vouch for."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastpay_protocol import typed_data as td
from fastpay_protocol.committee.base import ClientBase, Outcome, bind
from fastpay_protocol.committee_errors import (
    AuthorityFailure,
    StateUnknown,
)
from fastpay_protocol.messages import (
    AccountInfo,
    Certificate,
    Committee,
    InvalidCertificate,
    PendingOrder,
)


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


class AccountMethods(ClientBase):
    """``account_state`` and ``next_sequence`` of CommitteeClient."""

    # -------------------------------------------------------------- accounts

    def account_state(self, address: str) -> AccountState:
        """Ask every authority; decide once authorities with more than 2/3 of the stake
        answered (or all did, or the deadline passed). Raises StateUnknown when the
        answers hold no more than 1/3 of the stake."""
        address = td._address(address, "address")
        path = f"/accounts/{quote(address)}"
        views: dict[str, AccountInfo] = {}
        failures: dict[str, AuthorityFailure] = {}

        def on_outcome(outcome: Outcome, unfinished: set[str]) -> bool:
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
            {a: bind(self._account_at, a, path) for a in self._endpoints}, on_outcome
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
            if committee.more_than_a_third(reached):
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

    def _account_at(self, authority: str, path: str) -> Outcome:
        status, body = self._call(authority, "GET", path)
        if status != 200:
            return Outcome(authority, failure=self._refusal(authority, status, body))
        return Outcome(authority, account=AccountInfo.from_json(body))

    def next_sequence(self, address: str) -> int:
        return self.account_state(address).next_sequence

    # -------------------------------------------------------------- certificates

    def applied_certificate(
        self, sender: str, sequence: int, *, committees: Mapping[int, Committee] | None = None
    ) -> Certificate | None:
        """The certificate of ``sender``'s ``sequence`` that authorities applied, from the
        first one that holds it, verified against the committee of its order's epoch
        (``committees``: epoch -> Committee, default every committee this client knows,
        ``committee_of``; a certificate of an epoch unknown there is skipped): a lying node
        cannot frame a sender. Every authority is
        asked in parallel; None when none that answered in time has it."""
        sender = td._address(sender, "sender")
        known = (
            {**self.committees, self.committee.epoch: self.committee}
            if committees is None
            else committees
        )
        path = f"/accounts/{quote(sender)}/certificates?from_sequence={sequence}"
        found: list[Certificate] = []

        def on_outcome(outcome: Outcome, unfinished: set[str]) -> bool:
            if outcome.certificate is not None:
                found.append(outcome.certificate)
            return bool(found)

        self._gather(
            {
                a: bind(self._certificate_at, a, path, sender, sequence, known)
                for a in self._endpoints
            },
            on_outcome,
        )
        return found[0] if found else None

    def _certificate_at(
        self,
        authority: str,
        path: str,
        sender: str,
        sequence: int,
        committees: Mapping[int, Committee],
    ) -> Outcome:
        status, body = self._call(authority, "GET", path)
        if status != 200:
            return Outcome(authority, failure=self._refusal(authority, status, body))
        items = body.get("certificates") if isinstance(body, dict) else None
        if not items:
            return Outcome(authority)
        certificate = Certificate.from_json(items[0], "certificates[0]")
        order = certificate.order
        committee = committees.get(order.epoch)
        if order.sender != sender or order.sequence != sequence or committee is None:
            return Outcome(authority)
        try:
            certificate.verify(committee)
        except InvalidCertificate as exc:
            return Outcome(authority, failure=AuthorityFailure(authority, "bad_response", str(exc)))
        return Outcome(authority, certificate=certificate)
