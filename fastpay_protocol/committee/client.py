"""CommitteeClient: orders, certification, confirmation and synchronisation."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastpay_protocol import handoff, signing
from fastpay_protocol import typed_data as td
from fastpay_protocol.committee.accounts import AccountMethods, AccountState
from fastpay_protocol.committee.base import (
    Confirmation,
    Outcome,
    bind,
    encode,
    guard,
    int_or_none,
)
from fastpay_protocol.committee.batches import BatchMethods
from fastpay_protocol.committee.equivocation import VoteWatch, process_watch
from fastpay_protocol.committee_errors import (
    AuthorityFailure,
    CommitteeError,
    ConflictingCertificate,
    ConflictingOrder,
    HandoverPending,
    NoQuorum,
    NotConfirmed,
    WrongEpoch,
)
from fastpay_protocol.messages import (
    AccountInfo,
    Certificate,
    Committee,
    InvalidCertificate,
    MessageError,
    PendingOrder,
    SignedOrder,
    Vote,
    order_from_json,
    parse_signature,
)
from fastpay_protocol.transport import TransportError

log = logging.getLogger(__name__)

DECIDED_SIZE = 10_000  # accounts whose last decided next_sequence a client remembers
# an authority answering 503 handover_pending is asked again after 0.1 s, 0.2 s, ... (at
# most HANDOVER_RETRY_MAX_S apart) until the call's deadline: the handover of a closed
# epoch's frozen state is usually a short read
HANDOVER_RETRY_S = 0.1
HANDOVER_RETRY_MAX_S = 1.0


@dataclass(frozen=True)
class CatchUp:
    """What ``catch_up`` did for one account: the committee's ``next_sequence``, how far
    each authority that answered was behind (``behind``), how many certificates were
    pushed to it (``pushed``), and why an authority is still behind or unknown
    (``failures``). ``lag`` is what is left behind per answering authority."""

    address: str
    next_sequence: int
    behind: Mapping[str, int]
    pushed: Mapping[str, int]
    failures: Mapping[str, AuthorityFailure] = field(default_factory=dict)
    answered: frozenset[str] = frozenset()  # the authorities whose view was read

    @property
    def lag(self) -> dict[str, int]:
        return {a: n - self.pushed.get(a, 0) for a, n in self.behind.items()}


class CommitteeClient(BatchMethods, AccountMethods):
    """Talks to every member of one committee (one epoch). Thread-safe; reuse one client
    (its worker threads keep HTTP connections alive) and ``close()`` it when done.

    ``timeout``: seconds per HTTP request (connect, and each read). ``deadline``: seconds
    one call waits for authorities in total (default 3 x timeout: room for a lagging
    authority to be caught up); past it, the missing ones count as timeouts.

    ``watch``: the VoteWatch every verified vote goes through (equivocation detection;
    default: the process's shared one, ``equivocation.process_watch()``, whose handler
    the embedding application sets). Pass a private one to keep a client apart.

    ``committees``: the committees of the other epochs (epoch -> Committee) that fetched
    certificates are verified against (each under its own order's epoch); a live mapping
    the caller may extend. ``epochs.EpochClients`` keeps one client per epoch sharing it.
    """

    def __init__(self, committee: Committee, *, watch: VoteWatch | None = None, **kwargs: Any):
        super().__init__(committee, **kwargs)
        self.watch = watch if watch is not None else process_watch()
        self._scope = (committee.chain_id, committee.verifying_contract.lower())
        self._pushing: set[tuple[str, str]] = set()  # (authority, sender) being caught up
        self._pushing_lock = threading.Lock()
        # the committee's next_sequence per account as account_state last decided it: an
        # authority whose answer arrives after the decision is compared with it
        self._decided: OrderedDict[str, int] = OrderedDict()

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
        payload = encode(signed.to_json())
        vote_digest = self.hasher.vote_digest(order)
        votes: dict[str, Vote] = {}
        conflicts: dict[str, PendingOrder] = {}
        failures: dict[str, AuthorityFailure] = {}

        def on_outcome(outcome: Outcome, unfinished: set[str]) -> bool:
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
                a: bind(self._order_at, a, signed, payload, vote_digest, credits)
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
        if conflicts or any(f.reason == "conflict" for f in failures.values()):
            return ConflictingOrder(
                f"authorities hold another order for {order.sender} sequence {order.sequence}",
                conflicts=conflicts,
                order=order,
                failures=failures,
                votes=votes,
            )
        committee = self.committee
        wrong = {a: f for a, f in failures.items() if f.code == handoff.WRONG_EPOCH}
        if committee.more_than_a_third(wrong):  # at least one honest member says so
            return WrongEpoch(
                f"order epoch {order.epoch} is not the active epoch for {order.sender} "
                f"sequence {order.sequence}",
                active_epoch=self._named_epoch(wrong),
                order=order,
                failures=failures,
                votes=votes,
            )
        waiting = [a for a, f in failures.items() if f.code == handoff.HANDOVER_PENDING]
        if committee.more_than_a_third(waiting):
            return HandoverPending(
                f"the committee of epoch {order.epoch} is still reading the previous "
                f"epoch's state: retry {order.sender} sequence {order.sequence} shortly",
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

    def _named_epoch(self, wrong: Mapping[str, AuthorityFailure]) -> int | None:
        """The active epoch that authorities holding more than 1/3 of the stake named in
        their ``wrong_epoch`` answers (a liar alone cannot pick it), or None."""
        named: dict[int, list[str]] = {}
        for authority, failure in wrong.items():
            epoch = int_or_none((failure.extra or {}).get("epoch"))
            if epoch is not None:
                named.setdefault(epoch, []).append(authority)
        for epoch, authorities in sorted(named.items(), reverse=True):
            if self.committee.more_than_a_third(authorities):
                return epoch
        return None

    def _order_at(
        self,
        authority: str,
        signed: SignedOrder,
        payload: bytes,
        vote_digest: bytes,
        credits: Sequence[Certificate] = (),
    ) -> Outcome:
        order = signed.order
        synced = credited = False
        end = time.monotonic() + self.deadline
        pause = HANDOVER_RETRY_S
        while True:
            status, body = self._call(authority, "POST", "/orders", payload)
            if status == 200:
                return self._read_vote(authority, body.get("vote"), vote_digest, order)
            failure = self._refusal(authority, status, body)
            if failure.code == handoff.HANDOVER_PENDING and time.monotonic() + pause < end:
                time.sleep(pause)  # retryable: the node is reading the closed epoch's state
                pause = min(2 * pause, HANDOVER_RETRY_MAX_S)
                continue
            if failure.code == "sequence_locked":
                return self._read_conflict(authority, order, failure, vote_digest)
            behind = int_or_none((failure.extra or {}).get("next_sequence"))
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
                    self._confirm_at(authority, credit, encode(credit.to_json()))
                continue
            return Outcome(authority, failure=failure)

    def _read_vote(
        self,
        authority: str,
        data: Any,
        vote_digest: bytes,
        order: td.TransferOrder | None = None,
    ) -> Outcome:
        """A verified Vote of ``authority`` (noted by the equivocation watch when
        ``order`` is given), or a ``bad_vote`` failure."""
        # hot path: compare the address as text instead of checksumming it
        if not isinstance(data, dict) or str(data.get("authority", "")).lower() != (
            authority.lower()
        ):
            return Outcome(
                authority, failure=AuthorityFailure(authority, "bad_vote", "not its vote")
            )
        try:
            signature = parse_signature(data.get("signature"), "vote.signature")
        except MessageError as exc:
            return Outcome(authority, failure=AuthorityFailure(authority, "bad_vote", str(exc)))
        if not signing.signed_by(vote_digest, signature, authority):
            return Outcome(
                authority,
                failure=AuthorityFailure(
                    authority, "bad_vote", "the vote signature does not verify"
                ),
            )
        if order is not None:
            self.watch.observe(authority, order, signature, self._scope)
        return Outcome(authority, vote=Vote(authority, signature))

    def _read_conflict(
        self,
        authority: str,
        order: td.TransferOrder,
        failure: AuthorityFailure,
        vote_digest: bytes,
    ) -> Outcome:
        """A ``sequence_locked`` answer: the order that holds the sequence at this
        authority, with a vote. The vote is the authority's own (its lock, of any epoch)
        or, for a lock carried over a handover, a member's of the held order's epoch."""
        extra = dict(failure.extra or {})
        if "vote" not in extra and isinstance(extra.get("carried_vote"), dict):
            extra["vote"] = extra["carried_vote"]  # a carried lock: the earlier voter's vote
        if "vote" not in extra:  # a carried candidate shown without its vote
            try:
                held_order = order_from_json(extra.get("order"), "order")
            except (MessageError, ValueError) as exc:
                return Outcome(authority, failure=AuthorityFailure(authority, "bad_vote", str(exc)))
            return Outcome(authority, failure=self._held(authority, order, failure, held_order))
        try:
            held = PendingOrder.from_json(extra, "sequence_locked")
        except (MessageError, ValueError) as exc:
            return Outcome(authority, failure=AuthorityFailure(authority, "bad_vote", str(exc)))
        if held.order == order:  # the same order after all: its vote counts
            return self._read_vote(authority, held.vote.to_json(), vote_digest, order)
        voter = held.vote.authority
        committee = self.committee_of(held.order.epoch)
        if (
            held.order.sender != order.sender
            or held.order.sequence != order.sequence
            or not (
                voter.lower() == authority.lower()
                or (committee is not None and committee.is_member(voter))
            )
            or not held.vote.verify(self.hasher, held.order)
        ):
            return Outcome(
                authority,
                failure=AuthorityFailure(
                    authority, "bad_vote", "sequence_locked without a valid vote of its own"
                ),
            )
        self.watch.observe(voter, held.order, held.vote.signature, self._scope)
        return Outcome(
            authority,
            conflict=held,
            failure=self._held(authority, order, failure, held.order),
        )

    @staticmethod
    def _held(
        authority: str, order: td.TransferOrder, failure: AuthorityFailure, held: td.TransferOrder
    ) -> AuthorityFailure:
        return AuthorityFailure(
            authority,
            "conflict",
            f"holds another order for sequence {order.sequence} (epoch {held.epoch})",
            failure.code,
            failure.status,
            failure.extra,
        )

    # -------------------------------------------------------------- confirmation

    def confirm(self, certificate: Certificate, *, wait_all: bool = False) -> Confirmation:
        """Send ``certificate`` to every authority (catching up lagging ones). Returns once
        authorities with more than 2/3 of the stake hold it applied (the rest carry on in the
        background) or, with ``wait_all``, once every authority answered or the deadline
        passed. Raises NotConfirmed when fewer than a quorum applied it."""
        payload = encode(certificate.to_json())
        applied: set[str] = set()
        failures: dict[str, AuthorityFailure] = {}

        def on_outcome(outcome: Outcome, unfinished: set[str]) -> bool:
            if outcome.failure is not None:
                failures[outcome.authority] = outcome.failure
            else:
                applied.add(outcome.authority)
            return not wait_all and self.committee.has_quorum(applied)

        unfinished = self._gather(
            {a: bind(self._confirm_at, a, certificate, payload) for a in self._endpoints},
            on_outcome,
        )
        for failure in failures.values():
            conflict = (failure.extra or {}).get("conflict")
            if isinstance(conflict, ConflictingCertificate):
                raise conflict
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

    def _confirm_at(self, authority: str, certificate: Certificate, payload: bytes) -> Outcome:
        order = certificate.order
        for attempt in (0, 1):
            status, body = self._call(authority, "POST", "/certificates", payload)
            if status == 200:
                return Outcome(authority, applied=bool(body.get("applied")))
            failure = self._refusal(authority, status, body)
            if failure.code == handoff.CONFLICTING_CERTIFICATE:
                return Outcome(
                    authority, failure=self._conflicting(authority, certificate, failure)
                )
            behind = int_or_none((failure.extra or {}).get("next_sequence"))
            if (
                failure.code == "missing_sequence"
                and self.sync
                and attempt == 0
                and behind is not None
                and behind < order.sequence
            ):
                self.sync_authority(authority, order.sender, behind, order.sequence)
                continue
            return Outcome(authority, failure=failure)
        raise AssertionError("unreachable")  # pragma: no cover

    def _conflicting(
        self, authority: str, submitted: Certificate, failure: AuthorityFailure
    ) -> AuthorityFailure:
        """A 409 ``conflicting_certificate``: believed only when the certificate the
        authority shows is valid under its own epoch's committee, for the same (sender,
        sequence) and another payment (a liar cannot raise the alarm with a forgery).
        The failure's ``extra["conflict"]`` is the ConflictingCertificate; the watch's
        ``on_conflicting_certificate`` handler hears of it once."""
        extra = failure.extra or {}
        try:
            applied = Certificate.from_json(extra.get("certificate"), "certificate")
            self.verify_certificate(applied)
        except (MessageError, InvalidCertificate, ValueError, TypeError) as exc:
            return AuthorityFailure(
                authority, "bad_response", f"conflicting_certificate without a valid one: {exc}"
            )
        if not handoff.equivocation(applied.order, submitted.order):
            return AuthorityFailure(
                authority, "bad_response", "conflicting_certificate for the same payment"
            )
        conflict = ConflictingCertificate(
            f"{authority} applied another payment's certificate for {submitted.order.sender} "
            f"sequence {submitted.order.sequence} (epoch {applied.order.epoch}, amount "
            f"{applied.order.amount} to {applied.order.recipient})",
            authority=authority,
            order=applied.order,
            certificate=applied,
            submitted=submitted,
        )
        for vote in applied.votes:
            self.watch.observe(vote.authority, applied.order, vote.signature, self._scope)
        self.watch.conflicting(conflict, self._scope)
        return AuthorityFailure(
            authority,
            "conflicting_certificate",
            str(conflict),
            failure.code,
            failure.status,
            {**extra, "conflict": conflict},
        )

    def sync_authority(
        self, authority: str, sender: str, from_sequence: int, to_sequence: int
    ) -> int:
        """Push ``sender``'s certificates for sequences [from_sequence, to_sequence) to
        ``authority``, in order, fetched from other authorities and verified first.
        Returns how many were pushed; raises CommitteeError when no authority has them or
        the authority refuses one (``pushed`` on the exception: how many went in first)."""
        pushed, sequence = 0, from_sequence
        try:
            while sequence < to_sequence:
                certificates = self._fetch_certificates(authority, sender, sequence, to_sequence)
                for certificate in certificates:
                    status, body = self._call(
                        authority, "POST", "/certificates", encode(certificate.to_json())
                    )
                    if status != 200:
                        failure = self._refusal(authority, status, body)
                        if failure.code == handoff.CONFLICTING_CERTIFICATE:
                            failure = self._conflicting(authority, certificate, failure)
                            conflict = (failure.extra or {}).get("conflict")
                            if isinstance(conflict, ConflictingCertificate):
                                raise conflict
                        raise CommitteeError(f"sync: {failure}")
                    pushed += 1
                    sequence += 1
        except (CommitteeError, TransportError) as exc:
            exc.pushed = pushed  # type: ignore[attr-defined]
            raise
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
                    self.verify_certificate(certificate)  # under ITS epoch's committee
                    for vote in certificate.votes:
                        self.watch.observe(
                            vote.authority, certificate.order, vote.signature, self._scope
                        )
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

    def watch_certificate(self, certificate: Certificate) -> None:
        """Note the votes of a certificate verified elsewhere (one a wallet or a terminal
        handed in) in the equivocation watch. Only for verified certificates."""
        for vote in certificate.votes:
            self.watch.observe(vote.authority, certificate.order, vote.signature, self._scope)

    # -------------------------------------------------------------- catch-up

    def _account_at(self, authority: str, path: str, push: bool = True) -> Outcome:
        outcome = super()._account_at(authority, path)
        account = outcome.account
        if account is None:
            return outcome
        pending = account.pending
        if (
            pending is not None
            and pending.vote.authority.lower() == authority.lower()
            and pending.vote.verify(self.hasher, pending.order)
        ):
            self.watch.observe(authority, pending.order, pending.vote.signature, self._scope)
        decided = self._decided.get(account.address)
        if push and self.sync and decided is not None and account.next_sequence < decided:
            # typically an answer that came after account_state decided without it
            self._push_later(authority, account.address, account, decided)
        return outcome

    def _certificate_at(
        self,
        authority: str,
        path: str,
        sender: str,
        sequence: int,
        committees: Mapping[int, Committee],
    ) -> Outcome:
        outcome = super()._certificate_at(authority, path, sender, sequence, committees)
        certificate = outcome.certificate
        if certificate is not None:  # verified: its votes go through the watch too
            for vote in certificate.votes:
                self.watch.observe(vote.authority, certificate.order, vote.signature, self._scope)
        return outcome

    def account_state(self, address: str) -> AccountState:
        """See AccountMethods.account_state. An authority that answers (even after the
        decision) with a lower ``next_sequence`` than the committee's is caught up in the
        background (its missing certificates pushed in order); the call does not wait."""
        state = super().account_state(address)
        if self.sync:
            with self._pushing_lock:
                self._decided[state.address] = state.next_sequence
                self._decided.move_to_end(state.address)
                if len(self._decided) > DECIDED_SIZE:
                    self._decided.popitem(last=False)
            for authority, view in state.views.items():
                if view.next_sequence < state.next_sequence:
                    self._push_later(authority, state.address, view, state.next_sequence)
        return state

    def _push_later(self, authority: str, sender: str, view: AccountInfo, to_sequence: int) -> None:
        key = (authority, sender)
        with self._pushing_lock:
            if key in self._pushing:
                return
            self._pushing.add(key)

        def push() -> Outcome:
            try:
                self.sync_authority(authority, sender, view.next_sequence, to_sequence)
            except (CommitteeError, TransportError) as exc:
                log.info("catch-up of %s on %s failed: %s", authority, sender, exc)
            finally:
                with self._pushing_lock:
                    self._pushing.discard(key)
            return Outcome(authority)

        try:
            self._pool.submit(push)
        except RuntimeError:  # the client is closed
            with self._pushing_lock:
                self._pushing.discard(key)

    def catch_up(self, address: str, *, skip: Collection[str] = ()) -> CatchUp:
        """Bring every authority that is behind on ``address`` to the committee's state:
        ask every authority (waiting for all of them, up to the deadline), take the
        committee's ``next_sequence`` (see ``account_state``) and push to each authority
        that answered lower the certificates it misses, in order, fetched from the others
        and verified. Authorities are caught up in parallel; the call waits for them.
        Raises StateUnknown when no more than 1/3 of the stake answered.

        Certificates are applied whatever the balance (a node that missed a credit lets
        it go negative until the credit arrives), so a push does not wait for other
        accounts; the platform still walks its own account first. A push refused
        ``conflicting_certificate`` (two certificates for one sequence) is a failure with
        reason ``conflicting_certificate`` (``extra["conflict"]``). ``skip``: authorities
        not to ask (a caller walking many accounts skips one that timed out instead of
        waiting the deadline on every account)."""
        address = td._address(address, "address")
        path = f"/accounts/{quote(address)}"
        views: dict[str, AccountInfo] = {}
        failures: dict[str, AuthorityFailure] = {}

        def on_outcome(outcome: Outcome, unfinished: set[str]) -> bool:
            if outcome.account is not None and outcome.account.address == address:
                views[outcome.authority] = outcome.account
            elif outcome.failure is not None:
                failures[outcome.authority] = outcome.failure
            return False  # wait for every authority

        failures.update(
            self._gather(
                {
                    a: bind(self._account_at, a, path, False)
                    for a in self._endpoints
                    if a not in skip
                },
                on_outcome,
            )
        )
        state = self._account_state(address, views, failures)
        behind = {
            a: state.next_sequence - v.next_sequence
            for a, v in views.items()
            if v.next_sequence < state.next_sequence
        }
        pushed: dict[str, int] = {}

        def push(authority: str) -> Outcome:
            with self._pushing_lock:  # no background push of the same account meanwhile
                self._pushing.add((authority, address))
            try:
                count = self.sync_authority(
                    authority, address, views[authority].next_sequence, state.next_sequence
                )
            except (CommitteeError, TransportError) as exc:
                pushed[authority] = getattr(exc, "pushed", 0)
                raise
            finally:
                with self._pushing_lock:
                    self._pushing.discard((authority, address))
            pushed[authority] = count
            return Outcome(authority)

        futures = [self._pool.submit(guard, a, bind(push, a)) for a in behind]
        for future in futures:
            outcome = future.result()
            if outcome.failure is not None:
                failures[outcome.authority] = outcome.failure
        return CatchUp(address, state.next_sequence, behind, pushed, failures, frozenset(views))
