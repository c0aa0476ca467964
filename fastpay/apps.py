from django.apps import AppConfig


class FastPayConfig(AppConfig):
    name = "fastpay"
    verbose_name = "Platform"

    def ready(self) -> None:
        from fastpay import metrics

        metrics.register()
