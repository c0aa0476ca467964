"""Shared platform rows: the events outbox, stored idempotent responses and API keys."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class OutboxEvent(models.Model):
    """A business event written in the same transaction as the change it describes.

    `id` is stable: consumers (WebSockets, webhooks) de-duplicate on it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    topic = models.CharField(max_length=64, db_index=True, help_text="e.g. payment.succeeded")
    aggregate_type = models.CharField(max_length=32)
    aggregate_id = models.CharField(max_length=64, db_index=True)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.topic} {self.aggregate_id}"


class IdempotencyRecord(models.Model):
    """An Idempotency-Key: in flight while its request runs (no response yet, under a
    lease), then done with the first response, replayed to every retry of the same
    request (fastpay/idempotency.py).

    Keys are scoped per user. The row is reserved in a short transaction of its own, never
    held locked across the request's work: a concurrent duplicate is told the key is in
    progress; a request that crashed leaves a lease that expires
    (FASTPAY_IDEMPOTENCY_LEASE_S), after which a retry takes the key over.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64, help_text="sha256 of method, path and body")
    response_status = models.PositiveSmallIntegerField(
        null=True, help_text="Null while the request is in flight."
    )
    response_body = models.JSONField(null=True)
    lease_id = models.UUIDField(null=True, help_text="The request holding the key in flight.")
    locked_at = models.DateTimeField(null=True, help_text="When that request took the key.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_user_key")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"

    @property
    def in_flight(self) -> bool:
        return self.response_status is None


class ApiKeyScope(models.TextChoices):
    PAYMENTS_READ = "payments:read", "Read payments"
    PAYMENTS_WRITE = "payments:write", "Create payments and refunds"
    BALANCES_READ = "balances:read", "Read balances and the ledger statement"
    EVENTS_READ = "events:read", "Read your events"
    WEBHOOKS_WRITE = "webhooks:write", "Manage webhook endpoints"


class ApiKey(models.Model):
    """A merchant's or vendor's API key. Only a SHA-256 of the secret is stored: keys are
    256-bit random, so a slow hash would add latency without adding safety."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=64)
    prefix = models.CharField(max_length=16, unique=True, help_text="Public part, shown in lists")
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["user"], condition=Q(revoked_at__isnull=True), name="apikey_active_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
