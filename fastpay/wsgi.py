"""WSGI entry point (gunicorn and friends); the primary server is ASGI (fastpay.asgi)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fastpay.settings")
application = get_wsgi_application()

from fastpay.beat import embedded_beat_start  # noqa: E402

# What is loaded by now (Django, the apps, the eth libraries) lives as long as the process:
# keep it out of the cyclic collector's full passes, which otherwise scan it all again and
# again under load (tens of ms each; bench/offline.py).
gc.collect()
gc.freeze()

# No broker (the embedded default): this process runs the beat schedule (fastpay/beat.py).
embedded_beat_start()
