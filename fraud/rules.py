"""The fraud rules. Each is a small function (subject, history, params) -> Hit | None.

`History` reads what the rules need about the payer, lazily and at most once per
assessment, so a rule that does not run costs no query. Amount thresholds are whole tokens
in params and ledger units here.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property

from fastpay.money import format_units
from fraud.geo import duration_text, haversine_km
from fraud.models import Channel, RiskProfile, VerificationTier
from wallets.models import Payment, PaymentState

REVIEW = "review"
BLOCK = "block"


@dataclass(frozen=True, slots=True)
class Subject:
    """What is assessed: an online payment before money moves, or an offline redemption."""

    payer: object
    payee: object
    token: object
    amount: int  # ledger units
    occurred_at: datetime  # online: now; offline: when the device made the payment
    latitude: Decimal | None = None
    longitude: Decimal | None = None
    channel: str = Channel.ONLINE
    reference: str = ""

    @property
    def located(self) -> bool:
        return self.latitude is not None and self.longitude is not None

    def units(self, whole_tokens: int) -> int:
        return whole_tokens * 10**self.token.ledger_decimals

    def show(self, units: int) -> str:
        text = format_units(units, self.token.ledger_decimals).rstrip("0").rstrip(".")
        return f"{text} {self.token.symbol}"


@dataclass(frozen=True, slots=True)
class Hit:
    rule: str
    score: int  # 0-100
    text: str  # for reviewers: "34.2 km from last payment 3 min earlier"
    figures: dict = field(default_factory=dict)
    action: str = REVIEW

    def as_reason(self) -> dict:
        return {
            "rule": self.rule,
            "score": self.score,
            "action": self.action,
            "text": self.text,
            "figures": self.figures,
        }


@dataclass(frozen=True, slots=True)
class Located:
    latitude: Decimal
    longitude: Decimal
    at: datetime


class History:
    """The payer's past as the rules see it (payments before `subject.occurred_at`)."""

    def __init__(self, subject: Subject, thresholds: dict):
        self.subject = subject
        self.thresholds = thresholds

    def _payments(self):
        return Payment.objects.filter(
            payer_id=self.subject.payer.pk, created_at__lte=self.subject.occurred_at
        )

    @cached_property
    def _profiles(self) -> dict[int, RiskProfile]:
        ids = [self.subject.payer.pk, self.subject.payee.pk]
        return {p.user_id: p for p in RiskProfile.objects.filter(user_id__in=ids)}

    @property
    def payer_profile(self) -> RiskProfile | None:
        return self._profiles.get(self.subject.payer.pk)

    @property
    def payee_profile(self) -> RiskProfile | None:
        return self._profiles.get(self.subject.payee.pk)

    @property
    def tier(self) -> int:
        profile = self.payer_profile
        return profile.verification_tier if profile else VerificationTier.BASIC

    @cached_property
    def tier_limits(self) -> dict:
        tiers = self.thresholds["tier_limits"].params["tiers"]
        return tiers.get(str(self.tier)) or tiers["1"]

    @cached_property
    def review_limit(self) -> int:
        """Ledger units at which a single payment is held: the lower of the payer's tier
        limit and the large-amount threshold. Structuring hides just under it."""
        single = self.subject.units(self.tier_limits["single_tokens"])
        large = self.subject.units(self.thresholds["large_amount"].params["review_at_tokens"])
        return min(single, large)

    @cached_property
    def last_located(self) -> Located | None:
        row = (
            self._payments()
            .filter(latitude__isnull=False, longitude__isnull=False)
            .order_by("-created_at")
            .values_list("latitude", "longitude", "created_at")
            .first()
        )
        return Located(*row) if row else None

    @cached_property
    def window(self) -> dict:
        """Counts and sums of the payer's non-failed payments in the rules' windows."""
        at = self.subject.occurred_at
        burst = self.thresholds["burst"].params
        struct = self.thresholds["structuring"].params
        day_start = at - timedelta(hours=24)
        burst_start = at - timedelta(minutes=burst["window_minutes"])
        struct_start = at - timedelta(minutes=struct["window_minutes"])
        limit = self.review_limit
        low = limit * (100 - struct["band_pct"]) // 100
        token = self.subject.token.pk
        # Rows, summed here: four filtered aggregates cost ~1 ms of ORM compilation per
        # payment, more than reading the few rows a payer makes in a day (the tier's
        # day_count bounds what an honest payer has here).
        rows = (
            self._payments()
            .exclude(state=PaymentState.FAILED)
            .filter(created_at__gte=min(day_start, burst_start, struct_start))
            .values_list("created_at", "amount", "token_id")
        )
        figures = {"day_count": 0, "day_sum": 0, "burst_count": 0, "structuring_count": 0}
        for created_at, amount, token_id in rows:
            if created_at >= day_start:
                figures["day_count"] += 1
                if token_id == token:
                    figures["day_sum"] += amount
            if created_at >= burst_start:
                figures["burst_count"] += 1
            if created_at >= struct_start and token_id == token and low <= amount < limit:
                figures["structuring_count"] += 1
        figures["structuring_band"] = (low, limit)
        return figures

    def paid_payee_before(self) -> bool:
        return (
            self._payments()
            .filter(payee_id=self.subject.payee.pk)
            .exclude(state=PaymentState.FAILED)
            .exists()
        )

    def active_since(self, since: datetime) -> bool:
        return self._payments().filter(created_at__gte=since).exists()


