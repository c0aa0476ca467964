from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Events and webhooks"

    def ready(self) -> None:
        from fastpay.events import on_recorded
        from notifications.tasks import dispatch_soon

        # fastpay imports no app: the outbox calls us back after each commit
        on_recorded(dispatch_soon)
        # the live streams' WebSocket routes (fastpay.routing; H8: notifications/streams)
        from notifications.streams.routing import routes_register

        routes_register()
