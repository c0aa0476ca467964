"""Email (and SMS) notifications: the mail sink of the dispatcher.

Who gets what (each a RecipientEvent of the user's own stream, so never another user's):

| event                                   | to                   | category  |
|-----------------------------------------|----------------------|-----------|
| user.approved, user.suspended           | the user             | account   |
| payment.flagged, .approved, .rejected   | the payer            | payments  |
| webhook_endpoint.disabled               | the endpoint's owner | webhooks  |

The sink (``notify``) only picks the rows that may want a message and queues
``notifications_send_task``; sending happens there, outside any transaction. Each message
is claimed first by inserting a SentNotification unique per (recipient event, channel): a
redispatch, a task run twice or two workers at once send it once. A worker killed between
the claim and the send leaves the row ``sending``: that message is not sent again (an
email twice is worse than one an operator looks into; the rows are in the database).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.utils import timezone

from notifications.models import Audience, RecipientEvent
from notifications.preferences import (
    NotificationCategory,
    NotificationChannel,
    SentNotification,
    SentState,
)
from notifications.services.preferences import preferences_of
from notifications.sms import sms_backend

logger = logging.getLogger("notifications.mail")


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


def _payment(verb: str, extra: str = "") -> Callable[[dict], Message]:
    def render(data: dict) -> Message:
        what = f"{data.get('amount')} {data.get('token')} to {data.get('payee')}"
        return Message(
            f"Your payment of {data.get('amount')} {data.get('token')} {verb}",
            f"Your payment of {what} (payment {data.get('payment_id')}) {verb}.{extra}",
        )

    return render


def _account(verb: str) -> Callable[[dict], Message]:
    def render(data: dict) -> Message:
        reason = f"\n\nReason: {data['reason']}" if data.get("reason") else ""
        return Message(
            f"Your FastPay account was {verb}", f"Your FastPay account was {verb}.{reason}"
        )

    return render


def _endpoint_disabled(data: dict) -> Message:
    return Message(
        "A webhook endpoint of yours was disabled",
        f"FastPay stopped sending events to {data.get('url')} (endpoint {data.get('endpoint_id')})"
        f": {data.get('reason')}.\n\nFix the receiver, then enable it again "
        "(PATCH /api/v1/webhook-endpoints/{id}/) and redeliver what failed.",
    )


#: event type -> (category, payload field naming the one user who gets it, renderer)
MESSAGES: dict[str, tuple[str, str, Callable[[dict], Message]]] = {
    "user.approved": (NotificationCategory.ACCOUNT, "user_id", _account("approved")),
    "user.suspended": (NotificationCategory.ACCOUNT, "user_id", _account("suspended")),
    "payment.flagged": (
        NotificationCategory.PAYMENTS,
        "payer_id",
        _payment("is held for review", " The amount is held on your account meanwhile."),
    ),
    "payment.approved": (NotificationCategory.PAYMENTS, "payer_id", _payment("was approved")),
    "payment.rejected": (
        NotificationCategory.PAYMENTS,
        "payer_id",
        _payment("was rejected", " The amount is back on your balance."),
    ),
    "webhook_endpoint.disabled": (NotificationCategory.WEBHOOKS, "user_id", _endpoint_disabled),
}


def notify(rows) -> None:
    """The mail sink: queue the sending of the new RecipientEvents (rows, or their ids)
    that may need a message."""
    from notifications.tasks import notifications_send_task

    rows = list(rows)
    if rows and isinstance(rows[0], RecipientEvent):
        wanted = [r.pk for r in rows if r.audience == Audience.USER and r.type in MESSAGES]
    else:
        wanted = list(
            RecipientEvent.objects.filter(
                id__in=rows, audience=Audience.USER, type__in=list(MESSAGES)
            ).values_list("id", flat=True)
        )
    if wanted:
        notifications_send_task.delay(wanted)


def notifications_send(*, recipient_event_ids: list[int]) -> dict:
    """Send the email/SMS each of these RecipientEvents calls for, at most once each.
    Returns {"sent", "failed", "skipped"} counts. Never inside a transaction."""
    rows = list(
        RecipientEvent.objects.select_related("event", "user").filter(
            id__in=recipient_event_ids, audience=Audience.USER, type__in=list(MESSAGES)
        )
    )
    preferences = preferences_of({row.user_id for row in rows})
    counts = {"sent": 0, "failed": 0, "skipped": 0}
    for row in rows:
        category, field, render = MESSAGES[row.type]
        data = row.event.payload
        if not _addressed_to(data, field, row):
            continue  # the payee's copy of a payment event ...: not theirs
        message = render(data)
        preference = preferences[row.user_id]
        for channel, address in (
            (NotificationChannel.EMAIL, row.user.email),
            (NotificationChannel.SMS, preference.phone_number),
        ):
            if not address or not preference.wants(channel, category):
                continue
            outcome = _send_once(row, channel, address, message)
            counts[outcome] += 1
    return counts


def _addressed_to(data: dict, field: str, row: RecipientEvent) -> bool:
    if field in data:
        return str(data[field]) == str(row.user_id)
    # payment events written before their payloads named user ids carry the username
    return field == "payer_id" and data.get("payer") == row.user.username


def _send_once(row: RecipientEvent, channel: str, address: str, message: Message) -> str:
    try:
        with transaction.atomic():
            claim = SentNotification.objects.create(
                recipient_event=row, channel=channel, address=address
            )
    except IntegrityError:
        return "skipped"  # claimed before: sent, or being sent by another worker
    try:
        if channel == NotificationChannel.EMAIL:
            EmailMessage(
                subject=message.subject,
                body=message.body,
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[address],
                headers={"X-FastPay-Event-Id": str(row.event_id)},
                connection=get_connection(),
            ).send()
        else:
            sms_backend().send(to=address, text=f"{message.subject}. {message.body}"[:480])
    except Exception as exc:  # SMTP errors, SmsError, a provider's own
        logger.warning("notification %s to %s failed: %s", channel, address, exc)
        SentNotification.objects.filter(pk=claim.pk).update(
            state=SentState.FAILED, error=f"{exc.__class__.__name__}: {exc}"[:255]
        )
        return "failed"
    SentNotification.objects.filter(pk=claim.pk).update(
        state=SentState.SENT, sent_at=timezone.now()
    )
    return "sent"
