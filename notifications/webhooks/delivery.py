"""Attempting deliveries: lease, log the attempt, POST outside any transaction, record.

1. Lease: one UPDATE takes the due rows (pending, next_attempt_at passed, no live lease)
   with a fresh lease id and counts the attempt. Two workers never send the same attempt.
   The lease lasts FASTPAY_WEBHOOKS_LEASE_S, or longer when the batch needs it (each
   round of FASTPAY_WEBHOOKS_CONCURRENCY POSTs may take the connect and read timeouts).
2. Log: one WebhookAttempt per leased delivery, *in progress* with the lease, committed
   before any request is made (autocommit, no transaction held over the network).
3. Send: the bodies are signed and POSTed from a thread pool (HTTP only, no database).
4. Record, in one transaction: each attempt completed (time, status or error, latency,
   the first 1 KB of the answer), then the outcome, a compare-and-set on the lease, so a
   worker whose lease ran out cannot overwrite a newer attempt's result. 2xx: succeeded.
   410: the endpoint is disabled. Anything else: retried with backoff
   (notifications.webhooks.schedule; Retry-After honoured) until MAX_ATTEMPTS, then
   failed; an endpoint failing for FASTPAY_WEBHOOKS_DISABLE_AFTER_S is disabled.

A worker killed between 2 and 4 leaves its attempts in progress and its lease. The beat
sweep (``deliveries_sweep``) marks an attempt whose lease is no longer its delivery's live
lease *interrupted*, with the time, and attempts the delivery again (same webhook-id).
A worker that was only slow, not dead, still completes its attempt rows afterwards (the
log tells what happened), but its outcome no longer changes the delivery.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from notifications.models import (
    AttemptState,
    DeliveryState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from notifications.render import event_body
from notifications.webhooks import schedule, transport
from notifications.webhooks.secrets import secret_load
from notifications.webhooks.signing import signed_headers

logger = logging.getLogger("notifications.webhooks")

_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(
            max_workers=settings.FASTPAY_WEBHOOKS_CONCURRENCY, thread_name_prefix="webhook"
        )
    return _pool


def _due(now):
    return WebhookDelivery.objects.filter(
        state=DeliveryState.PENDING, next_attempt_at__lte=now
    ).filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))


def deliveries_attempt(
    *, ids=None, recipient_event_ids=None, limit: int = 500, now=None
) -> dict[str, int]:
    """Attempt up to ``limit`` due deliveries (those given, or any). Returns counts by
    outcome: succeeded, retry, failed."""
    now = now or timezone.now()
    due = _due(now)
    if ids is not None:
        due = due.filter(pk__in=list(ids))
    if recipient_event_ids is not None:
        due = due.filter(recipient_event_id__in=list(recipient_event_ids))
    picked = list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    counts = {"succeeded": 0, "retry": 0, "failed": 0}
    if not picked:
        return counts
    lease = uuid.uuid4()
    _due(now).filter(pk__in=picked).update(
        lease=lease,
        leased_until=now + timedelta(seconds=lease_seconds(len(picked))),
        attempts=F("attempts") + 1,
    )
    claimed = list(
        WebhookDelivery.objects.filter(lease=lease).select_related(
            "endpoint", "recipient_event__event"
        )
    )
    if not claimed:
        return counts
    jobs = [(d, _request(d)) for d in claimed]
    attempts = _attempts_start(lease, jobs)
    if len(jobs) == 1:
        outcomes = [_send(jobs[0][1])]
    else:
        outcomes = list(_executor().map(_send, [job for _, job in jobs]))
    _record(lease, [(d, o) for (d, _), o in zip(jobs, outcomes, strict=True)], attempts, counts)
    return counts


def lease_seconds(count: int) -> float:
    """How long a lease of ``count`` deliveries lasts: FASTPAY_WEBHOOKS_LEASE_S, or the
    rounds of the thread pool at their worst (every POST to its timeouts) and a margin,
    so that a live worker's lease does not run out while its last POSTs wait their turn."""
    rounds = math.ceil(count / settings.FASTPAY_WEBHOOKS_CONCURRENCY)
    worst = settings.FASTPAY_WEBHOOKS_CONNECT_TIMEOUT_S + settings.FASTPAY_WEBHOOKS_READ_TIMEOUT_S
    return max(settings.FASTPAY_WEBHOOKS_LEASE_S, rounds * worst + 5)


