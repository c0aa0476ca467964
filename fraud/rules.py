"""The fraud rules. Each is a small function (subject, history, params) -> Hit | None.

`History` reads what the rules need about the payer, lazily and at most once per
batch (`PayerPast`), so a rule that does not run costs no query; the items of a batch see
the ones assessed before them. Amount thresholds are whole tokens
in params and ledger units here.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property

from fastpay.money import format_units
from fraud.geo import duration_text, haversine_km
from fraud.models import Assessment, Channel, RiskProfile, VerificationTier
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


class Profiles:
    """The risk profiles of a set of users, read in one query when first needed."""

    def __init__(self, user_ids):
        self.user_ids = set(user_ids)

    @cached_property
    def by_user(self) -> dict[int, RiskProfile]:
        return {p.user_id: p for p in RiskProfile.objects.filter(user_id__in=self.user_ids)}

    def get(self, user_id) -> RiskProfile | None:
        return self.by_user.get(user_id)


@dataclass(frozen=True, slots=True)
class _Earlier:
    """A payment assessed earlier in the same batch (not inserted yet)."""

    payee_id: int
    token_id: int
    amount: int
    failed: bool
    latitude: Decimal | None
    longitude: Decimal | None


class PayerPast:
    """One payer's payments up to `at`, read once for a whole batch, plus the batch's
    earlier items as they are assessed (`add`), so item k sees items 0..k-1.

    Each read is lazy (a rule that does not run costs no query) and made at most once per
    batch: the window rows, the last located payment, the payees paid before (for all the
    batch's payees at once) and whether the payer was active since a date. The batch's items
    count as made at `at` (they are written together, just after).
    """

    def __init__(self, payer, at: datetime, thresholds: dict, payee_ids=()):
        self.payer = payer
        self.at = at
        self.thresholds = thresholds
        self.payee_ids = set(payee_ids)
        self.earlier: list[_Earlier] = []
        self._figures: dict[tuple, dict] = {}
        self._active: dict[datetime, bool] = {}
        # other payers' pasts at the same instant (a batch of many payers, e.g. a vendor's
        # offline sync): the first one to need its window rows reads theirs too
        self.neighbours: list[PayerPast] = []

    def _payments(self):
        return Payment.objects.filter(payer_id=self.payer.pk, created_at__lte=self.at)

    def _offline(self):
        """The payer's offline spends, as the sync assessed them (one Assessment per
        redemption; its ``occurred_at`` is when the vendor synced it): money the payer
        really spent, so they count in every window, payee and activity check as
        payments do (limits apply across channels)."""
        return Assessment.objects.filter(
            payer_id=self.payer.pk, channel=Channel.OFFLINE, occurred_at__lte=self.at
        )

    @cached_property
    def _starts(self) -> tuple[datetime, datetime, datetime]:
        burst = self.thresholds["burst"].params
        struct = self.thresholds["structuring"].params
        return (
            self.at - timedelta(hours=24),
            self.at - timedelta(minutes=burst["window_minutes"]),
            self.at - timedelta(minutes=struct["window_minutes"]),
        )

    @cached_property
    def _window_rows(self) -> list[tuple[datetime, int, int]]:
        # Rows, summed here: four filtered aggregates cost ~1 ms of ORM compilation per
        # payment, more than reading the few rows a payer makes in a day (the tier's
        # day_count bounds what an honest payer has here). One query for this payer and
        # its neighbours that have not read theirs yet (~0.5 ms of ORM per query saved).
        group = [self] + [
            p for p in self.neighbours if p is not self and "_window_rows" not in p.__dict__
        ]
        rows: dict[int, list] = {p.payer.pk: [] for p in group}
        for start in range(0, len(group), 500):
            payer_ids = [p.payer.pk for p in group[start : start + 500]]
            online = (
                Payment.objects.filter(payer_id__in=payer_ids, created_at__lte=self.at)
                .exclude(state=PaymentState.FAILED)
                .filter(created_at__gte=min(self._starts))
                .values_list("payer_id", "created_at", "amount", "token_id")
                .order_by()
            )
            offline = (
                Assessment.objects.filter(
                    payer_id__in=payer_ids,
                    channel=Channel.OFFLINE,
                    occurred_at__lte=self.at,
                    occurred_at__gte=min(self._starts),
                )
                .values_list("payer_id", "occurred_at", "amount", "token_id")
                .order_by()
            )
            for payer_id, *row in online.union(offline, all=True):
                rows[payer_id].append(tuple(row))
        for past in group[1:]:
            past.__dict__["_window_rows"] = rows[past.payer.pk]
        return rows[self.payer.pk]

    def window(self, token_id: int, low: int, limit: int) -> dict:
        """Counts and sums of the payer's non-failed payments in the rules' windows, for a
        payment in `token_id` whose structuring band is [low, limit)."""
        key = (token_id, low, limit)
        figures = self._figures.get(key)
        if figures is None:
            figures = {"day_count": 0, "day_sum": 0, "burst_count": 0, "structuring_count": 0}
            day_start, burst_start, struct_start = self._starts
            for created_at, amount, row_token in self._window_rows:
                if created_at >= day_start:
                    figures["day_count"] += 1
                    if row_token == token_id:
                        figures["day_sum"] += amount
                if created_at >= burst_start:
                    figures["burst_count"] += 1
                if created_at >= struct_start and row_token == token_id and low <= amount < limit:
                    figures["structuring_count"] += 1
            for item in self.earlier:
                self._tally(figures, key, item)
            figures["structuring_band"] = (low, limit)
            self._figures[key] = figures
        return figures

    @staticmethod
    def _tally(figures: dict, key: tuple, item: _Earlier) -> None:
        """Count an earlier batch item (made at `at`: inside every window)."""
        if item.failed:
            return
        token_id, low, limit = key
        figures["day_count"] += 1
        figures["burst_count"] += 1
        if item.token_id == token_id:
            figures["day_sum"] += item.amount
            if low <= item.amount < limit:
                figures["structuring_count"] += 1

    @cached_property
    def _last_located_stored(self) -> Located | None:
        row = (
            self._payments()
            .filter(latitude__isnull=False, longitude__isnull=False)
            .order_by("-created_at")
            .values_list("latitude", "longitude", "created_at")
            .first()
        )
        return Located(*row) if row else None

    @property
    def last_located(self) -> Located | None:
        for item in reversed(self.earlier):  # failed payments keep their location too
            if item.latitude is not None and item.longitude is not None:
                return Located(item.latitude, item.longitude, self.at)
        return self._last_located_stored

    @cached_property
    def _payees_paid(self) -> set[int]:
        online = (
            self._payments()
            .filter(payee_id__in=self.payee_ids)
            .exclude(state=PaymentState.FAILED)
            .values_list("payee_id", flat=True)
            .order_by()
        )
        offline = (
            self._offline().filter(payee_id__in=self.payee_ids).values_list("payee_id").order_by()
        )
        return set(online.union(offline))

    def paid_payee_before(self, payee_id: int) -> bool:
        if any(item.payee_id == payee_id and not item.failed for item in self.earlier):
            return True
        if payee_id not in self.payee_ids:  # not announced for the batch: ask alone
            return (
                self._payments().filter(payee_id=payee_id).exclude(state=PaymentState.FAILED)
            ).exists() or self._offline().filter(payee_id=payee_id).exists()
        return payee_id in self._payees_paid

    def active_since(self, since: datetime) -> bool:
        if self.earlier and since <= self.at:  # failed payments are activity too
            return True
        if since not in self._active:
            online = (
                self._payments().filter(created_at__gte=since).values_list("payer_id").order_by()
            )
            offline = (
                self._offline().filter(occurred_at__gte=since).values_list("payer_id").order_by()
            )
            self._active[since] = bool(list(online.union(offline, all=True)[:1]))
        return self._active[since]

    def add(self, subject: "Subject", *, failed: bool) -> None:
        """An item of the batch was assessed (and will be written, FAILED if `failed`):
        the next items see it."""
        item = _Earlier(
            payee_id=subject.payee.pk,
            token_id=subject.token.pk,
            amount=subject.amount,
            failed=failed,
            latitude=subject.latitude if subject.located else None,
            longitude=subject.longitude if subject.located else None,
        )
        self.earlier.append(item)
        for key, figures in self._figures.items():
            self._tally(figures, key, item)


class History:
    """The payer's past as the rules see it (payments before `subject.occurred_at`, and the
    items of the same batch assessed before this one).

    Alone (`History(subject, thresholds)`) it is a batch of one; `fraud.scoring.assess_many`
    shares one PayerPast and one Profiles across a batch.
    """

    def __init__(
        self,
        subject: Subject,
        thresholds: dict,
        past: PayerPast | None = None,
        profiles: Profiles | None = None,
    ):
        self.subject = subject
        self.thresholds = thresholds
        self.past = past or PayerPast(
            subject.payer, subject.occurred_at, thresholds, [subject.payee.pk]
        )
        self.profiles = profiles or Profiles([subject.payer.pk, subject.payee.pk])

    @property
    def payer_profile(self) -> RiskProfile | None:
        return self.profiles.get(self.subject.payer.pk)

    @property
    def payee_profile(self) -> RiskProfile | None:
        return self.profiles.get(self.subject.payee.pk)

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

    @property
    def last_located(self) -> Located | None:
        return self.past.last_located

    @cached_property
    def structuring_band(self) -> tuple[int, int]:
        """[low, limit): the ledger units just under the review limit."""
        limit = self.review_limit
        return limit * (100 - self.thresholds["structuring"].params["band_pct"]) // 100, limit

    @cached_property
    def window(self) -> dict:
        """Counts and sums of the payer's non-failed payments in the rules' windows."""
        low, limit = self.structuring_band
        return self.past.window(self.subject.token.pk, low, limit)

    def paid_payee_before(self) -> bool:
        return self.past.paid_payee_before(self.subject.payee.pk)

    def active_since(self, since: datetime) -> bool:
        return self.past.active_since(since)


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
    if not s.located:
        return None
    last = h.last_located
    if last is None:
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
    low, limit = h.structuring_band  # the window is read only for an amount in the band
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
