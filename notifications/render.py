"""The public JSON of an event: one shape for the events API, webhook bodies and stream
messages."""

import json
from datetime import UTC

from notifications.catalogue import event_type


def rfc3339(value) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def event_json(recipient_event) -> dict:
    """{"id", "type", "version", "created", "sequence", "data"} of a RecipientEvent (its
    ``event`` loaded): ``id`` is the outbox event's, the same for every recipient."""
    event = recipient_event.event
    return {
        "id": str(event.id),
        "type": event.topic,
        "version": event_type(event.topic).version,
        "created": rfc3339(event.created_at),
        "sequence": recipient_event.sequence,
        "data": event.payload,
    }


def event_body(recipient_event) -> bytes:
    """The bytes a webhook signs and sends (compact, keys in a fixed order)."""
    return json.dumps(event_json(recipient_event), separators=(",", ":"), sort_keys=True).encode()
