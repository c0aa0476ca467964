"""Webhook endpoints: create, change, rotate the secret, disable, test, redeliver.

Every function takes the acting user (``user=None``: staff, from admin) and finds the
endpoint among that user's: another user's endpoint is "not found", never "forbidden"."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fastpay.events import event_record
from fastpay.locks import for_update
from notifications.catalogue import WEBHOOK_TYPES
from notifications.errors import (
    EndpointDisabled,
    EndpointNotFound,
    InvalidWebhookUrl,
    TooManyEndpoints,
)
from notifications.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from notifications.render import rfc3339
from notifications.webhooks.secrets import secret_new, secret_store
from notifications.webhooks.ssrf import address_refusal

MAX_ENDPOINTS_PER_USER = 16
MAX_GRACE_S = 7 * 86400


def url_check(url: str) -> str:
    """Refuse a URL no delivery could go to (the full check, DNS included, is made at
    each delivery: notifications.webhooks.ssrf)."""
    allow_private = settings.FASTPAY_WEBHOOKS_ALLOW_PRIVATE
    parts = urlsplit(url)
    schemes = {"https", "http"} if allow_private else {"https"}
    if parts.scheme not in schemes:
        raise InvalidWebhookUrl(
            "the URL must be https://" + (" or http://" if allow_private else ""), param="url"
        )
    if not parts.hostname:
        raise InvalidWebhookUrl("the URL has no host", param="url")
    if parts.username or parts.password:
        raise InvalidWebhookUrl("credentials in the URL are not allowed", param="url")
    if parts.fragment:
        raise InvalidWebhookUrl("a fragment is never sent: remove it", param="url")
    host = parts.hostname.rstrip(".").lower()
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    why = None
    if literal is not None:
        why = address_refusal(literal, allow_private=allow_private)
    elif not allow_private and (host == "localhost" or host.endswith(".localhost")):
        why = "a loopback address"
    if why:
        raise InvalidWebhookUrl(f"the URL's host is {why}", param="url")
    return url


def types_check(types: list[str]) -> list[str]:
    unknown = [t for t in types if t != "*" and t not in WEBHOOK_TYPES]
    if unknown:
        raise InvalidWebhookUrl(
            f"unknown event type {unknown[0]!r}", param="event_types", code="unknown_event_type"
        )
    return sorted(set(types))


def endpoint_get(user, endpoint_id, *, lock: bool = False) -> WebhookEndpoint:
    rows = WebhookEndpoint.objects.all()
    if user is not None:
        rows = rows.filter(user=user)
    if lock:
        rows = for_update(rows)
    endpoint = rows.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise EndpointNotFound("no such webhook endpoint", param="endpoint_id")
    return endpoint


def endpoint_create(
    *, user, url: str, event_types: list[str], description: str = "", enabled: bool = True
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (shown to the user this once)."""
    url = url_check(url)
    event_types = types_check(event_types)
    secret = secret_new()
    with transaction.atomic():
        # the user's row lock serialises two creations racing past the limit
        for_update(type(user).objects).filter(pk=user.pk).first()
        if WebhookEndpoint.objects.filter(user=user).count() >= MAX_ENDPOINTS_PER_USER:
            raise TooManyEndpoints(f"at most {MAX_ENDPOINTS_PER_USER} webhook endpoints")
        endpoint = WebhookEndpoint.objects.create(
            user=user,
            url=url,
            event_types=event_types,
            description=description,
            enabled=enabled,
            secret=secret_store(secret),
        )
    return endpoint, secret


def endpoint_update(*, user, endpoint_id, **changes) -> WebhookEndpoint:
    """Change url, event_types, description or enabled. Enabling a disabled endpoint
    starts it afresh (its failure history is cleared; past failed deliveries stay failed
    until redelivered)."""
    if "url" in changes:
        changes["url"] = url_check(changes["url"])
    if "event_types" in changes:
        changes["event_types"] = types_check(changes["event_types"])
    with transaction.atomic():
        endpoint = endpoint_get(user, endpoint_id, lock=True)
        if changes.get("enabled") and not endpoint.enabled:
            endpoint.disabled_at, endpoint.disabled_reason, endpoint.failing_since = None, "", None
        for name, value in changes.items():
            setattr(endpoint, name, value)
        endpoint.save()
        if changes.get("enabled") is False:
            _pending_fail(endpoint, "endpoint disabled")
    return endpoint


def endpoint_delete(*, user, endpoint_id) -> None:
    with transaction.atomic():
        endpoint_get(user, endpoint_id, lock=True).delete()


