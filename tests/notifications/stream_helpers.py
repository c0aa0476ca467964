"""Helpers of the stream tests: the WebSocket application as fastpay.asgi builds it,
a communicator connected with a ticket, receiving past pings, paying through services."""

import json
import uuid

from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

ORIGIN = "http://testserver"


def ws_application():
    from fastpay.ws_origin import StreamOriginValidator
    from notifications.streams.routing import websocket_urlpatterns

    return StreamOriginValidator(URLRouter(websocket_urlpatterns))


def ticket_for(user, stream="events") -> str:
    from notifications.streams.tickets import stream_ticket_issue

    return stream_ticket_issue(user=user, stream=stream)[1]


async def ws_open(path, *, origin=ORIGIN, subprotocols=None):
    headers = [(b"origin", origin.encode())] if origin else []
    communicator = WebsocketCommunicator(
        ws_application(), path, headers=headers, subprotocols=subprotocols
    )
    connected, subprotocol = await communicator.connect(timeout=3)
    return communicator, connected, subprotocol


async def next_message(communicator, *, timeout=3.0, pong=True) -> dict:
    """The next message that is not a ping (pings are answered unless pong=False)."""
    while True:
        message = json.loads(await communicator.receive_from(timeout=timeout))
        if message["type"] == "stream.ping":
            if pong:
                await communicator.send_to(json.dumps({"type": "stream.pong", "n": message["n"]}))
            continue
        return message


async def events_until(communicator, count, *, timeout=3.0) -> list[dict]:
    """`count` events (skipping stream.* control messages)."""
    got = []
    while len(got) < count:
        message = await next_message(communicator, timeout=timeout)
        if not message["type"].startswith("stream."):
            got.append(message)
    return got


async def closed_with(communicator, *, timeout=3.0):
    """Read until the close; returns (last stream.error or None, close code)."""
    error = None
    while True:
        output = await communicator.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            return error, output.get("code")
        if output["type"] == "websocket.send":
            message = json.loads(output["text"])
            if message["type"] == "stream.error":
                error = message


def pay_committed(payer, payee, whole=1):
    """A payment through the service, committed: the on-commit dispatch publishes it."""
    from fastpay.money import parse_units
    from wallets.models import Token
    from wallets.services.adjustments import ledger_adjust
    from wallets.services.payments import PaymentItem, payment_create

    usdt = Token.objects.get(symbol="USDT")
    units = parse_units(str(whole), usdt.ledger_decimals)
    ledger_adjust(
        user=payer,
        token=usdt,
        amount=units,
        reason="test funding",
        operator=None,
        idempotency_key=f"stream-fund-{uuid.uuid4()}",
    )
    return payment_create(
        payer=payer, item=PaymentItem(payee=payee.username, token=usdt, amount=units)
    )


apay = database_sync_to_async(pay_committed)
aticket = database_sync_to_async(ticket_for)
