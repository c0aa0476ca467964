"""The live streams: /ws/v1/events/ (a user's own events) and /ws/v1/staff/ (staff).

One connection, in order:

1. authenticate (ticket or API key, notifications.streams.auth) and accept;
2. join the recipient's group, *then* read the database: an event committed while we
   read reaches us live, an event committed before is in what we read;
3. send what was missed (``after=<event id>``: every event with a higher sequence), page
   by page, then ``stream.ready``, then live events.

A live event whose sequence is not above the last one sent is a duplicate and dropped;
one that skips sequences means the channel layer lost some (it is at most once and drops
past its capacity): the gap is read from the database before it is sent. So the client
sees every sequence once, in order, whatever the layer does.

Memory per connection is bounded twice: live events wait in a queue of
FASTPAY_STREAM_QUEUE messages (beyond it they are dropped and read back from the database
later), and at most FASTPAY_STREAM_WINDOW_BYTES may be sent and not yet acknowledged:
the server pings (``{"type": "stream.ping", "n": 7}``) every FASTPAY_STREAM_HEARTBEAT_S
seconds and whenever half the window went out since the last ping, and the client answers
``{"type": "stream.pong", "n": 7}`` once it has read up to the ping. A client that falls a
window behind, or leaves a ping unanswered FASTPAY_STREAM_PONG_TIMEOUT_S seconds, is
closed with 4008 and resumes with ``after=`` the last event it handled.
"""

import asyncio
import json
import logging
import time

from channels.db import aclose_old_connections, database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from notifications.models import Audience
from notifications.streams import errors, selectors
from notifications.streams.auth import stream_authenticate
from notifications.streams.models import StreamName

logger = logging.getLogger("notifications.streams")

STAFF_GROUP = "events.staff"
#: the message the publisher sends a group: {"type": EVENT_MESSAGE, "sequence", "text"}
EVENT_MESSAGE = "stream.event"
#: queued instead of an event: read from the database what the layer may have lost
_RESYNC = object()
#: a client message larger than this is not read
MAX_CLIENT_MESSAGE = 1024


def user_group(user_id: int) -> str:
    return f"events.user.{user_id}"


