"""Who opens a stream: a ticket in the query string (browsers) or an API key offered as a
WebSocket subprotocol (servers), never a cookie.

Cookies are not read at all, so a page on another site cannot ride a user's session into
a stream (cross-site WebSocket hijacking); the Origin check (fastpay.ws_origin) is a
second guard for browsers, which always send Origin.

    new WebSocket(url + "?ticket=" + ticket)                      # a browser
    websockets.connect(url, subprotocols=["fastpay.v1", "fpk_..."])  # a server

The connection is accepted with the subprotocol "fastpay.v1" when the client offered it
(a client that offers subprotocols must be given one of them back); the key itself is
never echoed.
"""

import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastpay.api_keys import KEY_PREFIX, api_key_authenticate
from fastpay.models import ApiKeyScope
from notifications.streams import errors
from notifications.streams.access import stream_refusal
from notifications.streams.tickets import stream_ticket_spend

SUBPROTOCOL = "fastpay.v1"
QUERY_PARAMS = {"ticket", "after"}
#: the scope an API key needs to open a stream (the events API's)
EVENTS_SCOPE = ApiKeyScope.EVENTS_READ.value


@dataclass(frozen=True)
class StreamRequest:
    user: object
    after: uuid.UUID | None
    subprotocol: str | None


def stream_query(scope) -> dict[str, str]:
    """The query string, strictly: known parameters, each at most once."""
    try:
        pairs = parse_qsl(scope.get("query_string", b"").decode("ascii"), strict_parsing=False)
    except UnicodeDecodeError:
        raise errors.bad_request("invalid_query", "the query string is not ASCII") from None
    query: dict[str, str] = {}
    for name, value in pairs:
        if name not in QUERY_PARAMS:
            raise errors.bad_request("unknown_parameter", f"unknown query parameter {name[:40]!r}")
        if name in query:
            raise errors.bad_request("duplicate_parameter", f"{name} given twice")
        query[name] = value
    return query


def stream_authenticate(scope, *, stream: str) -> StreamRequest:
    """Check the credentials and the resume point of a connection to `stream`; spends the
    ticket. Raises StreamRefused. Synchronous (database): call it through
    database_sync_to_async."""
    query = stream_query(scope)
    after = None
    if "after" in query:
        try:
            after = uuid.UUID(query["after"])
        except ValueError:
            raise errors.bad_request("invalid_after", "after must be an event id (uuid)") from None
    offered = list(scope.get("subprotocols") or [])
    keys = [p for p in offered if p.startswith(KEY_PREFIX)]
    if "ticket" in query and keys:
        raise errors.bad_request("ambiguous_credentials", "give a ticket or an API key, not both")
    if len(keys) > 1:
        raise errors.bad_request("ambiguous_credentials", "offer one API key")
    if "ticket" in query:
        user = stream_ticket_spend(secret=query["ticket"], stream=stream)
        if user is None:
            raise errors.unauthenticated(
                "invalid_ticket", "the ticket is unknown, expired, for another stream or used"
            )
    elif keys:
        key = api_key_authenticate(keys[0])
        if key is None:
            raise errors.unauthenticated("invalid_api_key", "invalid or revoked API key")
        if EVENTS_SCOPE not in key.scopes:
            raise errors.forbidden("missing_scope", f"this API key lacks the {EVENTS_SCOPE} scope")
        user = key.user
    else:
        raise errors.unauthenticated(
            "not_authenticated", "give ?ticket= (POST /api/v1/stream-tickets/) or an API key"
        )
    _check_user(user, stream)
    return StreamRequest(
        user=user, after=after, subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None
    )


def _check_user(user, stream: str) -> None:
    """Staff stream: an active staff member. Events stream: an approved, active user."""
    refusal = stream_refusal(user, stream)
    if refusal is not None:
        raise errors.forbidden(*refusal)
