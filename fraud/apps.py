from django.apps import AppConfig


class FraudConfig(AppConfig):
    name = "fraud"
    verbose_name = "Fraud and review"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from fraud import metrics
        from fraud.models import RuleConfig
        from fraud.thresholds import thresholds_forget

        metrics.register()
        # Cache invalidation only (no business rule): a saved threshold applies at once.
        for signal in (post_save, post_delete):
            signal.connect(lambda **kwargs: thresholds_forget(), sender=RuleConfig, weak=False)