def _attempts_start(lease, jobs) -> dict[int, WebhookAttempt]:
    """Log the attempts about to be made, in progress, and commit them before any POST
    (the caller holds no transaction: the rows must survive a worker killed mid-request).
    Returns them by delivery id."""
    started = timezone.now()
    rows = WebhookAttempt.objects.bulk_create(
        [
            WebhookAttempt(
                delivery=d, attempted_at=started, state=AttemptState.IN_PROGRESS, lease=lease
            )
            for d, job in jobs
            if job is not None
        ]
    )
    return {row.delivery_id: row for row in rows}


def attempts_interrupted_mark(*, now=None) -> int:
    """Attempts left in progress by a worker that died: their lease is no longer their
    delivery's live lease (it ran out, or a newer attempt took the delivery). Marked
    interrupted, with the time; the delivery itself is due again as soon as its lease
    is over (``deliveries_attempt``). Returns how many were marked."""
    now = now or timezone.now()
    live = WebhookDelivery.objects.filter(
        pk=OuterRef("delivery_id"), lease=OuterRef("lease"), leased_until__gte=now
    )
    count = (
        WebhookAttempt.objects.filter(state=AttemptState.IN_PROGRESS)
        .exclude(Exists(live))
        .update(
            state=AttemptState.INTERRUPTED,
            interrupted_at=now,
            error="interrupted: the worker stopped before the answer was recorded",
        )
    )
    if count:
        logger.warning("webhooks: %d attempts interrupted (a worker died mid-request)", count)
    return count


def deliveries_sweep(*, now=None, rounds: int = 20) -> dict[str, int]:
    """The beat's part for webhooks: mark what dead workers left interrupted, then attempt
    every due delivery (retries, expired leases), at most ``rounds`` x 500 a sweep."""
    totals = {"interrupted": attempts_interrupted_mark(now=now), "succeeded": 0, "retry": 0}
    totals["failed"] = 0
    for _ in range(rounds):
        counts = deliveries_attempt(now=now)
        for key, value in counts.items():
            totals[key] += value
        if not any(counts.values()):
            break
    return totals


