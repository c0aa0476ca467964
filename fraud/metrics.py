"""Prometheus gauges for fraud controls, read from the database at scrape time (the
pattern of wallets/metrics.py): breaker states, review queue size and age, decisions."""

from prometheus_client.core import REGISTRY, GaugeMetricFamily

_registered = False


class FraudCollector:
    def describe(self):
        # Declared without samples so registering does not query the database.
        yield GaugeMetricFamily("fastpay_circuit_breaker_open", "", labels=["scope", "key"])
        yield GaugeMetricFamily("fastpay_review_queue_open", "")
        yield GaugeMetricFamily("fastpay_review_queue_oldest_seconds", "")
        yield GaugeMetricFamily("fastpay_risk_decisions_24h", "", labels=["decision"])

    def collect(self):
        from datetime import timedelta

        from django.db import DatabaseError
        from django.db.models import Count, Min
        from django.utils import timezone

        from fraud.models import Assessment, BreakerState, CircuitBreaker, Review, ReviewState
        from wallets.models import PaymentState

        breakers = GaugeMetricFamily(
            "fastpay_circuit_breaker_open",
            "1 while the circuit breaker of this scope is open (payments paused)",
            labels=["scope", "key"],
        )
        queue = GaugeMetricFamily("fastpay_review_queue_open", "Open reviews")
        oldest = GaugeMetricFamily(
            "fastpay_review_queue_oldest_seconds", "Age of the oldest open review"
        )
        decisions = GaugeMetricFamily(
            "fastpay_risk_decisions_24h",
            "Risk assessments in the last 24 hours by decision",
            labels=["decision"],
        )
        now = timezone.now()
        try:
            for scope, key, state in CircuitBreaker.objects.values_list("scope", "key", "state"):
                breakers.add_metric([scope, key], 1 if state == BreakerState.OPEN else 0)
            open_reviews = Review.objects.filter(
                state=ReviewState.OPEN, payment__state=PaymentState.FLAGGED
            ).aggregate(n=Count("id"), first=Min("opened_at"))
            queue.add_metric([], open_reviews["n"])
            first = open_reviews["first"]
            oldest.add_metric([], (now - first).total_seconds() if first else 0)
            rows = (
                Assessment.objects.filter(created_at__gte=now - timedelta(hours=24))
                .values("decision")
                .annotate(n=Count("id"))
            )
            for row in rows:
                decisions.add_metric([row["decision"]], row["n"])
        except DatabaseError:
            return  # not migrated yet: expose nothing rather than fail the scrape
        yield breakers
        yield queue
        yield oldest
        yield decisions


def register() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(FraudCollector())
        _registered = True
