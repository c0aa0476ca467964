"""Stream tickets: how a browser authenticates a WebSocket (it cannot set headers).

``POST /api/v1/stream-tickets/`` creates one; the page opens ``/ws/v1/events/?ticket=...``
within FASTPAY_STREAM_TICKET_TTL_S. Only a SHA-256 of the secret is stored. A ticket is
spent by a compare-and-set (``used_at`` from NULL to now, row count checked), so two
connections presenting the same ticket at once cannot both get in, whichever daphne
process each reached.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class StreamName(models.TextChoices):
    EVENTS = "events", "Your own events (/ws/v1/events/)"
    STAFF = "staff", "Staff: review queue, breakers, committee (/ws/v1/staff/)"


class StreamTicket(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="stream_tickets"
    )
    stream = models.CharField(max_length=8, choices=StreamName.choices)
    secret_hash = models.CharField(max_length=64, unique=True, help_text="sha256 of the ticket")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")),
                name="streamticket_expires_after_creation",
            ),
            models.CheckConstraint(
                condition=Q(stream__in=["events", "staff"]), name="streamticket_stream_known"
            ),
        ]
        indexes = [models.Index(fields=["expires_at"], name="streamticket_expires")]

    def __str__(self) -> str:
        return f"{self.stream} ticket of user {self.user_id}"