def secret_rotate(*, user, endpoint_id, grace_s: int | None = None) -> tuple[WebhookEndpoint, str]:
    """A new secret; the current one keeps signing (a second signature on every
    delivery) for ``grace_s`` seconds, so receivers can switch without a gap. A rotation
    during a grace period ends the older secret's at once."""
    grace_s = settings.FASTPAY_WEBHOOKS_ROTATION_GRACE_S if grace_s is None else grace_s
    secret = secret_new()
    with transaction.atomic():
        endpoint = endpoint_get(user, endpoint_id, lock=True)
        if grace_s > 0:
            endpoint.previous_secret = endpoint.secret
            endpoint.previous_secret_expires_at = timezone.now() + timedelta(seconds=grace_s)
        else:
            endpoint.previous_secret, endpoint.previous_secret_expires_at = "", None
        endpoint.secret = secret_store(secret)
        endpoint.save(
            update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"]
        )
    return endpoint, secret


def endpoint_disable(*, endpoint_id, reason: str) -> bool:
    """Disable an enabled endpoint (410 Gone, failing for days, or staff): its pending
    deliveries are failed (redeliverable), webhook_endpoint.disabled goes to its owner
    and staff. Compare-and-set: disabling twice records one event. Joins the caller's
    transaction."""
    now = timezone.now()
    with transaction.atomic():
        changed = WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True).update(
            enabled=False, disabled_at=now, disabled_reason=reason[:255], updated_at=now
        )
        if not changed:
            return False
        endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
        _pending_fail(endpoint, "endpoint disabled")
        event_record(
            topic="webhook_endpoint.disabled",
            aggregate_type="webhook_endpoint",
            aggregate_id=endpoint.pk,
            payload={
                "endpoint_id": endpoint.pk,
                "user_id": endpoint.user_id,
                "url": endpoint.url,
                "reason": endpoint.disabled_reason,
                "failing_since": rfc3339(endpoint.failing_since)
                if endpoint.failing_since
                else None,
                "state": "disabled",
            },
        )
    return True


def _pending_fail(endpoint: WebhookEndpoint, why: str) -> None:
    WebhookDelivery.objects.filter(endpoint=endpoint, state=DeliveryState.PENDING).update(
        state=DeliveryState.FAILED,
        next_attempt_at=None,
        lease=None,
        leased_until=None,
        last_error=why,
    )


def endpoint_test(*, user, endpoint_id) -> str:
    """Send a webhook_endpoint.test event to this endpoint only; returns the event id."""
    with transaction.atomic():
        endpoint = endpoint_get(user, endpoint_id)
        if not endpoint.enabled:
            raise EndpointDisabled("enable the endpoint first", param="endpoint_id")
        event = event_record(
            topic="webhook_endpoint.test",
            aggregate_type="webhook_endpoint",
            aggregate_id=endpoint.pk,
            payload={"endpoint_id": endpoint.pk, "user_id": endpoint.user_id, "state": "test"},
        )
    return str(event.pk)


def deliveries_redeliver(
    *, user, endpoint_id, delivery_id=None, event_id=None, since: datetime | None = None
) -> int:
    """Send again, with the same webhook-id: one delivery (by its id or its event's), or
    every delivery of the endpoint that failed and was created since ``since``. The
    attempts count from zero again. Returns how many were queued."""
    with transaction.atomic():
        endpoint = endpoint_get(user, endpoint_id)
        if not endpoint.enabled:
            raise EndpointDisabled("enable the endpoint first", param="endpoint_id")
        rows = WebhookDelivery.objects.filter(endpoint=endpoint)
        if delivery_id is not None:
            rows = rows.filter(pk=delivery_id)
        elif event_id is not None:
            rows = rows.filter(recipient_event__event_id=event_id)
        else:
            rows = rows.filter(state=DeliveryState.FAILED, created_at__gte=since)
        if (delivery_id is not None or event_id is not None) and not rows.exists():
            raise EndpointNotFound(
                "no such delivery", param="delivery_id" if delivery_id else "event"
            )
        ids = list(rows.exclude(state=DeliveryState.PENDING).values_list("pk", flat=True))
        queued = deliveries_requeue(ids)
    return queued


def deliveries_requeue(ids: list[int]) -> int:
    """Pending again and due now (admin action, API). Joins the caller's transaction;
    the attempt is queued after commit."""
    from notifications.tasks import deliveries_enqueue

    count = (
        WebhookDelivery.objects.filter(pk__in=ids)
        .exclude(state=DeliveryState.PENDING)
        .update(
            state=DeliveryState.PENDING,
            attempts=0,
            next_attempt_at=timezone.now(),
            lease=None,
            leased_until=None,
        )
    )
    if count:
        transaction.on_commit(lambda: deliveries_enqueue(delivery_ids=ids))
    return count
