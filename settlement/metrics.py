"""Withdrawal gauges for Prometheus, computed from the database at scrape time (the
workers that pay are not the processes scraped)."""

from prometheus_client.core import REGISTRY, GaugeMetricFamily

_registered = False


class WithdrawalCollector:
    def describe(self):
        yield GaugeMetricFamily("fastpay_withdrawals", "", labels=["state", "token"])
        yield GaugeMetricFamily("fastpay_withdrawals_waiting", "", labels=["reason"])
        yield GaugeMetricFamily("fastpay_withdrawals_reserved_drift", "")

    def collect(self):
        from django.db import DatabaseError
        from django.db.models import Count

        from settlement.models import OPEN_STATES, Withdrawal, WithdrawalState
        from settlement.services.paying import reserved_mismatches

        by_state = GaugeMetricFamily(
            "fastpay_withdrawals", "Open withdrawals by state and token", labels=["state", "token"]
        )
        waiting = GaugeMetricFamily(
            "fastpay_withdrawals_waiting",
            "Approved withdrawals the pay task left waiting, by why (hot_wallet_short ...)",
            labels=["reason"],
        )
        drift = GaugeMetricFamily(
            "fastpay_withdrawals_reserved_drift",
            "(user, token) pairs whose WITHDRAWING balance is not their open withdrawals' "
            "amount + fee (must be 0)",
        )
        try:
            drift.add_metric([], len(reserved_mismatches()))
            rows = (
                Withdrawal.objects.filter(state__in=OPEN_STATES)
                .values("state", "token__symbol")
                .annotate(n=Count("id"))
            )
            for row in rows:
                by_state.add_metric([row["state"], row["token__symbol"]], row["n"])
            reasons = (
                Withdrawal.objects.filter(state=WithdrawalState.AWAITING_PAYMENT)
                .exclude(waiting_reason="")
                .values("waiting_reason")
                .annotate(n=Count("id"))
            )
            for row in reasons:
                waiting.add_metric([row["waiting_reason"]], row["n"])
        except DatabaseError:
            return
        yield by_state
        yield waiting
        yield drift


def register() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(WithdrawalCollector())
        _registered = True
