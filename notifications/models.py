"""Events addressed to their recipients, and merchant webhooks.

An outbox event (fastpay.OutboxEvent) is fanned out by the dispatcher into one
RecipientEvent per recipient: a user, or the staff audience. Each recipient's events are
numbered 1, 2, 3 ... with no gap (its stream's RecipientCounter, locked while numbering),
so a consumer can order and deduplicate. Webhook deliveries hang off RecipientEvents.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Audience(models.TextChoices):
    USER = "user", "A user"
    STAFF = "staff", "Staff"


class RecipientEvent(models.Model):
    """One outbox event as one recipient sees it, with its place in that recipient's
    stream. Written only by the dispatcher (notifications.dispatch)."""

    id = models.BigAutoField(primary_key=True)
    event = models.ForeignKey("fastpay.OutboxEvent", on_delete=models.PROTECT, related_name="+")
    audience = models.CharField(max_length=8, choices=Audience.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="recipient_events",
    )
    type = models.CharField(max_length=64, help_text="The outbox topic, e.g. payment.succeeded")
    sequence = models.PositiveBigIntegerField(help_text="1, 2, 3 ... per recipient, no gap")
    created_at = models.DateTimeField(auto_now_add=True, help_text="When it was dispatched")

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(audience="user", user__isnull=False))
                | Q(audience="staff", user__isnull=True),
                name="recipientevent_audience_user",
            ),
            models.UniqueConstraint(
                fields=["user", "sequence"],
                condition=Q(audience="user"),
                name="recipientevent_user_sequence",
            ),
            models.UniqueConstraint(
                fields=["sequence"],
                condition=Q(audience="staff"),
                name="recipientevent_staff_sequence",
            ),
            models.UniqueConstraint(
                fields=["event", "user"],
                condition=Q(audience="user"),
                name="recipientevent_once_per_user",
            ),
            models.UniqueConstraint(
                fields=["event"],
                condition=Q(audience="staff"),
                name="recipientevent_once_for_staff",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-id"], name="recipientevent_user_id"),
            models.Index(fields=["audience", "-id"], name="recipientevent_audience_id"),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.sequence} to {self.stream}"

    @property
    def stream(self) -> str:
        return stream_name(self.audience, self.user_id)


def stream_name(audience: str, user_id: int | None) -> str:
    return "staff" if audience == Audience.STAFF else f"user:{user_id}"


class RecipientCounter(models.Model):
    """The last sequence given in one recipient's stream ("user:42", "staff"). The
    dispatcher locks the counters it needs, in stream order, for the length of one short
    numbering transaction."""

    stream = models.CharField(max_length=32, primary_key=True)
    last_sequence = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.stream}: {self.last_sequence}"


class WebhookEndpoint(models.Model):
    """A URL a user's events are POSTed to, signed as Standard Webhooks specifies.

    ``secret`` signs every delivery; after a rotation ``previous_secret`` signs too (a
    second signature) until ``previous_secret_expires_at``. Both are kept sealed under
    FASTPAY_KEK when it is set (notifications.webhooks.secrets)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2048)
    event_types = models.JSONField(default=list, help_text='Catalogue types, or ["*"] for all')
    description = models.CharField(max_length=255, blank=True)
    enabled = models.BooleanField(default=True)
    secret = models.TextField()
    previous_secret = models.TextField(blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="First failed attempt since the last success"
    )
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url

    def accepts(self, event_type: str) -> bool:
        return "*" in self.event_types or event_type in self.event_types


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending (due at next_attempt_at)"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (given up, or the endpoint was disabled)"


class WebhookDelivery(models.Model):
    """One event to one endpoint, until it succeeds or is given up on. Its webhook-id (the
    event's id) is the same on every attempt and redelivery.

    An attempt leases the row (``lease``, ``leased_until``): a worker killed mid-request
    leaves a lease that runs out, and the beat sweep tries again."""

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    recipient_event = models.ForeignKey(
        RecipientEvent, on_delete=models.CASCADE, related_name="deliveries"
    )
    state = models.CharField(
        max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0, help_text="Since the last redelivery")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease = models.UUIDField(null=True, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "recipient_event"], name="webhookdelivery_once"
            ),
            models.CheckConstraint(
                condition=~Q(state="pending") | Q(next_attempt_at__isnull=False),
                name="webhookdelivery_pending_is_due",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state="pending"),
                name="webhookdelivery_due",
            ),
            models.Index(fields=["endpoint", "-id"], name="webhookdelivery_endpoint"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.state})"


class AttemptState(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress (the POST is being made)"
    COMPLETED = "completed", "Completed (answered, or failed with an error)"
    INTERRUPTED = "interrupted", "Interrupted (the worker died before recording the answer)"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: when, the answer (or the error), how long.

    Written (in progress, with the delivery's lease) and committed before the POST is
    made, completed after it: a worker killed mid-request leaves its attempt in progress,
    and the beat sweep marks it interrupted once the lease has run out (the delivery is
    then attempted again)."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="log")
    attempted_at = models.DateTimeField(help_text="When the attempt started")
    state = models.CharField(
        max_length=16, choices=AttemptState.choices, default=AttemptState.COMPLETED
    )
    lease = models.UUIDField(null=True, blank=True, help_text="The delivery's lease it ran under")
    finished_at = models.DateTimeField(null=True, blank=True, help_text="When it was recorded")
    interrupted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the sweep found it abandoned"
    )
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=255, blank=True)
    response_excerpt = models.TextField(blank=True, help_text="The first 1 KB of the body")

    class Meta:
        ordering = ["-attempted_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="interrupted") | Q(interrupted_at__isnull=False),
                name="webhookattempt_interrupted_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(state="in_progress") | Q(lease__isnull=False),
                name="webhookattempt_in_progress_has_lease",
            ),
            models.CheckConstraint(
                condition=~Q(state="completed") | Q(finished_at__isnull=False),
                name="webhookattempt_completed_has_time",
            ),
        ]
        indexes = [
            models.Index(
                fields=["attempted_at"],
                condition=Q(state="in_progress"),
                name="webhookattempt_in_progress",
            ),
        ]

    def __str__(self) -> str:
        outcome = self.status_code or self.error or self.state
        return f"{self.attempted_at:%Y-%m-%d %H:%M:%S} {outcome}"


# Models kept beside their code (notifications/preferences.py, streams/models.py),
# imported here so that Django registers them with the app.
from notifications.preferences import (  # noqa: E402, F401
    NotificationPreference,
    SentNotification,
)
from notifications.streams.models import StreamTicket  # noqa: E402, F401
