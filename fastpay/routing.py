"""WebSocket routes. fastpay imports no app: an app adds its routes from its
AppConfig.ready (the notifications streams: /ws/v1/events/, /ws/v1/staff/), which runs
before fastpay.asgi builds its router."""

websocket_urlpatterns: list = []


def websocket_routes_add(patterns) -> None:
    for pattern in patterns:
        if pattern not in websocket_urlpatterns:
            websocket_urlpatterns.append(pattern)
