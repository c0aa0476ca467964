"""WSGI entry point (gunicorn and friends); the primary server is ASGI (fastpay.asgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fastpay.settings")
application = get_wsgi_application()
