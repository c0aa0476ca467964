"""WebSocket routes. Vendor and admin event streams are added with the dispatcher."""

websocket_urlpatterns: list = []