def _minutes(seconds: float) -> float:
    return round(seconds / 60, 1)


def geofence(s: Subject, h: History, p: dict) -> Hit | None:
    if not s.located:
        return None
    vendor = h.payee_profile
    if vendor is not None and vendor.registered_latitude is not None:
        distance = haversine_km(
            s.latitude, s.longitude, vendor.registered_latitude, vendor.registered_longitude
        )
        where = f"{s.payee.username}'s registered location"
        figures = {"reference": "vendor_location"}
    else:
        last = h.last_located
        if last is None:
            return None
        gap = (s.occurred_at - last.at).total_seconds()
        if gap > p["last_location_max_age_hours"] * 3600:
            return None
        distance = haversine_km(s.latitude, s.longitude, last.latitude, last.longitude)
        where = f"last payment {duration_text(gap)} earlier"
        figures = {"reference": "last_payment", "minutes_since": _minutes(gap)}
    if distance <= p["max_km"]:
        return None
    figures.update(distance_km=round(distance, 1), max_km=p["max_km"])
    return Hit("geofence", p["score"], f"{distance:.1f} km from {where}", figures)


def impossible_travel(s: Subject, h: History, p: dict) -> Hit | None:
    last = h.last_located
    if not s.located or last is None:
        return None
    distance = haversine_km(s.latitude, s.longitude, last.latitude, last.longitude)
    if distance < p["min_km"]:
        return None
    gap = max((s.occurred_at - last.at).total_seconds(), 1.0)
    speed = distance / (gap / 3600)
    if speed <= p["max_kmh"]:
        return None
    return Hit(
        "impossible_travel",
        p["score"],
        f"{distance:.1f} km from last payment {duration_text(gap)} earlier "
        f"({speed:,.0f} km/h, limit {p['max_kmh']} km/h)",
        {
            "distance_km": round(distance, 1),
            "minutes_since": _minutes(gap),
            "speed_kmh": round(speed),
            "max_kmh": p["max_kmh"],
        },
    )


def large_amount(s: Subject, h: History, p: dict) -> Hit | None:
    threshold = s.units(p["review_at_tokens"])
    if s.amount < threshold:
        return None
    return Hit(
        "large_amount",
        p["score"],
        f"{s.show(s.amount)} at or above the {s.show(threshold)} review threshold",
        {"amount_units": s.amount, "threshold_units": threshold},
    )