def _request(delivery: WebhookDelivery) -> tuple | None:
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        return None
    secrets = [secret_load(endpoint.secret)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires and expires > timezone.now():
        secrets.append(secret_load(endpoint.previous_secret))
    body = event_body(delivery.recipient_event)
    headers = signed_headers(
        secrets,
        msg_id=str(delivery.recipient_event.event_id),
        timestamp=int(time.time()),
        body=body,
    )
    return endpoint.url, headers, body


def _send(job) -> transport.Outcome | None:
    if job is None:
        return None
    url, headers, body = job
    try:
        return transport.post(url, headers=headers, body=body)
    except Exception as exc:  # a bug must not lose the lease's other results
        logger.exception("webhook POST to %s failed", url)
        return transport.Outcome(None, 0, error=f"internal: {type(exc).__name__}")


_COMPLETED_FIELDS = (
    "state",
    "attempted_at",
    "finished_at",
    "status_code",
    "latency_ms",
    "error",
    "response_excerpt",
)


def _attempts_complete(attempts: dict[int, WebhookAttempt], results, now) -> None:
    """Write the answers into the attempts' log rows. Caller holds the record transaction.

    One parameterised UPDATE per row sent as one executemany (pipelined by psycopg on
    PostgreSQL): QuerySet.bulk_update builds a CASE per field and row, and building it
    took half a worker's CPU at a few hundred deliveries a second."""
    fields = [WebhookAttempt._meta.get_field(name) for name in _COMPLETED_FIELDS]
    rows = []
    for delivery, outcome in results:
        attempt = attempts.get(delivery.pk)
        if attempt is None or outcome is None:
            continue
        values = {
            "state": str(AttemptState.COMPLETED),
            "attempted_at": now - timedelta(milliseconds=outcome.latency_ms),
            "finished_at": now,
            "status_code": outcome.status_code,
            "latency_ms": outcome.latency_ms,
            "error": outcome.error[:255],
            "response_excerpt": outcome.excerpt,
        }
        rows.append(
            [f.get_db_prep_value(values[f.name], connection) for f in fields] + [attempt.pk]
        )
    if not rows:
        return
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    table, pk = WebhookAttempt._meta.db_table, WebhookAttempt._meta.pk.column
    # names from the model's meta, quoted; every value is a parameter
    sql = f"UPDATE {quote(table)} SET {assignments} WHERE {quote(pk)} = %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _record(lease, results, attempts, counts) -> None:
    from notifications.webhooks.services import endpoint_disable

    now = timezone.now()
    ours = WebhookDelivery.objects.filter(lease=lease)
    with transaction.atomic():
        _attempts_complete(attempts, results, now)
        succeeded: dict[int, list[int]] = {}
        healthy, failing, gone = set(), set(), {}
        for delivery, outcome in results:
            if outcome is None:  # the endpoint was disabled meanwhile
                ours.filter(pk=delivery.pk).update(
                    state=DeliveryState.FAILED,
                    last_error="endpoint disabled",
                    lease=None,
                    leased_until=None,
                    next_attempt_at=None,
                )
                counts["failed"] += 1
            elif outcome.ok:
                succeeded.setdefault(outcome.status_code, []).append(delivery.pk)
                healthy.add(delivery.endpoint_id)
                counts["succeeded"] += 1
            else:
                gave_up = _failed(ours, delivery, outcome, now)
                counts["failed" if gave_up else "retry"] += 1
                if outcome.status_code == 410:
                    gone[delivery.endpoint_id] = delivery.endpoint
                else:
                    failing.add(delivery.endpoint_id)
        for status_code, pks in succeeded.items():
            ours.filter(pk__in=pks).update(
                state=DeliveryState.SUCCEEDED,
                delivered_at=now,
                last_status_code=status_code,
                last_error="",
                lease=None,
                leased_until=None,
                next_attempt_at=None,
            )
        if healthy:
            WebhookEndpoint.objects.filter(pk__in=healthy, failing_since__isnull=False).update(
                failing_since=None
            )
        failing -= healthy
        if failing:
            WebhookEndpoint.objects.filter(pk__in=failing, failing_since__isnull=True).update(
                failing_since=now
            )
            cutoff = now - timedelta(seconds=settings.FASTPAY_WEBHOOKS_DISABLE_AFTER_S)
            for endpoint in WebhookEndpoint.objects.filter(
                pk__in=failing, enabled=True, failing_since__lt=cutoff
            ):
                endpoint_disable(
                    endpoint_id=endpoint.pk,
                    reason=f"failing since {endpoint.failing_since:%Y-%m-%dT%H:%M:%SZ}",
                )
        for endpoint_id in gone:
            endpoint_disable(endpoint_id=endpoint_id, reason="the endpoint answered 410 Gone")


def _failed(ours, delivery: WebhookDelivery, outcome: transport.Outcome, now) -> bool:
    """Write a failed attempt's outcome; True when the delivery is given up."""
    error = outcome.error or f"HTTP {outcome.status_code}"
    gave_up = outcome.status_code == 410 or delivery.attempts >= schedule.MAX_ATTEMPTS
    if gave_up:
        fields = {"state": DeliveryState.FAILED, "next_attempt_at": None}
    else:
        wait = schedule.retry_delay(
            delivery.attempts,
            retry_after_s=schedule.retry_after_parse(outcome.retry_after, now=now),
        )
        fields = {"next_attempt_at": now + wait}
    ours.filter(pk=delivery.pk).update(
        **fields,
        last_status_code=outcome.status_code,
        last_error=error[:255],
        lease=None,
        leased_until=None,
    )
    return gave_up
