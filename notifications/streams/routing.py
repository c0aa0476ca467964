"""WebSocket routes of the streams, added to fastpay.routing by NotificationsConfig.ready
(fastpay imports no app)."""

from django.urls import path

from notifications.streams.consumers import EventStreamConsumer, StaffStreamConsumer

websocket_urlpatterns = [
    path("ws/v1/events/", EventStreamConsumer.as_asgi(), name="ws-events"),
    path("ws/v1/staff/", StaffStreamConsumer.as_asgi(), name="ws-staff"),
]


def routes_register() -> None:
    from fastpay.routing import websocket_routes_add

    websocket_routes_add(websocket_urlpatterns)
