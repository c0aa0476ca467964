"""Exact splits and platform fees in integer ledger units (docs/splits.md). Pure: no
Django, no I/O; the services that post split payments and invoices call these.

Splits. A total is shared among parts, each a fixed amount or a share in basis points.
Fixed parts are served first; the rest is shared by the basis-point parts, whose points
must add up to exactly 10,000. Each such part gets ``floor(rest * bps / 10000)``; the
units left over (fewer than the number of parts) go one each to the parts with the
largest remainders, ties to the part listed first (the largest remainder method). So the
parts always add up to the total, none is negative, and the remainder's owner is stated:
the first-listed of the parts with the largest fractional shares.

Fees. ``fee = max(minimum, ceil(amount * bps / 10000) + fixed)``; a fee above the amount
is refused (FeeExceedsAmount), never a negative payout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

BPS_WHOLE = 10_000


class SplitError(ValueError):
    """The parts cannot share this total; ``param`` names what is wrong."""

    def __init__(self, message: str, param: str = "splits"):
        super().__init__(message)
        self.param = param


class FeeExceedsAmount(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Part:
    """A fixed amount (``units``) or a share (``bps``) of what the fixed parts leave."""

    units: int | None = None
    bps: int | None = None

    def __post_init__(self):
        if (self.units is None) == (self.bps is None):
            raise SplitError("a part has either an amount or basis points, not both")
        if self.units is not None and self.units <= 0:
            raise SplitError("a fixed part must be positive", "amount")
        if self.bps is not None and not 0 < self.bps <= BPS_WHOLE:
            raise SplitError(f"basis points must be between 1 and {BPS_WHOLE}", "bps")


def split(total: int, parts: Sequence[Part]) -> list[int]:
    """``total`` ledger units shared among ``parts``, in their order; exact."""
    if total <= 0:
        raise SplitError("the total must be positive", "amount")
    if not parts:
        raise SplitError("at least one part")
    fixed = sum(p.units for p in parts if p.units is not None)
    shares = [(i, p.bps) for i, p in enumerate(parts) if p.bps is not None]
    rest = total - fixed
    if rest < 0:
        raise SplitError(f"the fixed parts ({fixed}) exceed the total ({total})")
    if not shares:
        if rest:
            raise SplitError(f"the parts sum to {fixed}, not to the total {total}")
        return [p.units for p in parts]  # type: ignore[misc]
    points = sum(bps for _, bps in shares)
    if points != BPS_WHOLE:
        raise SplitError(f"the basis points add up to {points}, not {BPS_WHOLE}", "bps")
    amounts = [p.units or 0 for p in parts]
    remainders = []
    for i, bps in shares:
        amounts[i], remainder = divmod(rest * bps, BPS_WHOLE)
        remainders.append((remainder, i))
    left = rest - sum(amounts[i] for i, _ in shares)
    # the largest remainders first; among equals, the part listed first
    for _, i in sorted(remainders, key=lambda r: (-r[0], r[1]))[:left]:
        amounts[i] += 1
    return amounts


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """A merchant's platform fee: ``bps`` of the amount (rounded up) plus ``fixed``, at
    least ``minimum``; all in ledger units but bps."""

    bps: int = 0
    fixed: int = 0
    minimum: int = 0

    def __post_init__(self):
        if not 0 <= self.bps <= BPS_WHOLE:
            raise ValueError(f"fee basis points must be between 0 and {BPS_WHOLE}")
        if self.fixed < 0 or self.minimum < 0:
            raise ValueError("fee amounts cannot be negative")


def fee(amount: int, schedule: FeeSchedule) -> int:
    """The platform's fee on ``amount`` ledger units; raises FeeExceedsAmount."""
    if amount <= 0:
        raise FeeExceedsAmount("the amount must be positive")
    proportional = -(-amount * schedule.bps // BPS_WHOLE)  # ceiling division
    charged = max(schedule.minimum, proportional + schedule.fixed)
    if charged > amount:
        raise FeeExceedsAmount(f"a fee of {charged} units exceeds the amount of {amount} units")
    return charged
