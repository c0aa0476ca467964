"""Equivocation watch: every verified vote a client receives is compared with the votes it
has seen for the same (authority, sender, sequence).

An honest authority never signs two different payments for one (sender, sequence), in any
epoch (its lock on the sequence outlives an epoch change): two such votes are evidence
that AuthorityManager slashes (``handoff.equivocation``). A payment re-signed for a later
epoch (same sender, recipient, token, amount and sequence: ``handoff.same_payment``) is
not: the handover rule makes the new committee vote for exactly that. The watch keeps
the last ``size`` (authority, sender, sequence) keys in memory: one dictionary lookup per
vote under a lock, no I/O, and it calls ``on_equivocation`` (outside the lock) the first
time a key conflicts.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastpay_protocol import handoff
from fastpay_protocol import typed_data as td
from fastpay_protocol.messages import PendingOrder, Vote

if TYPE_CHECKING:
    from fastpay_protocol.committee_errors import ConflictingCertificate

log = logging.getLogger(__name__)

DEFAULT_SIZE = 50_000


@dataclass(frozen=True)
class Equivocation:
    """Two valid votes of ``authority`` for different orders of one (sender, sequence):
    ``first`` is the one seen earlier."""

    authority: str
    first: PendingOrder
    second: PendingOrder


class VoteWatch:
    """Remembers recent verified votes; reports conflicting ones. Thread-safe.

    ``observe`` must only be given votes already verified against their order (the client
    verifies every vote before it counts): a forged vote would otherwise be remembered.

    ``on_conflicting_certificate``: told (once per sender, sequence and authority) of a
    verified ``ConflictingCertificate`` a client met: an authority applied another
    payment's certificate for a sequence the client confirmed (the platform records it
    and alerts)."""

    def __init__(
        self,
        *,
        size: int = DEFAULT_SIZE,
        on_equivocation: Callable[[Equivocation], object] | None = None,
        on_conflicting_certificate: Callable[[ConflictingCertificate], object] | None = None,
    ):
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self.on_equivocation = on_equivocation
        self.on_conflicting_certificate = on_conflicting_certificate
        self._seen: OrderedDict[tuple, tuple[td.TransferOrder, bytes]] = OrderedDict()
        self._reported: OrderedDict[tuple, None] = OrderedDict()
        self._conflicts: OrderedDict[tuple, None] = OrderedDict()
        self._lock = threading.Lock()
        self.found = 0  # equivocations reported by this watch

    def __len__(self) -> int:
        return len(self._seen)

    def forget(self) -> None:
        """Drop every remembered vote (a process that starts on a fresh world: a local
        chain reset to the same contract addresses, or a test)."""
        with self._lock:
            self._seen.clear()
            self._reported.clear()
            self._conflicts.clear()

    def observe(
        self, authority: str, order: td.TransferOrder, signature: bytes, scope: object = None
    ) -> Equivocation | None:
        """Note ``authority``'s vote for ``order``; the Equivocation when it conflicts with
        a vote seen before (reported once per key). ``scope``: what the vote was verified
        under (a client passes its chain id and verifying contract), so that clients of
        unrelated deployments sharing one watch are never compared."""
        key = (scope, authority.lower(), order.sender, order.sequence)
        with self._lock:
            seen = self._seen.get(key)
            if seen is None:
                self._seen[key] = (order, signature)
                if len(self._seen) > self.size:
                    self._seen.popitem(last=False)
                return None
            if not handoff.equivocation(seen[0], order) or key in self._reported:
                return None  # the same payment (re-epoched or not) is no evidence
            self._reported[key] = None
            if len(self._reported) > self.size:
                self._reported.popitem(last=False)
            self.found += 1
        found = Equivocation(
            authority,
            PendingOrder(seen[0], Vote(authority, seen[1])),
            PendingOrder(order, Vote(authority, signature)),
        )
        if self.on_equivocation is not None:
            try:
                self.on_equivocation(found)
            except Exception:  # the caller's quorum path must not break on a report
                log.exception("equivocation handler failed for %s", authority)
        return found

    def conflicting(self, conflict: ConflictingCertificate, scope: object = None) -> bool:
        """Hand a verified ConflictingCertificate to ``on_conflicting_certificate`` the
        first time this (scope, sender, sequence, authority) is seen; True then."""
        order = conflict.submitted.order
        key = (scope, order.sender, order.sequence, conflict.authority.lower())
        with self._lock:
            if key in self._conflicts:
                return False
            self._conflicts[key] = None
            if len(self._conflicts) > self.size:
                self._conflicts.popitem(last=False)
        log.error("%s", conflict)
        if self.on_conflicting_certificate is not None:
            try:
                self.on_conflicting_certificate(conflict)
            except Exception:  # the caller's confirmation path must not break on a report
                log.exception("conflicting-certificate handler failed for %s", order.sender)
        return True


_process_watch: VoteWatch | None = None
_process_lock = threading.Lock()


def process_watch() -> VoteWatch:
    """The watch every CommitteeClient of this process uses unless given one: votes
    received through any client (any epoch) are checked against one memory. An embedding
    application sets its ``on_equivocation`` once (the platform records evidence)."""
    global _process_watch
    if _process_watch is None:
        with _process_lock:
            if _process_watch is None:
                _process_watch = VoteWatch()
    return _process_watch
