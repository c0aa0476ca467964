"""ASGI entry point: HTTP through Django, WebSockets through Channels (served by daphne)."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fastpay.settings")
# Django must be set up before importing anything that touches models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from fastpay.beat import embedded_beat_start  # noqa: E402
from fastpay.routing import websocket_urlpatterns  # noqa: E402
from fastpay.ws_origin import StreamOriginValidator  # noqa: E402

# No session middleware on WebSockets: streams authenticate with a ticket or an API key,
# never a cookie (notifications/streams/auth.py), and the Origin is checked first.
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": StreamOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)

# What is loaded by now (Django, the apps, the eth libraries) lives as long as the process:
# keep it out of the cyclic collector's full passes, which otherwise scan it all again and
# again under load (tens of ms each; bench/offline.py).
gc.collect()
gc.freeze()

# No broker (the embedded default): this process runs the beat schedule (fastpay/beat.py).
embedded_beat_start()
