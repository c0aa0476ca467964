"""The Celery app. Broker and eager mode come from Django settings (CELERY_*)."""

import gc
import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fastpay.settings")

app = Celery("fastpay")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _freeze_startup_objects(**kwargs) -> None:
    """A worker's start-up objects live as long as it: keep them out of the cyclic
    collector's full passes (see fastpay.wsgi)."""
    gc.collect()
    gc.freeze()
