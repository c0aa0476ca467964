"""The dispatcher: outbox events -> numbered RecipientEvents -> sinks.

At least once, never twice: ``outbox_dispatch`` takes a batch of undispatched outbox rows
with a SKIP LOCKED row lock (notifications.locks: two dispatchers share the work, neither
waits), fans each into one RecipientEvent per recipient (notifications.catalogue), numbers
them in each recipient's stream, plans the webhook deliveries and marks the rows
dispatched, all in one short transaction. A dispatcher killed half-way rolls back: the
rows are still undispatched and the next run (the on-commit task or the beat sweep) takes
them. Only after that transaction commits are the sinks (webhook workers, WebSocket
groups, mail) told about the new rows; a sink that fails does not undo the dispatch (the
webhook deliveries are rows of their own, swept by the beat).

Numbering: each recipient stream has a RecipientCounter row; a batch locks the counters
it needs in stream order (two batches never deadlock) and takes the next numbers, so a
stream's sequences are unique and gap-free whatever the number of dispatchers. Within a
batch events are numbered in outbox order (created_at, id); two batches running at once
number a shared recipient's events in the order the batches commit.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from fastpay.models import OutboxEvent
from notifications.catalogue import STAFF, event_type
from notifications.locks import counters_lock, outbox_claim
from notifications.models import Audience, RecipientCounter, RecipientEvent, stream_name

logger = logging.getLogger("notifications.dispatch")


def outbox_dispatch(*, batch: int | None = None, before_commit=None) -> list[int]:
    """Dispatch one batch of undispatched outbox events (oldest first). Returns the ids of
    the RecipientEvents created; the sinks have been called with them. ``before_commit()``
    runs last inside the transaction (tests kill a dispatcher there)."""
    from notifications.sinks import sinks_run
    from notifications.webhooks.planning import deliveries_plan

    batch = batch or settings.FASTPAY_EVENTS_DISPATCH_BATCH
    with transaction.atomic():
        events = outbox_claim(
            OutboxEvent.objects.filter(dispatched_at__isnull=True).order_by("created_at", "id"),
            batch,
        )
        if not events:
            return []
        rows = _fan_out(events)
        _number(rows)
        RecipientEvent.objects.bulk_create(rows)
        delivery_ids = deliveries_plan(rows)
        OutboxEvent.objects.filter(pk__in=[e.pk for e in events]).update(
            dispatched_at=timezone.now()
        )
        if before_commit is not None:
            before_commit()
    sinks_run(rows=rows, delivery_ids=delivery_ids)
    return [row.pk for row in rows]


def outbox_dispatch_all(*, budget_s: float = 20.0) -> int:
    """Batches until the outbox is drained or ``budget_s`` is spent (the beat sweep and
    the on-commit task). Returns how many RecipientEvents were created."""
    started = time.monotonic()
    total = 0
    while True:
        ids = outbox_dispatch()
        total += len(ids)
        if not ids or time.monotonic() - started > budget_s:
            return total


def _fan_out(events: list[OutboxEvent]) -> list[RecipientEvent]:
    rows = []
    legacy = _legacy_payment_users(events)
    for event in events:
        entry = event_type(event.topic)
        if entry.name == "unknown":
            logger.warning("outbox topic %r is not in the catalogue: staff only", event.topic)
        payload = event.payload if isinstance(event.payload, dict) else {}
        if event.aggregate_type == "payment" and "payer_id" not in payload:
            payload = {**payload, **legacy.get(event.pk, {})}
        for who in entry.recipients_of(payload):
            if who == STAFF:
                rows.append(RecipientEvent(event=event, audience=Audience.STAFF, type=event.topic))
            else:
                rows.append(
                    RecipientEvent(
                        event=event, audience=Audience.USER, user_id=who, type=event.topic
                    )
                )
    known = set(
        get_user_model()
        .objects.filter(pk__in={row.user_id for row in rows if row.user_id is not None})
        .values_list("pk", flat=True)
    )
    return [row for row in rows if row.user_id is None or row.user_id in known]


def _legacy_payment_users(events: list[OutboxEvent]) -> dict:
    """Payment events written before their payloads named the users' ids carry only
    usernames: look the ids up (one query for the batch)."""
    old = [e for e in events if e.aggregate_type == "payment" and "payer_id" not in e.payload]
    if not old:
        return {}
    names = {e.payload.get(k) for e in old for k in ("payer", "payee")} - {None}
    ids = dict(get_user_model().objects.filter(username__in=names).values_list("username", "pk"))
    return {
        e.pk: {
            "payer_id": ids.get(e.payload.get("payer")),
            "payee_id": ids.get(e.payload.get("payee")),
        }
        for e in old
    }


def _number(rows: list[RecipientEvent]) -> None:
    """Give each row the next sequence of its stream. Caller holds the transaction; the
    counters are locked here, in stream order, until it ends."""
    streams = sorted({stream_name(row.audience, row.user_id) for row in rows})
    RecipientCounter.objects.bulk_create(
        [RecipientCounter(stream=s) for s in streams], ignore_conflicts=True
    )
    counters = {
        c.stream: c for c in counters_lock(RecipientCounter.objects.filter(stream__in=streams))
    }
    for row in rows:
        counter = counters[stream_name(row.audience, row.user_id)]
        counter.last_sequence += 1
        row.sequence = counter.last_sequence
    RecipientCounter.objects.bulk_update(list(counters.values()), ["last_sequence"], batch_size=500)


def undispatched_count() -> int:
    return OutboxEvent.objects.filter(dispatched_at__isnull=True).count()
