from django.apps import AppConfig


class FraudConfig(AppConfig):
    name = "fraud"
    verbose_name = "Fraud and review"

    def ready(self) -> None:
        from fraud import metrics

        metrics.register()
