"""Reads for the review queue, the review page and the dashboard."""

from datetime import UTC, datetime, time, timedelta

from django.db.models import Count, Min, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from fraud.models import (
    BreakerState,
    CircuitBreaker,
    Review,
    ReviewOutcome,
    ReviewState,
    RuleHit,
)
from wallets.models import PaymentState
from wallets.selectors import balance_list, payment_list

AGE_BUCKETS = [("< 1 h", 0, 1), ("1-4 h", 1, 4), ("4-24 h", 4, 24), ("> 24 h", 24, None)]


def review_queue() -> QuerySet[Review]:
    """Open reviews of still-held payments, riskiest first, then oldest first."""
    return (
        Review.objects.filter(state=ReviewState.OPEN, payment__state=PaymentState.FLAGGED)
        .select_related("payment__payer", "payment__payee", "payment__token", "assessment")
        .order_by("-score", "opened_at")
    )


def review_page(*, review: Review, history: int = 15) -> dict:
    """Everything a reviewer needs on one screen."""
    payment = review.payment
    recent = payment_list(user=payment.payer).exclude(pk=payment.pk)[:history]
    reasons = review.assessment.reasons if review.assessment else payment.risk_reasons
    return {
        "payment": payment,
        "reasons": [r if isinstance(r, dict) else {"rule": "custom", "text": r} for r in reasons],
        "recent": list(recent),
        "payer_balances": balance_list(user=payment.payer),
        "decisions": list(review.decisions.select_related("reviewer")),
    }


def dashboard_figures(*, days: int = 14, now=None) -> dict:
    now = now or timezone.now()
    today = now.date()
    day_list = [today - timedelta(days=n) for n in range(days - 1, -1, -1)]
    start = now - timedelta(days=days)

    per_rule: dict[str, dict] = {}
    hits = (
        RuleHit.objects.filter(created_at__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values("day", "rule")
        .annotate(n=Count("id"))
    )
    for row in hits:
        per_rule.setdefault(row["rule"], {})[row["day"]] = row["n"]

    queue_by_day = []
    for day in day_list:
        end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
        end = min(end, now)
        open_then = Review.objects.filter(opened_at__lt=end).filter(
            Q(closed_at__isnull=True) | Q(closed_at__gte=end)
        )
        queue_by_day.append((day, open_then.count()))

    open_reviews = review_queue()
    ages = []
    for label, low, high in AGE_BUCKETS:
        qs = open_reviews.filter(opened_at__lte=now - timedelta(hours=low))
        if high is not None:
            qs = qs.filter(opened_at__gt=now - timedelta(hours=high))
        ages.append((label, qs.count()))
    oldest = open_reviews.aggregate(first=Min("opened_at"))["first"]

    closed = Review.objects.filter(state=ReviewState.CLOSED, closed_at__gte=start)
    approved = Count("id", filter=Q(assessment__review__outcome=ReviewOutcome.APPROVED))
    fp_rows = (
        RuleHit.objects.filter(
            assessment__review__state=ReviewState.CLOSED,
            assessment__review__closed_at__gte=start,
        )
        .values("rule")
        .annotate(total=Count("id"), approved=approved)
        .order_by("rule")
    )
    totals = closed.aggregate(
        total=Count("id"), approved=Count("id", filter=Q(outcome=ReviewOutcome.APPROVED))
    )
    return {
        "days": day_list,
        "per_rule": per_rule,
        "queue_by_day": queue_by_day,
        "ages": ages,
        "open_count": sum(n for _, n in ages),
        "oldest_hours": round((now - oldest).total_seconds() / 3600, 1) if oldest else None,
        "fp_by_rule": [
            (row["rule"], round(100 * row["approved"] / row["total"], 1), row["total"])
            for row in fp_rows
        ],
        "closed": totals["total"],
        "false_positive_pct": (
            round(100 * totals["approved"] / totals["total"], 1) if totals["total"] else None
        ),
        "open_breakers": list(CircuitBreaker.objects.filter(state=BreakerState.OPEN)),
    }
