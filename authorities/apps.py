from django.apps import AppConfig


class AuthoritiesConfig(AppConfig):
    name = "authorities"
    verbose_name = "Authority committee"

    def ready(self) -> None:
        from authorities import metrics
        from authorities.services.evidence import watch_votes

        metrics.register()
        watch_votes()  # every vote any committee client of this process receives
