# ruff: noqa: F811  (fixtures imported by name from webhook_fixtures)
"""The streams served by real daphne processes, spoken to with a `websockets` client:
a reconnect with after= misses nothing and repeats nothing while payments keep coming;
a ticket opens one connection; a foreign Origin is refused; two processes sharing the
Redis channel layer both deliver what either committed."""

import asyncio
import json
import os

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.notifications.daphne_processes import (
    daphnes,
    pay_http,
    read_event,
    server_env,
    shared_database_url,
)
from tests.notifications.webhook_fixtures import merchant, relaxed_risk  # noqa: F401

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("relaxed_risk"),
]


@pytest.fixture
def world(alice, merchant, fund, usdt):
    from rest_framework_simplejwt.tokens import AccessToken

    from fastpay.api_keys import api_key_create

    fund(alice, usdt, 1_000)
    _, key = api_key_create(user=merchant, name="till", scopes=["events:read"])
    return {
        "key": key,
        "payer": str(AccessToken.for_user(alice)),
        "merchant": str(AccessToken.for_user(merchant)),
    }


def key_protocols(world):
    return ["fastpay.v1", world["key"]]


async def nothing_more(ws, seconds=0.5):
    try:
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), seconds))
            if message["type"] == "stream.ping":
                await ws.send(json.dumps({"type": "stream.pong", "n": message["n"]}))
                continue
            return message
    except TimeoutError:
        return None


def test_a_reconnect_with_after_gives_no_gap_and_no_duplicate(world, tmp_path):
    async def scenario(host):
        seen = []
        async with httpx.AsyncClient(timeout=10) as http:
            url = f"ws://{host}/ws/v1/events/"
            async with connect(url, subprotocols=key_protocols(world)) as ws:
                await pay_http(http, host, world["payer"], "shop", "1")
                seen.append(await read_event(ws))
            # offline: two payments happen meanwhile
            for amount in ("2", "3"):
                await pay_http(http, host, world["payer"], "shop", amount)

            async def keep_paying():
                for amount in range(4, 11):
                    await pay_http(http, host, world["payer"], "shop", str(amount))

            paying = asyncio.create_task(keep_paying())  # while the backlog is read
            after = f"{url}?after={seen[-1]['id']}"
            async with connect(after, subprotocols=key_protocols(world)) as ws:
                while len(seen) < 10:
                    seen.append(await read_event(ws))
                await paying
                assert await nothing_more(ws) is None
        return seen

    with daphnes(1, server_env(shared_database_url(tmp_path)), tmp_path) as (host,):
        seen = asyncio.run(scenario(host))

    assert [event["sequence"] for event in seen] == list(range(1, 11))
    assert len({event["id"] for event in seen}) == 10
    assert [event["data"]["amount"] for event in seen] == [f"{n}.000000" for n in range(1, 11)]


def test_a_ticket_opens_one_connection_and_a_foreign_origin_none(world, tmp_path):
    async def scenario(host):
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(
                f"http://{host}/api/v1/stream-tickets/",
                json={"stream": "events"},
                headers={"Authorization": f"Bearer {world['merchant']}"},
            )
            assert response.status_code == 201, response.text
            ticket_url = f"ws://{host}{response.json()['url']}"
            async with connect(ticket_url, origin=f"http://{host}") as ws:
                assert json.loads(await ws.recv())["type"] == "stream.ready"
            async with connect(ticket_url, origin=f"http://{host}") as ws:
                error = json.loads(await ws.recv())
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
                assert (error["code"], ws.close_code) == ("invalid_ticket", 4401)
            with pytest.raises(InvalidStatus) as refused:
                async with connect(
                    f"ws://{host}/ws/v1/events/",
                    origin="https://evil.example",
                    subprotocols=key_protocols(world),
                ):
                    pass
            assert refused.value.response.status_code == 403

    with daphnes(1, server_env(shared_database_url(tmp_path)), tmp_path) as (host,):
        asyncio.run(scenario(host))


def test_two_daphne_processes_over_redis_both_deliver(world, tmp_path):
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        if os.environ.get("CI"):
            pytest.fail("CI sets REDIS_URL: the shared channel layer must be tested")
        pytest.skip("REDIS_URL not set: no shared channel layer to test")

    async def scenario(a, b):
        async with (
            httpx.AsyncClient(timeout=10) as http,
            connect(f"ws://{a}/ws/v1/events/", subprotocols=key_protocols(world)) as on_a,
            connect(f"ws://{b}/ws/v1/events/", subprotocols=key_protocols(world)) as on_b,
        ):
            for ws in (on_a, on_b):
                assert json.loads(await ws.recv())["type"] == "stream.ready"
            await pay_http(http, a, world["payer"], "shop", "1")  # committed on a
            first = [await read_event(on_a), await read_event(on_b)]
            await pay_http(http, b, world["payer"], "shop", "2")  # committed on b
            second = [await read_event(on_a), await read_event(on_b)]
        return first, second

    env = server_env(shared_database_url(tmp_path), redis_url)
    with daphnes(2, env, tmp_path) as (a, b):
        first, second = asyncio.run(scenario(a, b))

    assert [e["sequence"] for e in first] == [1, 1] and first[0]["id"] == first[1]["id"]
    assert [e["sequence"] for e in second] == [2, 2] and second[0]["id"] == second[1]["id"]
