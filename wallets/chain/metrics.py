"""The watcher's gauges for Prometheus, computed from the database at scrape time (as
wallets/metrics.py), so every web process reports the same figures. The RPC error counter
``fastpay_chain_rpc_errors_total{chain,url}`` lives in the process that calls the nodes
(wallets/chain/rpc.py); its per-chain total is also kept on the cursor
(``fastpay_chain_watcher_rpc_errors``)."""

from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily

_registered = False


class ChainCollector:
    def describe(self):
        # declared without samples so registering does not query the database
        yield GaugeMetricFamily("fastpay_chain_head_lag_blocks", "", labels=["chain"])
        yield GaugeMetricFamily("fastpay_deposits_pending", "", labels=["chain"])
        yield GaugeMetricFamily("fastpay_chain_watcher_rpc_errors", "", labels=["chain"])
        yield CounterMetricFamily("fastpay_deposit_reversals", "", labels=["chain"])

    def collect(self):
        from django.db import DatabaseError
        from django.db.models import Count

        from wallets.chain.models import Deposit, DepositState, WatcherCursor

        lag = GaugeMetricFamily(
            "fastpay_chain_head_lag_blocks",
            "Blocks between the chain's head and the watcher's cursor",
            labels=["chain"],
        )
        pending = GaugeMetricFamily(
            "fastpay_deposits_pending",
            "Deposits seen, waiting for their confirmations",
            labels=["chain"],
        )
        errors = GaugeMetricFamily(
            "fastpay_chain_watcher_rpc_errors",
            "RPC failures the chain's watcher recorded on its cursor (all URLs)",
            labels=["chain"],
        )
        reversals = CounterMetricFamily(
            "fastpay_deposit_reversals",
            "Credited deposits reversed by a reorg deeper than the confirmations (loud)",
            labels=["chain"],
        )
        try:
            for chain_id, head, block, rpc_errors in WatcherCursor.objects.values_list(
                "chain__chain_id", "head_number", "block_number", "rpc_errors"
            ):
                lag.add_metric([str(chain_id)], max(0, head - block))
                errors.add_metric([str(chain_id)], rpc_errors)
            counts = (
                Deposit.objects.filter(state__in=(DepositState.SEEN, DepositState.REVERSED))
                .values_list("chain__chain_id", "state")
                .annotate(n=Count("id"))
                .order_by()
            )
            seen: dict = {}
            gone: dict = {}
            for chain_id, state, n in counts:
                (seen if state == DepositState.SEEN else gone)[str(chain_id)] = n
            for chain_id, _, _, _ in WatcherCursor.objects.values_list(
                "chain__chain_id", "head_number", "block_number", "rpc_errors"
            ):
                pending.add_metric([str(chain_id)], seen.get(str(chain_id), 0))
                reversals.add_metric([str(chain_id)], gone.get(str(chain_id), 0))
        except DatabaseError:
            return  # not migrated yet: expose nothing rather than fail the scrape
        yield lag
        yield pending
        yield errors
        yield reversals


def register() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(ChainCollector())
        _registered = True
