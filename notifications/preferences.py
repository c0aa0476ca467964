"""Per-user notification preferences, and the record of every notification sent.

A user without a NotificationPreference row has the defaults (email on, SMS off). A
SentNotification row is written *before* a message goes out, unique per recipient event
and channel: a redispatch of the same RecipientEvent finds it and sends nothing again
(at most once per recipient event; docs/notifications.md).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

#: E.164: a plus, a country code, at most 15 digits in all
PHONE_PATTERN = r"^\+[1-9][0-9]{6,14}$"


class NotificationCategory(models.TextChoices):
    ACCOUNT = "account", "Account approved or suspended"
    PAYMENTS = "payments", "A payment of yours flagged for review, approved or rejected"
    WEBHOOKS = "webhooks", "A webhook endpoint of yours was disabled"


class NotificationPreference(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="notification_preference",
    )
    email_account = models.BooleanField(default=True)
    email_payments = models.BooleanField(default=True)
    email_webhooks = models.BooleanField(default=True)
    sms_account = models.BooleanField(default=False)
    sms_payments = models.BooleanField(default=False)
    sms_webhooks = models.BooleanField(default=False)
    phone_number = models.CharField(max_length=16, blank=True, help_text="E.164, e.g. +41791234567")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(phone_number="") | Q(phone_number__regex=PHONE_PATTERN),
                name="notificationpreference_phone_e164",
            ),
            models.CheckConstraint(
                condition=Q(sms_account=False, sms_payments=False, sms_webhooks=False)
                | ~Q(phone_number=""),
                name="notificationpreference_sms_needs_phone",
            ),
        ]

    def __str__(self) -> str:
        return f"notification preferences of user {self.user_id}"

    def wants(self, channel: str, category: str) -> bool:
        return bool(getattr(self, f"{channel}_{category}"))


class NotificationChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class SentState(models.TextChoices):
    SENDING = "sending", "Claimed, being sent"
    SENT = "sent", "Sent"
    FAILED = "failed", "The backend refused it"


class SentNotification(models.Model):
    recipient_event = models.ForeignKey(
        "notifications.RecipientEvent", on_delete=models.CASCADE, related_name="+"
    )
    channel = models.CharField(max_length=8, choices=NotificationChannel.choices)
    address = models.CharField(max_length=254, help_text="The email address or phone number")
    state = models.CharField(max_length=8, choices=SentState.choices, default=SentState.SENDING)
    error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient_event", "channel"], name="sentnotification_once"
            ),
            models.CheckConstraint(
                condition=~Q(state="sent") | Q(sent_at__isnull=False),
                name="sentnotification_sent_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.address} ({self.state})"
