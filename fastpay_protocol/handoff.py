"""The epoch handoff rules of docs/protocol.md ("Epochs and the handover"), as pure
functions: no I/O, no clock, no database. The authority node calls them inside its
transactions and the committee simulation (tests/protocol/simulation/) calls the same
functions, so what the simulation checks is the rule the node runs.

The rule (no overlap, verified handover):

- Epoch ``e`` is ACTIVE on ``[activates_at[e], activates_at[e+1])`` and CLOSED after.
  An honest node votes only for orders of the active epoch by its own clock, and only
  if it is a member of it (``wrong_epoch`` otherwise): at any instant one committee votes.
- A member of ``e+1`` casts no vote in ``e+1`` before it completed the handover of ``e``
  (``handover_pending``): it read the frozen state (applied certificates, pending votes)
  of members of ``e`` holding more than 2/3 of ``e``'s stake (``handover_sources_enough``).
  A pending vote read there becomes a CARRIED lock at (sender, sequence) when the node has
  no certificate for it (``carried_candidate``).
- At (sender, s) a node votes only for an order that is ``same_payment`` as every carried
  candidate and as its own earlier vote at s (the sender re-signs its pending order for
  the new epoch: a "re-epoched" order); otherwise ``sequence_locked``.
- A certificate is final: it is applied at any time, whatever its epoch and the balance
  (a node that missed a credit lets the balance go negative until it arrives); a second
  certificate at an applied (sender, s) is a no-op when ``same_payment`` and a
  ``conflicting_certificate`` otherwise.

Orders are duck-typed: anything with ``sender, recipient, token, amount, sequence,
epoch`` (``typed_data.TransferOrder`` with EIP-55 addresses, ``wire.Order`` lower-case).
Refusal fields hold the values as given (orders stay objects: the caller renders them).
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from fastpay_protocol.membership import Committee
from fastpay_protocol.wire import MessageError


class OrderLike(Protocol):
    sender: str
    recipient: str
    token: str
    amount: int
    sequence: int
    epoch: int


class ScheduleError(MessageError):
    """An epoch schedule that breaks the rule; ``param`` names the entry."""


# ------------------------------------------------------------------ the schedule


@dataclass(frozen=True)
class EpochInfo:
    """One epoch: its committee and when it becomes active (unix seconds; genesis: 0)."""

    epoch: int
    committee: Committee
    activates_at: int


class Schedule:
    """The epochs a node or client knows, in order: consecutive epoch numbers, strictly
    increasing ``activates_at`` (integers), each committee carrying its own epoch number.
    Built from the committee file or the chain; immutable (``with_epoch`` gives a new one
    when an epoch is announced)."""

    def __init__(self, epochs: Iterable[EpochInfo]) -> None:
        infos = tuple(epochs)
        if not infos:
            raise ScheduleError("epochs", "a schedule has at least one epoch")
        for i, info in enumerate(infos):
            param = f"epochs[{i}]"
            if not isinstance(info, EpochInfo):
                raise ScheduleError(param, "must be an EpochInfo")
            if type(info.epoch) is not int or info.epoch < 0:
                raise ScheduleError(
                    f"{param}.epoch", f"must be an integer >= 0, got {info.epoch!r}"
                )
            if type(info.activates_at) is not int or info.activates_at < 0:
                raise ScheduleError(
                    f"{param}.activates_at",
                    f"must be an integer >= 0 (unix seconds), got {info.activates_at!r}",
                )
            if not isinstance(info.committee, Committee):
                raise ScheduleError(f"{param}.committee", "must be a Committee")
            if info.committee.epoch != info.epoch:
                raise ScheduleError(
                    f"{param}.committee",
                    f"is the committee of epoch {info.committee.epoch}, not {info.epoch}",
                )
            if i:
                before = infos[i - 1]
                if info.epoch != before.epoch + 1:
                    raise ScheduleError(
                        f"{param}.epoch",
                        f"epochs must be consecutive: {info.epoch} follows {before.epoch}",
                    )
                if info.activates_at <= before.activates_at:
                    raise ScheduleError(
                        f"{param}.activates_at",
                        f"must be after epoch {before.epoch}'s activates_at "
                        f"{before.activates_at}, got {info.activates_at}",
                    )
        self._infos = infos
        self._first = infos[0].epoch
        self._starts = [info.activates_at for info in infos]

    def __repr__(self) -> str:
        epochs = ", ".join(f"{i.epoch}@{i.activates_at}" for i in self._infos)
        return f"Schedule({epochs})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schedule):
            return NotImplemented
        return self._infos == other._infos

    def __hash__(self) -> int:
        return hash(self._infos)

    @property
    def epochs(self) -> tuple[EpochInfo, ...]:
        return self._infos

    def info(self, epoch: int) -> EpochInfo | None:
        index = epoch - self._first
        if 0 <= index < len(self._infos):
            return self._infos[index]
        return None

    def active_epoch(self, now: float) -> int | None:
        """The latest epoch with ``activates_at <= now`` (None: before the first)."""
        index = bisect.bisect_right(self._starts, now) - 1
        return None if index < 0 else self._infos[index].epoch

    def closes_at(self, epoch: int) -> int | None:
        """When ``epoch`` stops: the next epoch's ``activates_at`` (None: no successor
        known yet, or an unknown epoch)."""
        if self.info(epoch) is None:
            return None
        following = self.info(epoch + 1)
        return None if following is None else following.activates_at

    def committee(self, epoch: int) -> Committee | None:
        info = self.info(epoch)
        return None if info is None else info.committee

    def latest(self) -> EpochInfo:
        return self._infos[-1]

    def is_closed(self, epoch: int, now: float) -> bool:
        """``epoch`` is known and closed by the clock ``now``: its members no longer vote
        in it, so they may serve its frozen state."""
        closes = self.closes_at(epoch)
        return closes is not None and now >= closes

    def settles_until(self, epoch: int, settlement_window: int) -> int | None:
        """The last second an ``epoch`` certificate settles on-chain (``settlesUntil``):
        the close plus the window; None while the epoch has no successor."""
        closes = self.closes_at(epoch)
        return None if closes is None else closes + settlement_window

    def with_epoch(self, info: EpochInfo) -> Schedule:
        """This schedule with ``info`` announced after the latest epoch."""
        return Schedule((*self._infos, info))


# ------------------------------------------------------------------ payments


def payment_key(o: OrderLike) -> tuple[str, str, str, int, int]:
    """What a payment is, the epoch aside: (sender, recipient, token, amount, sequence),
    addresses lower-case."""
    return (o.sender.lower(), o.recipient.lower(), o.token.lower(), o.amount, o.sequence)


def same_payment(a: OrderLike, b: OrderLike) -> bool:
    """Same sender, recipient, token, amount and sequence (the epoch ignored): ``b`` is
    ``a`` re-signed for another epoch, or ``a`` itself."""
    return payment_key(a) == payment_key(b)


def equivocation(a_order: OrderLike, b_order: OrderLike) -> bool:
    """Two votes by one authority for these orders are evidence (slashable): same
    (sender, sequence) and not the same payment, whatever their epochs."""
    return (
        a_order.sender.lower() == b_order.sender.lower()
        and a_order.sequence == b_order.sequence
        and not same_payment(a_order, b_order)
    )


# ------------------------------------------------------------------ decisions


@dataclass(frozen=True)
class Refusal:
    """A refused vote or certificate: the stable error ``code`` of docs/protocol.md and
    the extra fields of the answer (e.g. ``Refusal("wrong_epoch", {"epoch": 3})``)."""

    code: str
    fields: dict[str, Any] = field(default_factory=dict)


#: the codes vote_decision and apply_decision return
WRONG_EPOCH = "wrong_epoch"
HANDOVER_PENDING = "handover_pending"
SEQUENCE_MISMATCH = "sequence_mismatch"
SEQUENCE_LOCKED = "sequence_locked"
INSUFFICIENT_BALANCE = "insufficient_balance"
MISSING_SEQUENCE = "missing_sequence"
CONFLICTING_CERTIFICATE = "conflicting_certificate"


def handover_epoch(schedule: Schedule, epoch: int) -> int | None:
    """The epoch whose handover a member of ``epoch`` must complete before voting in it:
    ``epoch - 1`` when the schedule knows it (None for the first known epoch)."""
    return epoch - 1 if schedule.info(epoch - 1) is not None else None


def vote_decision(
    *,
    order: OrderLike,
    now: float,
    schedule: Schedule,
    me: str,
    handed_over: set[int],
    next_sequence: int,
    pending: OrderLike | None,
    carried: Sequence[OrderLike],
    balance: int,
) -> Literal["vote", "same"] | Refusal:
    """May the node ``me`` vote for ``order`` at ``now`` (its own clock)?

    ``handed_over``: the epochs whose handover this node completed; ``next_sequence``: the
    sender's next sequence here; ``pending``: the order this node last voted for for the
    sender (its lock, any epoch; None if none); ``carried``: the carried lock candidates
    for (sender, order.sequence) read in handovers; ``balance``: the sender's balance of
    ``order.token`` here.

    Returns "vote" (sign it and make it the pending order), "same" (``order`` is the
    pending order: answer the existing vote), or a Refusal, checked in this order:
    ``wrong_epoch`` {"epoch": active} (not the active epoch, or ``me`` not a member of
    it) -> ``handover_pending`` {"epoch": active} -> ``sequence_mismatch``
    {"next_sequence"} -> ``sequence_locked`` {"order": pending} (an other payment holds
    the sequence: this node's own vote, of any epoch) -> ``sequence_locked`` {"order":
    candidate} (a carried candidate is another payment) -> ``insufficient_balance``
    {"balance"}.

    The node's own pending vote of an earlier epoch at this sequence counts as a carried
    candidate: voting for another payment at the same (sender, sequence) would be an
    equivocation even across epochs; the same payment re-epoched gets a vote.
    """
    active = schedule.active_epoch(now)
    committee = None if active is None else schedule.committee(active)
    if order.epoch != active or committee is None or not committee.is_member(me):
        return Refusal(WRONG_EPOCH, {"epoch": active})
    previous = handover_epoch(schedule, active)
    if previous is not None and previous not in handed_over:
        return Refusal(HANDOVER_PENDING, {"epoch": active})
    locked = pending is not None and pending.sequence == order.sequence
    if locked and pending.epoch == order.epoch and same_payment(pending, order):  # type: ignore[union-attr]
        return "same"
    if order.sequence != next_sequence:
        return Refusal(SEQUENCE_MISMATCH, {"next_sequence": next_sequence})
    if locked and not same_payment(pending, order):  # type: ignore[arg-type]
        return Refusal(SEQUENCE_LOCKED, {"order": pending})
    for candidate in carried:
        if not same_payment(candidate, order):
            return Refusal(SEQUENCE_LOCKED, {"order": candidate})
    if balance < order.amount:
        return Refusal(INSUFFICIENT_BALANCE, {"balance": balance})
    return "vote"


def apply_decision(
    *,
    order: OrderLike,
    next_sequence: int,
    applied_at_sequence: OrderLike | None,
) -> Literal["apply", "noop"] | Refusal:
    """What to do with a VALID certificate for ``order`` (its quorum checked against
    its own epoch's committee by the caller), whatever its epoch and the balance.

    ``next_sequence``: the sender's next sequence here; ``applied_at_sequence``: the
    order this node applied at ``order.sequence`` (None if none). Returns "apply" (debit
    the sender even below zero, credit the recipient, next_sequence + 1, clear the
    pending vote and carried candidates of that sequence), "noop" (already applied: the
    same payment, possibly another epoch), or a Refusal: ``conflicting_certificate``
    {"order": the applied order} (a different payment was applied at that sequence: more
    than f of some committee lied; log at ERROR and alert) or ``missing_sequence``
    {"next_sequence"} (earlier certificates of the sender are missing here).

    A sequence below ``next_sequence`` with no known order (history that began after it,
    e.g. a genesis snapshot) is a "noop": there is nothing to compare it with.
    """
    if applied_at_sequence is not None:
        if same_payment(applied_at_sequence, order):
            return "noop"
        return Refusal(CONFLICTING_CERTIFICATE, {"order": applied_at_sequence})
    if order.sequence > next_sequence:
        return Refusal(MISSING_SEQUENCE, {"next_sequence": next_sequence})
    if order.sequence < next_sequence:
        return "noop"
    return "apply"


# ------------------------------------------------------------------ the handover


def handover_sources_enough(committee: Committee, sources: Iterable[str]) -> bool:
    """The distinct members of ``committee`` among ``sources`` (addresses, any case) hold
    more than 2/3 of its stake (exact integers; exactly 2/3 is not enough): an honest
    source among them saw every certificate of that epoch or holds a vote for it."""
    return committee.has_quorum(sources)


def serves_frozen(
    schedule: Schedule,
    epoch: int,
    now: float,
    handed_over: Collection[int] | None = None,
) -> bool:
    """A source may serve ``epoch``'s state as frozen at ``now`` (its own clock): the
    epoch is closed, so it no longer votes in it.

    ``handed_over`` (the epochs whose handover this source completed): when given, a
    member of ``epoch`` serves it frozen only once it also completed the handover of
    ``epoch - 1`` (when the schedule knows it). A member that never completed it (down
    for the whole epoch) misses the locks carried from ``epoch - 1``: counted among the
    sources, it could hide a certificate of ``epoch - 1`` from the next committee.
    """
    if not schedule.is_closed(epoch, now):
        return False
    previous = handover_epoch(schedule, epoch)
    return handed_over is None or previous is None or previous in handed_over


def carried_candidate(*, entry: OrderLike, next_sequence: int, certified_at_sequence: bool) -> bool:
    """A pending entry read in a handover becomes a carried lock candidate for (sender,
    sequence) when it is for the sender's next sequence here and no certificate for that
    (sender, sequence) is known (the caller verified the entry's signatures and that the
    voter is a member of the order's epoch)."""
    return entry.sequence == next_sequence and not certified_at_sequence


__all__ = [
    "CONFLICTING_CERTIFICATE",
    "HANDOVER_PENDING",
    "INSUFFICIENT_BALANCE",
    "MISSING_SEQUENCE",
    "SEQUENCE_LOCKED",
    "SEQUENCE_MISMATCH",
    "WRONG_EPOCH",
    "EpochInfo",
    "Refusal",
    "Schedule",
    "ScheduleError",
    "apply_decision",
    "carried_candidate",
    "equivocation",
    "handover_epoch",
    "handover_sources_enough",
    "payment_key",
    "same_payment",
    "serves_frozen",
    "vote_decision",
]
