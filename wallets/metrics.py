"""Ledger and payment gauges for Prometheus, computed from the database at scrape time so
every web process reports the same figures (django-prometheus covers requests, latency and
DB calls)."""

from prometheus_client.core import REGISTRY, GaugeMetricFamily

_registered = False


class LedgerCollector:
    def describe(self):
        # Declared without samples so registering does not query the database.
        yield GaugeMetricFamily("fastpay_ledger_drift", "")
        yield GaugeMetricFamily("fastpay_payments", "", labels=["state", "token"])

    def collect(self):
        from django.db import DatabaseError
        from django.db.models import Count

        from wallets.models import LedgerCheckRun, Payment

        drift = GaugeMetricFamily(
            "fastpay_ledger_drift",
            "Ledger invariant violations found by the newest ledger_check (must be 0)",
        )
        payments = GaugeMetricFamily(
            "fastpay_payments", "Payments by state and token", labels=["state", "token"]
        )
        try:
            last = LedgerCheckRun.objects.order_by("-ran_at").values_list("drift_count", flat=True)
            drift.add_metric([], (last.first() or 0))
            rows = Payment.objects.values("state", "token__symbol").annotate(n=Count("id"))
            for row in rows:
                payments.add_metric([row["state"], row["token__symbol"]], row["n"])
        except DatabaseError:
            return  # not migrated yet: expose nothing rather than fail the scrape
        yield drift
        yield payments


def register() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(LedgerCollector())
        _registered = True
        from wallets.chain import metrics as chain_metrics  # the watcher's gauges

        chain_metrics.register()
