"""Attempting deliveries: lease, POST outside any transaction, record.

1. Lease: one UPDATE takes the due rows (pending, next_attempt_at passed, no live lease)
   with a fresh lease id and counts the attempt. Two workers never send the same attempt;
   a worker killed mid-request leaves a lease that runs out after
   FASTPAY_WEBHOOKS_LEASE_S, and the sweep sends again with the same webhook-id.
2. Send: the bodies are signed and POSTed from a thread pool (HTTP only, no database).
3. Record: every attempt is logged (WebhookAttempt); the outcome is a compare-and-set on
   the lease, so a worker whose lease ran out cannot overwrite a newer attempt's result.
   2xx: succeeded. 410: the endpoint is disabled. Anything else: retried with backoff
   (notifications.webhooks.schedule; Retry-After honoured) until MAX_ATTEMPTS, then
   failed; an endpoint failing for FASTPAY_WEBHOOKS_DISABLE_AFTER_S is disabled.
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from notifications.models import DeliveryState, WebhookAttempt, WebhookDelivery, WebhookEndpoint
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
        leased_until=now + timedelta(seconds=settings.FASTPAY_WEBHOOKS_LEASE_S),
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
    if len(jobs) == 1:
        outcomes = [_send(jobs[0][1])]
    else:
        outcomes = list(_executor().map(_send, [job for _, job in jobs]))
    _record(lease, [(d, o) for (d, _), o in zip(jobs, outcomes, strict=True)], counts)
    return counts


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


def _record(lease, results, counts) -> None:
    from notifications.webhooks.services import endpoint_disable

    now = timezone.now()
    ours = WebhookDelivery.objects.filter(lease=lease)
    with transaction.atomic():
        WebhookAttempt.objects.bulk_create(
            [
                WebhookAttempt(
                    delivery=d,
                    attempted_at=now - timedelta(milliseconds=o.latency_ms),
                    status_code=o.status_code,
                    latency_ms=o.latency_ms,
                    error=o.error[:255],
                    response_excerpt=o.excerpt,
                )
                for d, o in results
                if o is not None
            ]
        )
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
