from django.apps import AppConfig


class WalletsConfig(AppConfig):
    name = "wallets"
    verbose_name = "Wallets and ledger"

    def ready(self) -> None:
        from wallets import metrics
        from wallets.chain import reconcile_metrics

        metrics.register()
        reconcile_metrics.register()
        from wallets.chain import (
            sender_metrics,
            sweeps,  # noqa: F401 (registers the sweeps' on_outcome hooks)
        )

        sender_metrics.register()
