"""The Celery app. Broker and eager mode come from Django settings (CELERY_*)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fastpay.settings")

app = Celery("fastpay")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
