"""Stream tickets: issue (the secret is returned once) and spend (once, before expiry).

A ticket is for one stream (events or staff) and one connection. Spending it is a
compare-and-set on ``used_at`` with the row count checked, in the database every daphne
process shares, so a ticket replayed on another process is refused too.
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from notifications.streams.access import stream_refusal
from notifications.streams.errors import StreamForbidden
from notifications.streams.models import StreamTicket

TICKET_PREFIX = "fst_"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def stream_ticket_issue(*, user, stream: str) -> tuple[StreamTicket, str]:
    """A ticket for `stream` valid FASTPAY_STREAM_TICKET_TTL_S seconds, with its secret
    (never shown again). Refused (StreamForbidden) to a user the stream itself would
    refuse. The user's expired tickets are removed on the way."""
    refusal = stream_refusal(user, stream)
    if refusal is not None:
        raise StreamForbidden(refusal[1], code=refusal[0], param="stream")
    now = timezone.now()
    StreamTicket.objects.filter(user=user, expires_at__lt=now).delete()
    secret = TICKET_PREFIX + secrets.token_urlsafe(32)
    ticket = StreamTicket.objects.create(
        user=user,
        stream=stream,
        secret_hash=_hash(secret),
        expires_at=now + timedelta(seconds=settings.FASTPAY_STREAM_TICKET_TTL_S),
    )
    return ticket, secret


def stream_ticket_spend(*, secret: str, stream: str):
    """The ticket's user, or None when the ticket is unknown, for another stream, expired
    or already used. Spends it: a second call with the same secret returns None."""
    if not secret.startswith(TICKET_PREFIX) or len(secret) > 100:
        return None
    now = timezone.now()
    spent = StreamTicket.objects.filter(
        secret_hash=_hash(secret), stream=stream, used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    if spent != 1:
        return None
    return StreamTicket.objects.select_related("user").get(secret_hash=_hash(secret)).user
