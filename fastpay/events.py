"""The outbox: record business events inside the caller's transaction.

Dispatch (WebSocket groups, merchant webhooks) is not built yet: it will read the outbox
after commit. Recording here is all a service has to do.
"""

from collections.abc import Iterable

from django.db import transaction

from fastpay.bulk_insert import rows_insert
from fastpay.models import OutboxEvent


def event_record(*, topic: str, aggregate_type: str, aggregate_id, payload: dict) -> OutboxEvent:
    """Write one event. Must run inside the transaction of the change it describes."""
    _require_transaction()
    return OutboxEvent.objects.create(
        topic=topic, aggregate_type=aggregate_type, aggregate_id=str(aggregate_id), payload=payload
    )


def events_record(events: Iterable[OutboxEvent]) -> list[OutboxEvent]:
    """Write many unsaved OutboxEvent rows at once (batch payments, offline syncs)."""
    _require_transaction()
    return rows_insert(OutboxEvent, list(events))


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbox events must be written inside the change's transaction")
