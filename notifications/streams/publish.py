"""The stream sink: after a dispatch commits, every new RecipientEvent goes to its
recipient's group (a user's, or staff's) on the channel layer.

The layer (channels-redis when REDIS_URL is set, shared by every daphne process; the
in-memory layer in one embedded process) is at most once: a message it drops is read back
from the database by the consumer, which sees the gap in the sequence (consumers.py).
So publishing may fail or lose messages without losing events; it is only what makes
them arrive at once.
"""

import logging
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from notifications.models import Audience, RecipientEvent
from notifications.streams.consumers import EVENT_MESSAGE, STAFF_GROUP, user_group
from notifications.streams.selectors import event_text

logger = logging.getLogger("notifications.streams")

#: after this event, the recipient's own stream is closed (4403): it may not stay open
CLOSES_STREAM = {"user.suspended"}


def publish(rows: Iterable) -> int:
    """Send RecipientEvents (rows, or their ids) to their groups, in sequence order per
    recipient; returns how many were sent. Call it outside any transaction."""
    rows = list(rows)
    if rows and not isinstance(rows[0], RecipientEvent):
        rows = list(RecipientEvent.objects.select_related("event").filter(id__in=rows))
    rows.sort(key=lambda row: (row.audience, row.user_id or 0, row.sequence))
    messages = [(_group(row), _message(row)) for row in rows]
    if not messages:
        return 0
    layer = get_channel_layer()
    if layer is None:
        return 0
    try:
        async_to_sync(_send_all)(layer, messages)
    except Exception:  # the consumers read it back from the database
        logger.exception("streams: publishing %d events failed", len(messages))
        return 0
    return len(messages)


def _group(row: RecipientEvent) -> str:
    return STAFF_GROUP if row.audience == Audience.STAFF else user_group(row.user_id)


def _message(row: RecipientEvent) -> dict:
    message = {"type": EVENT_MESSAGE, "sequence": row.sequence, "text": event_text(row)}
    if row.audience == Audience.USER and row.type in CLOSES_STREAM:
        message["close"] = True
    return message


async def _send_all(layer, messages) -> None:
    # one after the other: concurrent sends to one group could overtake each other
    for group, message in messages:
        await layer.group_send(group, message)
