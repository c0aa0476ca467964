"""Celery tasks of the dispatcher and the webhook workers: thin, idempotent, safe to run
twice at once (the dispatcher skips locked outbox rows, deliveries are leased)."""

import logging
import threading

from celery import shared_task

logger = logging.getLogger("notifications.tasks")


@shared_task(acks_late=True)
def events_dispatch_task() -> int:
    """Dispatch what the outbox holds (queued after each commit that recorded events)."""
    from notifications.dispatch import outbox_dispatch_all

    return outbox_dispatch_all()


@shared_task(acks_late=True)
def webhooks_deliver_task(recipient_event_ids=None, delivery_ids=None) -> dict:
    """First attempt of the deliveries of newly dispatched events (or of redelivered
    ones); the beat sweep takes the retries and anything this task lost."""
    from notifications.webhooks.delivery import deliveries_attempt

    return deliveries_attempt(ids=delivery_ids, recipient_event_ids=recipient_event_ids)


@shared_task
def events_sweep_task() -> dict:
    """Beat: dispatch outbox rows an on-commit task missed (a crashed worker, a lost
    message), mark attempts a dead worker left in progress interrupted, then attempt
    every delivery that is due (retries, expired leases)."""
    from notifications.dispatch import outbox_dispatch_all
    from notifications.webhooks.delivery import deliveries_sweep

    dispatched = outbox_dispatch_all()
    return {"dispatched": dispatched, **deliveries_sweep()}


@shared_task(acks_late=True)
def notifications_send_task(recipient_event_ids: list[int]) -> dict:
    """Email/SMS of newly dispatched events (notifications.mail); sends each at most once."""
    from notifications.mail import notifications_send

    return notifications_send(recipient_event_ids=recipient_event_ids)


_eager = threading.Lock()
_eager_state = {"running": False, "again": False}


def dispatch_soon() -> None:
    """The outbox's on-commit callback (registered in NotificationsConfig.ready): a
    dispatch task per committed transaction.

    Eager (no broker: the task runs in the committing thread) one thread of the process
    dispatches at a time: a commit while it runs only asks it for one more round, so
    request threads do not all queue on the same outbox rows and counters (each would
    hold its database connection meanwhile), and no commit is left behind."""
    from django.conf import settings

    if not settings.CELERY_TASK_ALWAYS_EAGER:
        events_dispatch_task.delay()
        return
    with _eager:
        if _eager_state["running"]:
            _eager_state["again"] = True
            return
        _eager_state["running"] = True
    try:
        while True:
            events_dispatch_task.delay()
            with _eager:
                if not _eager_state["again"]:
                    _eager_state["running"] = False
                    return
                _eager_state["again"] = False
    except BaseException:
        with _eager:
            _eager_state["running"] = _eager_state["again"] = False
        raise


def deliveries_enqueue(*, delivery_ids: list[int]) -> None:
    webhooks_deliver_task.delay(delivery_ids=list(delivery_ids))
