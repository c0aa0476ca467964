"""From quotes to one rate: fresh quotes only, the median, outliers dropped, the median
again. Pure (no I/O, no Django), so every edge case is tested without a server.

A quote older than ``max_age_s`` (or dated more than ``MAX_FUTURE_S`` ahead of our clock)
is never used. Of the fresh ones, a quote further than ``max_deviation_bps`` from their
median is dropped; the rate is the median of what is left, and needs ``min_sources`` of
them: with two quotes that disagree there is no telling which one is right, so there is no
rate (RatesUnavailable), never a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

from merchants.rates.providers import RATE_PLACES, Quote

MAX_FUTURE_S = 60
_QUANTUM = Decimal(1).scaleb(-RATE_PLACES)


class RatesUnavailable(Exception):
    """No trustworthy rate now: too few fresh quotes, or quotes that disagree."""

    def __init__(self, message: str, dropped: Sequence[tuple[str, str]] = ()):
        super().__init__(message)
        self.dropped = tuple(dropped)


@dataclass(frozen=True, slots=True)
class Rate:
    """1 ``base`` = ``rate`` ``quote``, from ``sources`` (the quotes used), computed at
    ``computed_at`` (unix seconds); ``dropped``: (provider, why) of those not used."""

    base: str
    quote: str
    rate: Decimal
    sources: tuple[Quote, ...]
    computed_at: float
    dropped: tuple[tuple[str, str], ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "quote": self.quote,
            "rate": str(self.rate),
            "sources": [q.to_json() for q in self.sources],
            "dropped": [{"provider": p, "reason": r} for p, r in self.dropped],
            "computed_at": int(self.computed_at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Rate:
        base, quote = data["base"], data["quote"]
        return cls(
            base,
            quote,
            Decimal(data["rate"]),
            tuple(
                Quote(s["provider"], base, quote, Decimal(s["rate"]), float(s["at"]))
                for s in data["sources"]
            ),
            float(data["computed_at"]),
            tuple((d["provider"], d["reason"]) for d in data.get("dropped", [])),
        )


def median(values: Sequence[Decimal]) -> Decimal:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    with localcontext() as context:
        context.prec = 40
        return ((ordered[middle - 1] + ordered[middle]) / 2).quantize(_QUANTUM)


def deviation_bps(value: Decimal, reference: Decimal) -> Decimal:
    """|value - reference| in basis points of ``reference``."""
    with localcontext() as context:
        context.prec = 40
        return abs(value - reference) * 10_000 / reference


def aggregate(
    quotes: Sequence[Quote],
    *,
    base: str,
    quote: str,
    now: float,
    max_age_s: float,
    max_deviation_bps: int,
    min_sources: int,
    dropped: Sequence[tuple[str, str]] = (),
) -> Rate:
    """The rate from ``quotes`` (all for base/quote); ``dropped``: providers already
    out (down, garbage), carried into the result and the error for the record."""
    out = list(dropped)
    fresh = []
    for q in quotes:
        if now - q.at > max_age_s:
            out.append((q.provider, f"stale: {int(now - q.at)} s old (max {int(max_age_s)} s)"))
        elif q.at - now > MAX_FUTURE_S:
            out.append((q.provider, f"dated {int(q.at - now)} s in the future"))
        else:
            fresh.append(q)
    if len(fresh) < min_sources:
        raise RatesUnavailable(
            f"{base}/{quote}: {len(fresh)} fresh quote(s), {min_sources} needed", out
        )
    centre = median([q.rate for q in fresh])
    kept = []
    for q in fresh:
        off = deviation_bps(q.rate, centre)
        if off > max_deviation_bps:
            out.append((q.provider, f"{q.rate} is {off:.0f} bps from the median {centre}"))
        else:
            kept.append(q)
    if len(kept) < min_sources:
        raise RatesUnavailable(
            f"{base}/{quote}: the quotes disagree by more than {max_deviation_bps} bps", out
        )
    return Rate(base, quote, median([q.rate for q in kept]), tuple(kept), now, tuple(out))