def tier_limits(s: Subject, h: History, p: dict) -> Hit | None:
    limits = h.tier_limits
    single, day_sum = s.units(limits["single_tokens"]), s.units(limits["day_sum_tokens"])
    window = h.window
    broken = []
    if s.amount > single:
        broken.append(f"single payment {s.show(s.amount)} over {s.show(single)}")
    if window["day_sum"] + s.amount > day_sum:
        total = window["day_sum"] + s.amount
        broken.append(f"24 h total {s.show(total)} over {s.show(day_sum)}")
    if window["day_count"] + 1 > limits["day_count"]:
        broken.append(f"payment {window['day_count'] + 1} in 24 h over {limits['day_count']}")
    if not broken:
        return None
    return Hit(
        "tier_limits",
        p["score"],
        f"tier {h.tier}: " + "; ".join(broken),
        {
            "tier": h.tier,
            "amount_units": s.amount,
            "day_sum_units": window["day_sum"] + s.amount,
            "day_count": window["day_count"] + 1,
            "limits": limits,
        },
    )


def burst(s: Subject, h: History, p: dict) -> Hit | None:
    count = h.window["burst_count"] + 1
    if count <= p["max_count"]:
        return None
    return Hit(
        "burst",
        p["score"],
        f"payment {count} within {p['window_minutes']} min (limit {p['max_count']})",
        {"count": count, "window_minutes": p["window_minutes"], "max_count": p["max_count"]},
    )


def new_payee(s: Subject, h: History, p: dict) -> Hit | None:
    threshold = s.units(p["above_tokens"])
    if s.amount <= threshold or h.paid_payee_before():
        return None
    return Hit(
        "new_payee",
        p["score"],
        f"first payment to {s.payee.username}: {s.show(s.amount)}, above {s.show(threshold)}",
        {"amount_units": s.amount, "threshold_units": threshold},
    )


def structuring(s: Subject, h: History, p: dict) -> Hit | None:
    low, limit = h.window["structuring_band"]
    if not low <= s.amount < limit:
        return None
    count = h.window["structuring_count"] + 1
    if count < p["min_count"]:
        return None
    return Hit(
        "structuring",
        p["score"],
        f"{count} payments of {s.show(low)}-{s.show(limit)} (just under the review limit) "
        f"within {p['window_minutes']} min",
        {
            "count": count,
            "band_low_units": low,
            "limit_units": limit,
            "window_minutes": p["window_minutes"],
        },
    )


def dormant(s: Subject, h: History, p: dict) -> Hit | None:
    threshold = s.units(p["above_tokens"])
    if s.amount < threshold:
        return None
    since = s.occurred_at - timedelta(days=p["idle_days"])
    joined = s.payer.date_joined
    if joined > since or h.active_since(since):
        return None
    return Hit(
        "dormant",
        p["score"],
        f"no payment for over {p['idle_days']} days, then {s.show(s.amount)}",
        {"idle_days": p["idle_days"], "amount_units": s.amount, "threshold_units": threshold},
    )


def double_spend(s: Subject, h: History, p: dict) -> Hit | None:
    profile = h.payer_profile
    if profile is None or profile.double_spend_flagged_at is None:
        return None
    return Hit(
        "double_spend",
        p["score"],
        f"offline double spend reported {profile.double_spend_flagged_at:%Y-%m-%d %H:%M} UTC",
        {"flagged_at": profile.double_spend_flagged_at.isoformat()},
        action=BLOCK,
    )


# Cheapest and most decisive first; every enabled rule runs (reviewers see all reasons).
RULES = [
    ("double_spend", double_spend),
    ("large_amount", large_amount),
    ("geofence", geofence),
    ("impossible_travel", impossible_travel),
    ("tier_limits", tier_limits),
    ("burst", burst),
    ("structuring", structuring),
    ("new_payee", new_payee),
    ("dormant", dormant),
]
