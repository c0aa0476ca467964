"""What a stream reads from the database: its position, the sequence of a resume point,
and pages of its events rendered once (notifications.render.event_json, the one
renderer shared with the events API and webhooks).

Every function here is synchronous; consumers call them through database_sync_to_async.
"""

import json

from notifications.models import Audience, RecipientEvent

#: events read from the database per query when a stream catches up (bounded memory)
PAGE = 200


def _stream(audience: str, user_id: int | None):
    rows = RecipientEvent.objects.filter(audience=audience)
    return rows.filter(user_id=user_id) if audience == Audience.USER else rows


def event_text(row: RecipientEvent) -> str:
    """A recipient event as the stream sends it: the public event JSON, compact."""
    from notifications.render import event_json

    return json.dumps(event_json(row), separators=(",", ":"))


def stream_position(*, audience: str, user_id: int | None) -> int:
    """The stream's last sequence (0: nothing yet)."""
    last = _stream(audience, user_id).order_by("-sequence").values_list("sequence").first()
    return last[0] if last else 0


def stream_sequence_of(*, audience: str, user_id: int | None, event_id) -> int | None:
    """The sequence the outbox event `event_id` has in this stream, or None when it was not
    addressed to this recipient (another tenant's event reads as unknown, as a made-up id)."""
    row = _stream(audience, user_id).filter(event_id=event_id).values_list("sequence").first()
    return row[0] if row else None


def stream_page(
    *, audience: str, user_id: int | None, after: int, upto: int | None = None
) -> list[tuple[int, str]]:
    """Up to PAGE events of the stream with after < sequence (<= upto), in order, as
    (sequence, text)."""
    rows = _stream(audience, user_id).filter(sequence__gt=after)
    if upto is not None:
        rows = rows.filter(sequence__lte=upto)
    rows = rows.select_related("event").order_by("sequence")[:PAGE]
    return [(row.sequence, event_text(row)) for row in rows]
