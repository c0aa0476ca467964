"""The Origin check of every WebSocket (fastpay.asgi).

A browser always sends Origin; a page of another site must not open a stream, so an
Origin not in FASTPAY_STREAM_ORIGINS (default: the ALLOWED_HOSTS, any scheme and port)
is refused at the handshake (403). A connection without Origin is not a browser's (a
server with an API key) and passes: streams never read cookies, so there is no ambient
credential such a client could abuse.
"""

from channels.security.websocket import OriginValidator
from django.conf import settings


class StreamOriginValidator(OriginValidator):
    def __init__(self, application):
        allowed = list(settings.FASTPAY_STREAM_ORIGINS or settings.ALLOWED_HOSTS)
        if settings.DEBUG and not allowed:
            allowed = ["localhost", "127.0.0.1", "[::1]"]
        super().__init__(application, allowed)

    def valid_origin(self, parsed_origin):
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)
