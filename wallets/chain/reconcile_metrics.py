"""``fastpay_custody_drift_units{token}``: the unexplained difference per token of the
newest finished reconciliation run of each chain (0 when clean or explained; absent
before the first run), computed at scrape time as wallets/metrics.py does."""

from prometheus_client.core import REGISTRY, GaugeMetricFamily

_registered = False


class CustodyDriftCollector:
    def describe(self):
        yield GaugeMetricFamily("fastpay_custody_drift_units", "", labels=["token"])

    def collect(self):
        from django.db import DatabaseError

        gauge = GaugeMetricFamily(
            "fastpay_custody_drift_units",
            "Unexplained CUSTODY minus on-chain difference per token in the newest "
            "reconciliation run, ledger units (must be 0)",
            labels=["token"],
        )
        try:
            for symbol, units in custody_drift_latest().items():
                gauge.add_metric([symbol], units)
        except DatabaseError:
            return  # not migrated yet
        yield gauge


def custody_drift_latest() -> dict[str, int]:
    """token symbol -> unexplained ledger units, summed over the chains' newest runs that
    finished with a result (an ERROR run keeps the previous figure)."""
    from wallets.chain.models import ReconciliationLine, ReconciliationRun, ReconciliationState

    drift: dict[str, int] = {}
    runs = (
        ReconciliationRun.objects.exclude(state=ReconciliationState.ERROR)
        .order_by("chain_id", "-started_at", "-pk")
        .values_list("chain_id", "pk")
    )
    newest = {}
    for chain_id, pk in runs:
        newest.setdefault(chain_id, pk)
    lines = ReconciliationLine.objects.filter(run_id__in=newest.values(), kind="drift")
    for symbol, units in lines.values_list("token__symbol", "difference_units"):
        drift[symbol] = drift.get(symbol, 0) + units
    for symbol in (
        ReconciliationLine.objects.filter(run_id__in=newest.values(), kind="total")
        .values_list("token__symbol", flat=True)
        .distinct()
    ):
        drift.setdefault(symbol, 0)
    return drift


def register() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(CustodyDriftCollector())
        _registered = True
