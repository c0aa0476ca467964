"""The outbox: record business events inside the caller's transaction.

Recording here is all a service has to do. Dispatch (the events API, webhooks, WebSocket
streams, email) reads the outbox after commit: the notifications app registers a callback
with ``on_recorded`` (fastpay imports no app), run once after each transaction that
recorded events commits. A lost callback (a crash right after commit) is made good by the
dispatcher's beat sweep, so the callback only makes dispatch prompt.
"""

import logging
from collections.abc import Callable, Iterable

from django.db import transaction

from fastpay.bulk_insert import rows_insert
from fastpay.models import OutboxEvent

logger = logging.getLogger("fastpay.events")

_callbacks: list[Callable[[], None]] = []


def on_recorded(callback: Callable[[], None]) -> None:
    """Run ``callback()`` after every commit that recorded outbox events (once per
    transaction, however many events it wrote). Exceptions are logged, never raised to the
    service that committed."""
    if callback not in _callbacks:
        _callbacks.append(callback)


def event_record(*, topic: str, aggregate_type: str, aggregate_id, payload: dict) -> OutboxEvent:
    """Write one event. Must run inside the transaction of the change it describes."""
    _require_transaction()
    event = OutboxEvent.objects.create(
        topic=topic, aggregate_type=aggregate_type, aggregate_id=str(aggregate_id), payload=payload
    )
    _after_commit()
    return event


def events_record(events: Iterable[OutboxEvent]) -> list[OutboxEvent]:
    """Write many unsaved OutboxEvent rows at once (batch payments, offline syncs)."""
    _require_transaction()
    rows = rows_insert(OutboxEvent, list(events))
    if rows:
        _after_commit()
    return rows


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbox events must be written inside the change's transaction")


def _after_commit() -> None:
    # once per transaction: Django drops the entries of a rolled-back savepoint, so a
    # later event of the same transaction registers again
    connection = transaction.get_connection()
    if _callbacks and not any(entry[1] is _recorded for entry in connection.run_on_commit):
        transaction.on_commit(_recorded)


def _recorded() -> None:
    for callback in list(_callbacks):
        try:
            callback()
        except Exception:  # the change is committed; the beat sweep dispatches it later
            logger.exception("outbox: on-commit callback %r failed", callback)