class EventStreamConsumer(AsyncWebsocketConsumer):
    """A vendor's or merchant's own events, live."""

    stream = StreamName.EVENTS
    audience = Audience.USER

    # ---------------------------------------------------------------- connection

    async def connect(self):
        self.user_id = None
        self.tasks: list[asyncio.Task] = []
        self.closing = False
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=settings.FASTPAY_STREAM_QUEUE)
        self.resync_wanted = False
        self.last_sent = 0
        self.sent_bytes = 0
        self.acked_bytes = 0
        self.ping_n = 0
        self.pings: dict[int, tuple[float, int]] = {}  # n -> (sent at, sent_bytes then)
        self.bytes_at_last_ping = 0
        try:
            request = await database_sync_to_async(stream_authenticate)(
                self.scope, stream=self.stream
            )
        except errors.StreamRefused as refused:
            await self.accept(self._offered_subprotocol())
            await self._refuse(refused)
            return
        self.user = request.user
        self.user_id = None if self.audience == Audience.STAFF else request.user.pk
        await self.accept(request.subprotocol)
        group = self.group_name()
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups.append(group)  # left again by websocket_disconnect
        self.tasks = [
            asyncio.create_task(self._pump(request.after)),
            asyncio.create_task(self._heartbeat()),
        ]

    def group_name(self) -> str:
        return user_group(self.user_id)

    def _offered_subprotocol(self):
        from notifications.streams.auth import SUBPROTOCOL

        return SUBPROTOCOL if SUBPROTOCOL in (self.scope.get("subprotocols") or []) else None

    async def disconnect(self, code):
        self.closing = True
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()

    async def dispatch(self, message):
        # channels closes stale DB connections before every handler (a thread hop each);
        # a live event touches no connection, and there may be thousands a second
        if message.get("type") == EVENT_MESSAGE:
            await self.stream_event(message)
            return
        await super().dispatch(message)

    async def _refuse(self, refused: errors.StreamRefused) -> None:
        """Tell the client why (a stream.error message), then close with the code."""
        if self.closing:
            return
        self.closing = True
        error = {"type": "stream.error", "code": refused.code, "message": refused.message}
        await self.send(text_data=json.dumps(error, separators=(",", ":")))
        await self.close(refused.close_code)

    async def _close(self, code: int) -> None:
        if not self.closing:
            self.closing = True
            await self.close(code)

    # ---------------------------------------------------------------- from the layer

    async def stream_event(self, message):
        if self.closing:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            # not lost: the pump reads it back from the database once the queue drains
            self.resync_wanted = True

    # ---------------------------------------------------------------- to the client

    async def _pump(self, after) -> None:
        try:
            await self._start(after)
            while not self.closing:
                message = await self.queue.get()
                if message is _RESYNC or self.resync_wanted:
                    self.resync_wanted = False
                    await self._catch_up(upto=None)
                if message is _RESYNC:
                    continue
                sequence = message["sequence"]
                if sequence <= self.last_sent:
                    continue  # already sent (from the database, or a duplicate)
                if sequence > self.last_sent + 1:
                    await self._catch_up(upto=sequence - 1)  # the layer lost some
                    if sequence <= self.last_sent:
                        continue
                await self._send_event(sequence, message["text"])
                await self._after_event(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("stream %s: pump failed", self.group_name())
            await self._close(1011)
        finally:
            await aclose_old_connections()

    async def _start(self, after) -> None:
        if after is None:
            self.last_sent = await database_sync_to_async(selectors.stream_position)(
                audience=self.audience, user_id=self.user_id
            )
        else:
            sequence = await database_sync_to_async(selectors.stream_sequence_of)(
                audience=self.audience, user_id=self.user_id, event_id=after
            )
            if sequence is None:
                await self._refuse(
                    errors.StreamRefused(
                        "unknown_event", "no event with that id was addressed to you", 4404
                    )
                )
                return
            self.last_sent = sequence
            await self._catch_up(upto=None)
        await self._send_json({"type": "stream.ready", "sequence": self.last_sent})
        await self._ready()

    async def _ready(self) -> None:
        """After the backlog: what a subclass adds (the staff status)."""

    async def _after_event(self, message) -> None:
        """After an event went out (a suspended user's stream is closed)."""
        if message.get("close"):
            await self._close(4403)

    async def _catch_up(self, *, upto: int | None) -> None:
        """Send every event after last_sent (up to `upto`) from the database."""
        while not self.closing:
            page = await database_sync_to_async(selectors.stream_page)(
                audience=self.audience, user_id=self.user_id, after=self.last_sent, upto=upto
            )
            for sequence, text in page:
                await self._send_event(sequence, text)
            if len(page) < selectors.PAGE:
                return

    async def _send_event(self, sequence: int, text: str) -> None:
        await self._send_text(text)
        self.last_sent = sequence

    async def _send_json(self, content: dict) -> None:
        await self._send_text(json.dumps(content, separators=(",", ":")))

    async def _send_text(self, text: str) -> None:
        if self.closing:
            return
        await self.send(text_data=text)
        self.sent_bytes += len(text)
        window = settings.FASTPAY_STREAM_WINDOW_BYTES
        if self.sent_bytes - self.acked_bytes > window:
            logger.info("stream %s: slow consumer closed", self.group_name())
            await self._refuse(
                errors.StreamRefused(
                    "slow_consumer",
                    f"more than {window} bytes sent and not acknowledged; resume with after=",
                    errors.SLOW_CONSUMER,
                )
            )
        elif self.sent_bytes - self.bytes_at_last_ping >= window // 2:
            await self._ping()

    # ---------------------------------------------------------------- heartbeats

    async def _ping(self) -> None:
        self.ping_n += 1
        self.bytes_at_last_ping = self.sent_bytes
        self.pings[self.ping_n] = (time.monotonic(), self.sent_bytes)
        await self._send_json({"type": "stream.ping", "n": self.ping_n})

    async def _heartbeat(self) -> None:
        interval = settings.FASTPAY_STREAM_HEARTBEAT_S
        timeout = settings.FASTPAY_STREAM_PONG_TIMEOUT_S
        while not self.closing:
            await asyncio.sleep(interval)
            oldest = min(self.pings.values(), default=None)
            if oldest is not None and time.monotonic() - oldest[0] > timeout:
                await self._refuse(
                    errors.StreamRefused(
                        "no_pong", f"no stream.pong within {timeout} s", errors.SLOW_CONSUMER
                    )
                )
                return
            await self._ping()
            # the layer may have lost the last events of a burst (no later event shows
            # the gap): compare with the database now and then
            try:
                self.queue.put_nowait(_RESYNC)
            except asyncio.QueueFull:
                self.resync_wanted = True
            await self._tick()

    async def _tick(self) -> None:
        """Every heartbeat: what a subclass adds."""

    async def receive(self, text_data=None, bytes_data=None):
        if text_data is None or len(text_data) > MAX_CLIENT_MESSAGE:
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            return
        if not isinstance(message, dict) or message.get("type") != "stream.pong":
            return
        n = message.get("n")
        if not isinstance(n, int) or isinstance(n, bool) or n not in self.pings:
            return
        self.acked_bytes = max(self.acked_bytes, self.pings[n][1])
        for earlier in [k for k in self.pings if k <= n]:
            del self.pings[earlier]


class StaffStreamConsumer(EventStreamConsumer):
    """Staff: every event addressed to staff (review queue, circuit breakers, committee
    events), plus ``stream.staff_status`` — the open review queue, the open breakers and
    the committee's health — on connect and whenever it changes (read every
    FASTPAY_STREAM_STAFF_POLL_S seconds: committee health is a probe's result, not an
    event)."""

    stream = StreamName.STAFF
    audience = Audience.STAFF

    def group_name(self) -> str:
        return STAFF_GROUP

    async def _ready(self) -> None:
        self.status_sent = None
        self.status_read_at = 0.0
        await self._send_status()

    async def _tick(self) -> None:
        read_at = getattr(self, "status_read_at", None)  # None until the backlog is sent
        if (
            read_at is not None
            and time.monotonic() - read_at >= settings.FASTPAY_STREAM_STAFF_POLL_S
        ):
            await self._send_status()

    async def _send_status(self) -> None:
        from notifications.streams.staff import staff_status

        self.status_read_at = time.monotonic()
        status = await database_sync_to_async(staff_status)()
        if status != self.status_sent:
            self.status_sent = status
            await self._send_json({"type": "stream.staff_status", **status})
