from django.apps import AppConfig


class AuthoritiesConfig(AppConfig):
    name = "authorities"
    verbose_name = "Authority committee"

    def ready(self) -> None:
        from authorities import metrics

        metrics.register()
