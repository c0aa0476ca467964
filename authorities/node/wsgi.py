"""WSGI entry point of an authority node (run_authority serves it with gunicorn)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fastpay.settings_authority")
application = get_wsgi_application()
