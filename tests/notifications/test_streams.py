# ruff: noqa: F811  (fixtures imported by name from webhook_fixtures)
"""The live streams through Channels' WebsocketCommunicator: tickets, API keys, origins,
tenants, resume with after=, heartbeats and slow consumers."""

import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from notifications.models import RecipientEvent
from notifications.streams.models import StreamTicket
from tests.notifications.stream_helpers import (
    apay,
    aticket,
    closed_with,
    events_until,
    next_message,
    ticket_for,
    ws_open,
)
from tests.notifications.webhook_fixtures import merchant, other_merchant, relaxed_risk  # noqa: F401

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("relaxed_risk"),
]


@pytest.fixture(autouse=True)
def _in_memory_layer(settings):
    """Groups are named by user id: in a Redis layer other test runs share (REDIS_URL),
    another run's user 5 would hear ours. The Redis layer is tested with real daphne
    processes (test_streams_daphne)."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def run(coroutine_function):
    async_to_sync(coroutine_function)()


async def open_ready(user, *, after=None, stream="events"):
    ticket = await aticket(user, stream)
    path = f"/ws/v1/{stream}/?ticket={ticket}" + (f"&after={after}" if after else "")
    communicator, connected, _ = await ws_open(path)
    assert connected
    ready = await next_message(communicator)
    while ready["type"] != "stream.ready":  # the backlog of after= comes first
        ready = await next_message(communicator)
    return communicator, ready


def test_a_payment_arrives_live_as_the_public_event_json(alice, merchant):
    async def body():
        communicator, ready = await open_ready(merchant)
        assert ready["sequence"] == 0
        payment = await apay(alice, merchant, 3)
        (event,) = await events_until(communicator, 1)
        assert set(event) == {"id", "type", "version", "created", "sequence", "data"}
        assert event["type"] == "payment.succeeded" and event["sequence"] == 1
        assert event["data"]["payment_id"] == str(payment.id)
        assert event["data"]["amount"] == "3.000000" and event["data"]["amount_units"] == 3_000_000
        await communicator.disconnect()

    run(body)


def test_another_merchants_payments_never_reach_the_stream(alice, merchant, other_merchant):
    async def body():
        other, _ = await open_ready(other_merchant)
        await apay(alice, merchant, 5)  # not theirs
        await apay(alice, other_merchant, 1)  # theirs: the first thing they see
        (event,) = await events_until(other, 1)
        assert event["data"]["payee"] == "other_shop" and event["sequence"] == 1
        assert await other.receive_nothing(timeout=0.3)
        await other.disconnect()

    run(body)


def test_a_ticket_opens_one_connection_once(merchant):
    async def body():
        ticket = await aticket(merchant)
        first, connected, _ = await ws_open(f"/ws/v1/events/?ticket={ticket}")
        assert connected and (await next_message(first))["type"] == "stream.ready"
        second, connected, _ = await ws_open(f"/ws/v1/events/?ticket={ticket}")
        error, code = await closed_with(second)
        assert (error["code"], code) == ("invalid_ticket", 4401)
        await first.disconnect()

    run(body)


def test_an_expired_ticket_is_refused(merchant):
    ticket = ticket_for(merchant)
    StreamTicket.objects.update(
        expires_at=timezone.now(), created_at=timezone.now() - timezone.timedelta(minutes=5)
    )

    async def body():
        communicator, _, _ = await ws_open(f"/ws/v1/events/?ticket={ticket}")
        error, code = await closed_with(communicator)
        assert (error["code"], code) == ("invalid_ticket", 4401)

    run(body)


@pytest.mark.parametrize(
    ("query", "code", "close"),
    [
        ("", "not_authenticated", 4401),
        ("?ticket=fst_made-up", "invalid_ticket", 4401),
        ("?ticket=a&ticket=b", "duplicate_parameter", 4400),
        ("?token=x", "unknown_parameter", 4400),
        ("?after=not-a-uuid", "invalid_after", 4400),
    ],
)
def test_a_connection_without_a_valid_ticket_is_told_why_and_closed(db, query, code, close):
    async def body():
        communicator, _, _ = await ws_open(f"/ws/v1/events/{query}")
        error, got = await closed_with(communicator)
        assert (error["code"], got) == (code, close)

    run(body)


def test_an_events_ticket_does_not_open_the_staff_stream(operator):
    ticket = ticket_for(operator, "events")

    async def body():
        communicator, _, _ = await ws_open(f"/ws/v1/staff/?ticket={ticket}")
        error, code = await closed_with(communicator)
        assert (error["code"], code) == ("invalid_ticket", 4401)

    run(body)


def test_a_foreign_origin_is_refused_at_the_handshake(merchant):
    ticket = ticket_for(merchant)

    async def body():
        _, connected, _ = await ws_open(
            f"/ws/v1/events/?ticket={ticket}", origin="https://evil.example"
        )
        assert not connected

    run(body)
    assert not StreamTicket.objects.filter(used_at__isnull=False).exists()  # not spent


def test_a_server_opens_the_stream_with_an_api_key_as_subprotocol(alice, merchant):
    from fastpay.api_keys import api_key_create

    _, key = api_key_create(user=merchant, name="till", scopes=["events:read"])
    _, weak = api_key_create(user=merchant, name="writer", scopes=["payments:write"])

    async def body():
        communicator, connected, subprotocol = await ws_open(
            "/ws/v1/events/", origin=None, subprotocols=["fastpay.v1", key]
        )
        assert connected and subprotocol == "fastpay.v1"  # the key is never echoed
        assert (await next_message(communicator))["type"] == "stream.ready"
        await apay(alice, merchant, 1)
        (event,) = await events_until(communicator, 1)
        assert event["type"] == "payment.succeeded"
        await communicator.disconnect()

        refused, _, _ = await ws_open("/ws/v1/events/", origin=None, subprotocols=[weak])
        error, code = await closed_with(refused)
        assert (error["code"], code) == ("missing_scope", 4403)
        bogus, _, _ = await ws_open("/ws/v1/events/", subprotocols=["fpk_abc_def"])
        error, code = await closed_with(bogus)
        assert (error["code"], code) == ("invalid_api_key", 4401)

    run(body)


def test_resume_after_an_event_sends_the_missed_ones_then_live_ones_once(alice, merchant):
    async def body():
        for whole in (1, 2, 3):
            await apay(alice, merchant, whole)
        first = await database_sync_to_async(
            lambda: str(RecipientEvent.objects.get(user=merchant, sequence=1).event_id)
        )()
        communicator, ready = await open_ready(merchant, after=first)
        # the backlog came before ready
        assert ready["sequence"] == 3
        await apay(alice, merchant, 4)
        (live,) = await events_until(communicator, 1)
        assert live["sequence"] == 4
        # the same message published again (a redispatch, another process) is dropped
        row = await database_sync_to_async(
            lambda: RecipientEvent.objects.select_related("event").get(user=merchant, sequence=4)
        )()
        from notifications.streams.publish import publish

        await database_sync_to_async(publish)([row])
        assert await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()

    run(body)


def test_the_backlog_arrives_in_order_before_ready(alice, merchant):
    async def body():
        for whole in (1, 2, 3):
            await apay(alice, merchant, whole)
        first = await database_sync_to_async(
            lambda: str(RecipientEvent.objects.get(user=merchant, sequence=1).event_id)
        )()
        ticket = await aticket(merchant)
        communicator, _, _ = await ws_open(f"/ws/v1/events/?ticket={ticket}&after={first}")
        got = [await next_message(communicator) for _ in range(3)]
        assert [(m["type"], m.get("sequence")) for m in got] == [
            ("payment.succeeded", 2),
            ("payment.succeeded", 3),
            ("stream.ready", 3),
        ]
        await communicator.disconnect()

    run(body)


def test_after_another_tenants_event_reads_as_unknown(alice, merchant, other_merchant):
    async def body():
        await apay(alice, merchant, 1)
        theirs = await database_sync_to_async(
            lambda: str(RecipientEvent.objects.get(user=merchant).event_id)
        )()
        ticket = await aticket(other_merchant)
        communicator, _, _ = await ws_open(f"/ws/v1/events/?ticket={ticket}&after={theirs}")
        error, code = await closed_with(communicator)
        assert (error["code"], code) == ("unknown_event", 4404)

    run(body)


def test_events_the_layer_lost_are_read_back_from_the_database(alice, merchant, monkeypatch):
    from notifications.streams import publish as publish_module

    real = publish_module.publish
    sent = []

    def lossy(batch):  # the layer drops the first two
        sent.append(batch)
        return 0 if len(sent) <= 2 else real(batch.rows)

    monkeypatch.setattr("notifications.sinks.SINKS", [lossy])

    async def body():
        communicator, _ = await open_ready(merchant)
        for whole in (1, 2, 3):
            await apay(alice, merchant, whole)
        got = await events_until(communicator, 3)
        assert [m["sequence"] for m in got] == [1, 2, 3]
        await communicator.disconnect()

    run(body)


def test_a_client_that_never_answers_pings_is_closed(merchant, settings):
    settings.FASTPAY_STREAM_HEARTBEAT_S = 0.05
    settings.FASTPAY_STREAM_PONG_TIMEOUT_S = 0.2

    async def body():
        communicator, _ = await open_ready(merchant)
        error, code = await closed_with(communicator, timeout=2)
        assert (error["code"], code) == ("no_pong", 4008)

    run(body)


def test_a_client_that_answers_pings_stays(merchant, settings):
    settings.FASTPAY_STREAM_HEARTBEAT_S = 0.05
    settings.FASTPAY_STREAM_PONG_TIMEOUT_S = 0.2

    async def body():
        communicator, _ = await open_ready(merchant)
        for _ in range(10):  # 10 heartbeats, each answered
            message = json.loads(await communicator.receive_from(timeout=1))
            assert message["type"] == "stream.ping"
            await communicator.send_to(json.dumps({"type": "stream.pong", "n": message["n"]}))
        await communicator.disconnect()

    run(body)


def test_a_client_that_stops_reading_is_closed_a_window_behind(alice, merchant, settings):
    settings.FASTPAY_STREAM_WINDOW_BYTES = 3000

    async def body():
        communicator, _ = await open_ready(merchant)
        for whole in range(1, 16):  # ~6 KB of events; the client never answers a ping
            await apay(alice, merchant, whole)
        texts = []
        while True:
            output = await communicator.receive_output(timeout=3)
            if output["type"] == "websocket.close":
                break
            texts.append(json.loads(output["text"]))
        assert output["code"] == 4008 and texts[-1]["code"] == "slow_consumer"
        sent = sum(len(json.dumps(t, separators=(",", ":"))) for t in texts)
        assert sent < 3000 + 1000  # the window plus the last event and the error
        assert [t["type"] for t in texts].count("stream.ping") >= 1

    run(body)


def test_a_suspended_users_stream_is_closed(merchant, operator):
    from wallets.services.users import user_suspend

    async def body():
        communicator, _ = await open_ready(merchant)
        await database_sync_to_async(user_suspend)(user_id=merchant.pk, by=operator, reason="x")
        (event,) = await events_until(communicator, 1)
        assert event["type"] == "user.suspended"
        output = await communicator.receive_output(timeout=2)
        assert output == {"type": "websocket.close", "code": 4403}

    run(body)


def test_staff_see_staff_events_and_the_staff_status(operator, merchant):
    from wallets.services.users import user_suspend

    async def body():
        communicator, _ = await open_ready(operator, stream="staff")
        status = await next_message(communicator)
        assert status["type"] == "stream.staff_status"
        assert set(status) == {"type", "reviews", "breakers", "committee"}
        assert status["reviews"]["open"] == 0
        await database_sync_to_async(user_suspend)(user_id=merchant.pk, by=operator, reason="x")
        (event,) = await events_until(communicator, 1)
        assert event["type"] == "user.suspended" and event["data"]["user_id"] == merchant.pk
        await communicator.disconnect()

    run(body)


def test_a_non_staff_user_cannot_open_the_staff_stream_with_an_api_key(merchant):
    from fastpay.api_keys import api_key_create

    _, key = api_key_create(user=merchant, name="till", scopes=["events:read"])

    async def body():
        communicator, _, _ = await ws_open("/ws/v1/staff/", subprotocols=[key])
        error, code = await closed_with(communicator)
        assert (error["code"], code) == ("staff_only", 4403)

    run(body)


def test_the_publisher_sends_to_the_recipients_group_only(merchant, other_merchant):
    layer = get_channel_layer()

    async def body():
        mine, _ = await open_ready(merchant)
        theirs, _ = await open_ready(other_merchant)
        await layer.group_send(
            f"events.user.{merchant.pk}", {"type": "stream.event", "sequence": 1, "text": '{"x":1}'}
        )
        assert json.loads(await mine.receive_from(timeout=1)) == {"x": 1}
        assert await theirs.receive_nothing(timeout=0.3)
        await mine.disconnect()
        await theirs.disconnect()

    run(body)
