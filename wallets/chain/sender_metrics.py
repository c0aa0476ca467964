"""The sender's gauges for Prometheus, computed from the database at scrape time (as
wallets/metrics.py), so every web process reports the same figures:

- ``fastpay_chain_tx_in_flight{chain,state}``: outgoing transactions signed, broadcast or
  mined and not yet at their depth;
- ``fastpay_chain_tx_oldest_in_flight_seconds{chain}``: the age of the oldest of them
  (alert when it passes a few times FASTPAY_CHAIN_TX_STUCK_S: a stuck nonce holds every
  later one of its address);
- ``fastpay_chain_tx_outcomes{chain,state}``: transactions failed or dropped so far (alert
  on any rise of ``dropped``: something else signs with a platform key).
"""

from prometheus_client.core import REGISTRY, GaugeMetricFamily

_registered = False


class SenderCollector:
    def describe(self):
        # declared without samples so registering does not query the database
        yield GaugeMetricFamily("fastpay_chain_tx_in_flight", "", labels=["chain", "state"])
        yield GaugeMetricFamily("fastpay_chain_tx_oldest_in_flight_seconds", "", labels=["chain"])
        yield GaugeMetricFamily("fastpay_chain_tx_outcomes", "", labels=["chain", "state"])

    def collect(self):
        from django.db import DatabaseError
        from django.db.models import Count, Min
        from django.utils import timezone

        from wallets.chain.models import OutgoingTransaction, TxState
        from wallets.chain.sender import IN_FLIGHT

        in_flight = GaugeMetricFamily(
            "fastpay_chain_tx_in_flight",
            "Outgoing chain transactions not yet at their depth, by state",
            labels=["chain", "state"],
        )
        oldest = GaugeMetricFamily(
            "fastpay_chain_tx_oldest_in_flight_seconds",
            "Age of the oldest outgoing transaction not yet at its depth",
            labels=["chain"],
        )
        outcomes = GaugeMetricFamily(
            "fastpay_chain_tx_outcomes",
            "Outgoing chain transactions that failed (reverted) or were dropped, so far",
            labels=["chain", "state"],
        )
        try:
            rows = OutgoingTransaction.objects.values_list("chain__chain_id", "state")
            counted = rows.filter(state__in=IN_FLIGHT).annotate(n=Count("id")).order_by()
            for chain_id, state, n in counted:
                in_flight.add_metric([str(chain_id), state], n)
            now = timezone.now()
            ages = (
                OutgoingTransaction.objects.filter(state__in=IN_FLIGHT)
                .values_list("chain__chain_id")
                .annotate(first=Min("created_at"))
                .order_by()
            )
            for chain_id, first in ages:
                oldest.add_metric([str(chain_id)], (now - first).total_seconds())
            bad = rows.filter(state__in=(TxState.FAILED, TxState.DROPPED))
            for chain_id, state, n in bad.annotate(n=Count("id")).order_by():
                outcomes.add_metric([str(chain_id), state], n)
        except DatabaseError:
            return  # not migrated yet: expose nothing rather than fail the scrape
        yield in_flight
        yield oldest
        yield outcomes


def register() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(SenderCollector())
        _registered = True
