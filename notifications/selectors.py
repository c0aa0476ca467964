"""Reads of the events API: a user's events are the RecipientEvents addressed to them
(their user stream, and the staff stream for staff)."""

from django.db.models import Q

from notifications.models import Audience, RecipientEvent, WebhookDelivery


def _visible(user):
    mine = Q(audience=Audience.USER, user=user)
    if user.is_staff:
        mine |= Q(audience=Audience.STAFF)
    return RecipientEvent.objects.filter(mine).select_related("event")


def event_list(*, user, filters: dict):
    rows = _visible(user)
    if filters.get("type"):
        rows = rows.filter(type=filters["type"])
    if filters.get("created_after"):
        rows = rows.filter(created_at__gte=filters["created_after"])
    if filters.get("created_before"):
        rows = rows.filter(created_at__lt=filters["created_before"])
    if "after" in filters:
        rows = rows.filter(id__gt=filters["after"].pk)
    return rows


def event_get(*, user, event_id) -> RecipientEvent | None:
    """The user's copy of outbox event ``event_id`` (theirs before staff's)."""
    return _visible(user).filter(event_id=event_id).order_by("audience").last()


def deliveries_of(*, endpoint, filters: dict):
    rows = WebhookDelivery.objects.filter(endpoint=endpoint).select_related(
        "recipient_event__event"
    )
    if filters.get("state"):
        rows = rows.filter(state=filters["state"])
    return rows
