from django.apps import AppConfig


class SettlementConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "settlement"
    verbose_name = "Settlement (money out)"

    def ready(self):
        from settlement import metrics
        from settlement.services import paying

        metrics.register()
        # the sender calls us back inside the transaction that records the outcome of a
        # withdrawal's transaction (wallets.chain.sender.on_outcome)
        paying.outcome_hooks_register()
        from settlement.treasury import services as treasury
        from settlement.treasury import tasks  # noqa: F401  (hot/cold wallets)

        treasury.hooks_register()
        from settlement.batches.ready import ready as batches_ready  # on-chain settlement

        batches_ready()
        from settlement.payouts.ready import ready as payouts_ready  # merchant payouts

        payouts_ready()
