"""What the committee client raises. ``CommitteeError`` is the base of all of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastpay_protocol import typed_data as td
from fastpay_protocol.messages import Certificate, PendingOrder, Vote


@dataclass(frozen=True)
class AuthorityFailure:
    """Why one authority gave no usable answer.

    ``reason``: "timeout", "unreachable" (refused, reset), "bad_response" (not the
    protocol), "bad_vote" (a vote that does not verify: a lying or broken node),
    "refused" (a protocol error: see ``code``, ``status`` and ``extra``), "conflict" (holds
    another order for this sequence), "sync_failed" (lagging and could not be caught up),
    "conflicting_certificate" (applied a different payment's certificate for this
    sequence: ``extra`` holds the verified ``order`` and ``certificate``).
    """

    authority: str
    reason: str
    message: str = ""
    code: str | None = None
    status: int | None = None
    extra: Mapping[str, Any] | None = None

    def __str__(self) -> str:
        what = self.reason if self.code is None else f"{self.reason} {self.status} {self.code}"
        return f"{self.authority}: {what}" + (f" ({self.message})" if self.message else "")


class CommitteeError(Exception):
    """Base class of the committee client's errors."""


class NoQuorum(CommitteeError):
    """Authorities with more than 2/3 of the stake did not vote for (or apply) it.

    ``failures``: authority address -> AuthorityFailure for every authority that did not;
    ``votes``: the valid votes that were gathered (not enough).
    """

    def __init__(
        self,
        message: str,
        *,
        order: td.TransferOrder | None = None,
        failures: Mapping[str, AuthorityFailure] | None = None,
        votes: Mapping[str, Vote] | None = None,
    ):
        self.order = order
        self.failures = dict(failures or {})
        self.votes = dict(votes or {})
        details = "; ".join(str(failure) for failure in self.failures.values())
        super().__init__(message + (f": {details}" if details else ""))

    def codes(self) -> set[str]:
        """The protocol error codes the authorities answered (e.g. insufficient_balance)."""
        return {failure.code for failure in self.failures.values() if failure.code}

    @property
    def retryable(self) -> bool:
        """The same order may still be certified later: no authority refused it for good
        (down, slow, behind, a handover in progress, a balance not seen yet)."""
        return not (self.codes() & PERMANENT_CODES)


class ConflictingOrder(NoQuorum):
    """Authorities hold another order for this (sender, sequence): the sender signed two
    orders for one sequence and at most one can ever be certified.

    ``conflicts``: authority -> the PendingOrder (order + that authority's valid vote) it
    holds. Two different orders with valid votes of one authority for one (sender,
    sequence) are equivocation evidence (``messages.is_equivocation``).
    """

    def __init__(self, message: str, *, conflicts: Mapping[str, PendingOrder], **kwargs: Any):
        self.conflicts = dict(conflicts)
        super().__init__(message, **kwargs)


class NotConfirmed(NoQuorum):
    """A valid certificate that authorities with more than 2/3 of the stake have not
    applied yet (down or unreachable). Sending it again later is safe (idempotent)."""

    def __init__(self, message: str, *, certificate: Certificate, **kwargs: Any):
        self.certificate = certificate
        super().__init__(message, order=certificate.order, **kwargs)


class StateUnknown(NoQuorum):
    """Too few authorities answered an account query to trust any answer."""


class WrongEpoch(NoQuorum):
    """Authorities refused the order ``wrong_epoch``: its epoch is not the active one by
    their clocks (closed, or not active yet). ``active_epoch``: the epoch authorities
    holding more than 1/3 of the order's committee's stake (at least one honest one) named
    as active, or None when they do not agree. A sender holding the key re-signs the same
    payment for that epoch (same sequence: ``epochs.reepoch``)."""

    def __init__(self, message: str, *, active_epoch: int | None, **kwargs: Any):
        self.active_epoch = active_epoch
        super().__init__(message, **kwargs)


class HandoverPending(NoQuorum):
    """Members of the order's epoch answered 503 ``handover_pending``: they have not read
    the previous epoch's frozen state yet (docs/protocol.md, "Epochs"). Retry the same
    order shortly; nothing was refused for good."""


class ConflictingCertificate(CommitteeError):
    """An authority applied a *different payment's* certificate for this (sender,
    sequence) (409 ``conflicting_certificate``): two valid certificates exist for one
    sequence, which needs more than f faulty members of some committee. Never retry or
    credit on top of it: record it and alert (the platform does, authorities.services).

    ``order``/``certificate``: what the authority applied (verified against its epoch's
    committee); ``submitted``: the certificate that was being confirmed; ``authority``:
    who answered."""

    def __init__(
        self,
        message: str,
        *,
        authority: str,
        order: td.TransferOrder,
        certificate: Certificate,
        submitted: Certificate,
    ):
        self.authority = authority
        self.order = order
        self.certificate = certificate
        self.submitted = submitted
        super().__init__(message)


#: refusals of an order itself: the same order will never be certified (``wrong_epoch``: a
#: new one, re-signed for the active epoch, may be)
PERMANENT_CODES = frozenset({"invalid_signature", "invalid_request", "wrong_epoch"})
