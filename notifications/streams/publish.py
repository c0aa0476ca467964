"""The stream sink: after a dispatch commits, every new RecipientEvent goes to its
recipient's group (a user's, or staff's) on the channel layer.

The layer (channels-redis when REDIS_URL is set, shared by every daphne process; the
in-memory layer in one embedded process) is at most once: a message it drops is read back
from the database by the consumer, which sees the gap in the sequence (consumers.py).
So publishing may fail or lose messages without losing events; it is only what makes
them arrive at once.
"""

import asyncio
import logging
import threading
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

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
        if isinstance(layer, InMemoryChannelLayer):
            # its queues belong to the event loop of this process's consumers:
            # async_to_sync reaches it from a request's thread
            async_to_sync(_send_all)(layer, messages)
        else:
            # a network layer (Redis): one long-lived loop per process keeps its
            # connections, where async_to_sync would open a new loop (and connection)
            # per call from a worker's thread
            asyncio.run_coroutine_threadsafe(_send_all(layer, messages), _loop()).result(30)
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


_publisher: dict = {}
_publisher_lock = threading.Lock()


def _loop() -> asyncio.AbstractEventLoop:
    with _publisher_lock:
        loop = _publisher.get("loop")
        if loop is None or loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="streams-publisher", daemon=True).start()
            _publisher["loop"] = loop
        return loop


async def _send_all(layer, messages) -> None:
    # one after the other: concurrent sends to one group could overtake each other
    for group, message in messages:
        await layer.group_send(group, message)
