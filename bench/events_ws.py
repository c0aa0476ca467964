"""Live streams: 1,000 concurrent WebSocket clients on a real daphne, commit-to-receipt.

Starts daphne on a fresh PostgreSQL database with the Redis channel layer (as in
production: a worker dispatches, daphne delivers), seeds one vendor per client, each with
an API key, and connects every client to /ws/v1/events/. Then, in one run:

1. events: this process is the worker. One thread commits outbox events at RATE per
   second, each addressed to a random client's user, and stamps its commit; another
   runs the dispatcher in a loop (notifications.dispatch, batches of what is
   undispatched), which numbers them and publishes them to the users' groups. Latency is
   from the commit to the client's receipt.
2. ceiling: a plain group_send loop at the same rate to the same groups (no database,
   no dispatcher), then flat out for THROUGHPUT_S seconds: what the layer, daphne and the
   clients can do at all.

Every figure is shared with the load generator, which runs on the same 2 cores. Last line
of output: one JSON object with every figure.

    .venv/bin/python bench/events_ws.py [--quick] [--clients 1000] [--rate 200]
"""

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

THROUGHPUT_S = 2.0
CONNECT_CONCURRENCY = 20
CONNECT_TRIES = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def recreate_database(server_url: str) -> str:
    import psycopg

    parts = urlsplit(server_url)
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS fastpay_bench_ws WITH (FORCE)")
        conn.execute("CREATE DATABASE fastpay_bench_ws")
    return parts._replace(path="/fastpay_bench_ws").geturl()


def redis_url() -> str:
    """The Redis the channel layer uses: BENCH_REDIS_URL, else REDIS_URL, else the local
    default. An empty value counts as unset: daphne and this process are two processes,
    an in-memory layer would connect nobody (every event lost, the ceiling "flat out")."""
    return (
        os.environ.get("BENCH_REDIS_URL")
        or os.environ.get("REDIS_URL")
        or "redis://127.0.0.1:6379/0"
    )


def layer_check() -> None:
    """Refuse to measure over a layer that daphne does not share with this process."""
    from django.conf import settings

    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    if "redis" not in backend.lower():
        raise SystemExit(f"the channel layer is {backend}: set BENCH_REDIS_URL")


def bench_env(database_url: str, redis_url: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": "",
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-0123456789abcdef0123456789",
        "LOG_LEVEL": "WARNING",
        "FASTPAY_SSL_REDIRECT": "0",
        "FASTPAY_EMBEDDED_BEAT": "0",
        "DB_POOL_MAX_SIZE": "8",
    }


def seed(clients: int) -> list[tuple[int, str]]:
    """Migrate; one approved vendor per client with an events:read API key."""
    import django

    django.setup()
    from django.core.management import call_command

    from fastpay.api_keys import api_key_create
    from wallets.models import User, UserRole, UserStatus

    call_command("migrate", verbosity=0)
    User.objects.bulk_create(
        [
            User(username=f"vendor{i}", role=UserRole.VENDOR, status=UserStatus.APPROVED)
            for i in range(clients)
        ]
    )
    users = User.objects.filter(username__startswith="vendor").order_by("id")
    return [
        (user.pk, api_key_create(user=user, name="bench", scopes=["events:read"])[1])
        for user in users
    ]


def start_daphne(env: dict, port: int) -> subprocess.Popen:
    daphne = str(Path(sys.executable).with_name("daphne"))
    server = subprocess.Popen(
        [daphne, "-b", "127.0.0.1", "-p", str(port), "fastpay.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("daphne did not start within 120 s")


class Clients:
    """Every client's socket, read in one event loop; receipt times by message."""

    def __init__(self):
        self.sockets = []
        self.received: dict[str, list[float]] = {}  # event id -> receipt times
        self.sequences: dict[int, list[int]] = {}  # user -> sequences seen
        self.errors: list[str] = []
        self.retries = 0

    async def connect_all(self, port: int, users: list[tuple[int, str]]) -> None:
        from websockets.asyncio.client import connect

        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def one(user_id, key):
            # a loaded machine makes daphne's handshake (auth, group_add on Redis) time
            # out now and then: try again, and count a client that never got in
            for attempt in range(CONNECT_TRIES):
                async with gate:
                    try:
                        ws = await connect(
                            f"ws://127.0.0.1:{port}/ws/v1/events/",
                            subprotocols=["fastpay.v1", key],
                            max_queue=None,
                            ping_interval=None,
                            open_timeout=30,
                        )
                        ready = json.loads(await ws.recv())
                    except Exception as exc:
                        failure = f"connect: {type(exc).__name__}"
                        continue
                if ready["type"] != "stream.ready":
                    raise RuntimeError(f"not ready: {ready}")
                self.sockets.append(ws)
                self.sequences[user_id] = []
                self.retries += attempt
                return ws, user_id
            self.errors.append(failure)
            return None

        pairs = [p for p in await asyncio.gather(*(one(u, k) for u, k in users)) if p]
        self.readers = [asyncio.create_task(self.read(ws, uid)) for ws, uid in pairs]

    async def read(self, ws, user_id: int) -> None:
        try:
            async for text in ws:
                now = time.monotonic()
                message = json.loads(text)
                kind = message["type"]
                if kind == "stream.ping":
                    await ws.send(json.dumps({"type": "stream.pong", "n": message["n"]}))
                elif kind == "stream.error":
                    self.errors.append(message["code"])
                elif not kind.startswith("stream."):
                    self.received.setdefault(message["id"], []).append(now)
                    self.sequences[user_id].append(message["sequence"])
        except Exception as exc:  # a closed connection ends its reader
            self.errors.append(type(exc).__name__)

    async def close(self) -> None:
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)


def percentiles(values_ms: list[float]) -> dict:
    if not values_ms:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    ordered = sorted(values_ms)

    def at(q):
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99)}


def produce_events(user_ids, rate: float, seconds: float, committed: dict, stop) -> None:
    """Commit `rate` events a second for `seconds`, each to one random user."""
    from django.db import connection, transaction

    from fastpay.events import event_record

    period = 1.0 / rate
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds and not stop.is_set():
        due = start + n * period
        if (wait := due - time.monotonic()) > 0:
            time.sleep(wait)
        user_id = random.choice(user_ids)
        with transaction.atomic():
            event = event_record(
                topic="offline.voucher_issued",
                aggregate_type="voucher",
                aggregate_id=n,
                payload={"user_id": user_id, "amount": "1.000000", "amount_units": 1_000_000},
            )
            key = str(event.id)
            # runs right after the commit, before anything else
            transaction.on_commit(lambda key=key: committed.__setitem__(key, time.monotonic()))
        n += 1
    connection.close()


def dispatch_loop(stop) -> None:
    from django.db import connection

    from notifications.dispatch import outbox_dispatch

    while not stop.is_set():
        if not outbox_dispatch():
            time.sleep(0.002)
    while outbox_dispatch():  # what is left
        pass
    connection.close()


async def events_phase(clients: Clients, user_ids, rate: float, seconds: float) -> dict:
    from fastpay import events as outbox

    outbox._callbacks.clear()  # this process is the worker: the dispatcher thread takes them
    committed: dict[str, float] = {}
    stop_producing, stop_dispatching = threading.Event(), threading.Event()
    dispatcher = threading.Thread(target=dispatch_loop, args=(stop_dispatching,))
    dispatcher.start()
    await asyncio.to_thread(produce_events, user_ids, rate, seconds, committed, stop_producing)
    await asyncio.sleep(1.0)  # the last ones arrive
    stop_dispatching.set()
    await asyncio.to_thread(dispatcher.join)
    await asyncio.sleep(0.5)
    latencies = [
        (times[0] - committed[key]) * 1000
        for key, times in clients.received.items()
        if key in committed
    ]
    duplicates = sum(len(times) - 1 for times in clients.received.values())
    gaps = sum(
        1
        for seqs in clients.sequences.values()
        if seqs and seqs != list(range(seqs[0], seqs[0] + len(seqs)))
    )
    return {
        "events": len(committed),
        "rate_per_s": rate,
        "received": len(latencies),
        "lost": len(committed) - len(latencies),
        "duplicates": duplicates,
        "out_of_order_streams": gaps,
        **percentiles(latencies),
    }


async def ceiling_phase(clients: Clients, user_ids, rate: float, seconds: float) -> dict:
    """A plain group_send loop to the same groups: no database, no dispatcher."""
    from channels.layers import get_channel_layer

    from notifications.models import RecipientCounter
    from notifications.streams.consumers import EVENT_MESSAGE, user_group

    layer = get_channel_layer()
    last = dict(
        await asyncio.to_thread(
            lambda: list(
                RecipientCounter.objects.filter(stream__startswith="user:").values_list(
                    "stream", "last_sequence"
                )
            )
        )
    )
    next_sequence = {u: last.get(f"user:{u}", 0) + 1 for u in user_ids}
    sent: dict[str, float] = {}
    clients.received.clear()

    async def send(n: int) -> None:
        user_id = random.choice(user_ids)
        key = f"ceiling-{n}"
        text = json.dumps({"id": key, "type": "bench.ceiling", "sequence": next_sequence[user_id]})
        message = {"type": EVENT_MESSAGE, "sequence": next_sequence[user_id], "text": text}
        next_sequence[user_id] += 1
        sent[key] = time.monotonic()
        await layer.group_send(user_group(user_id), message)

    start, n = time.monotonic(), 0
    while time.monotonic() - start < seconds:
        due = start + n / rate
        if (wait := due - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        await send(n)
        n += 1
    await asyncio.sleep(1.0)
    paced = [(clients.received[k][0] - t) * 1000 for k, t in sent.items() if k in clients.received]
    paced_lost = len(sent) - len(paced)

    # flat out: how many deliveries a second at all
    sent.clear()
    clients.received.clear()
    start = time.monotonic()
    while time.monotonic() - start < THROUGHPUT_S:
        await send(n)
        n += 1
    flat_sent = len(sent)
    await asyncio.sleep(2.0)
    delivered = [clients.received[k][0] for k in sent if k in clients.received]
    span = (max(delivered) - start) if delivered else 0.0
    return {
        "rate_per_s": rate,
        "sent": len(paced) + paced_lost,
        "lost": paced_lost,
        **percentiles(paced),
        "flat_out_sent": flat_sent,
        "flat_out_delivered": len(delivered),
        "flat_out_per_s": round(len(delivered) / span, 1) if span else None,
    }


async def run(port: int, users, rate: float, seconds: float) -> dict:
    clients = Clients()
    started = time.monotonic()
    await clients.connect_all(port, users)
    connect_s = round(time.monotonic() - started, 2)
    user_ids = list(clients.sequences)  # the connected ones: events go to them only
    events = await events_phase(clients, user_ids, rate, seconds)
    ceiling = await ceiling_phase(clients, user_ids, rate, seconds)
    errors = sorted(set(clients.errors))
    await clients.close()
    return {
        "clients": len(users),
        "connected": len(clients.sockets),
        "connect_retries": clients.retries,
        "connect_s": connect_s,
        "events": events,
        "ceiling_group_send": ceiling,
        "p95_vs_ceiling": (
            round(events["p95_ms"] / ceiling["p95_ms"], 2)
            if events["p95_ms"] and ceiling["p95_ms"]
            else None
        ),
        "errors": errors,
    }


def figures(quick: bool, *, clients: int | None = None, rate: float = 200.0) -> dict:
    """The benchmark's figures (bench/events.py calls this): 1,000 clients (100 with
    quick) for 10 s of events at `rate` a second (4 s with quick). Runs in a process of
    its own, which configures Django for its own database."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--rate", str(rate)]
    if quick:
        cmd.append("--quick")
    if clients:
        cmd += ["--clients", str(clients)]
    # the caller has configured Django for its own run (bench/events.py sets REDIS_URL=""
    # and its own DATABASE_URL in os.environ): none of that is ours
    env = dict(os.environ)
    for name in ("REDIS_URL", "DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)
    env["BENCH_REDIS_URL"] = redis_url()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench/events_ws.py failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(quick: bool, *, clients: int | None = None, rate: float = 200.0) -> dict:
    clients = clients or (100 if quick else 1000)
    seconds = 4.0 if quick else 10.0
    server_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
    env = bench_env(recreate_database(server_url), redis_url())
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "fastpay.settings"
    users = seed(clients)
    layer_check()
    from django.db import connections

    connections.close_all()
    port = free_port()
    server = start_daphne(env, port)
    try:
        result = asyncio.run(run(port, users, rate, seconds))
    finally:
        server.terminate()
        server.wait(timeout=20)
    result["seconds"] = seconds
    result["targets"] = {"p95_ms_under": 100, "clients": 1000}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 clients, 4 s: under a minute")
    parser.add_argument("--clients", type=int, default=None)
    parser.add_argument("--rate", type=float, default=200.0, help="events per second")
    args = parser.parse_args()
    result = measure(args.quick, clients=args.clients, rate=args.rate)
    events, ceiling = result["events"], result["ceiling_group_send"]
    print(
        f"clients: {result['connected']}/{result['clients']} connected in "
        f"{result['connect_s']} s ({result['connect_retries']} retries)"
    )
    print(
        f"events at {events['rate_per_s']}/s: {events['received']}/{events['events']} received, "
        f"p50 {events['p50_ms']} ms, p95 {events['p95_ms']} ms, p99 {events['p99_ms']} ms, "
        f"lost {events['lost']}, duplicates {events['duplicates']}"
    )
    print(
        f"ceiling (group_send loop) at {ceiling['rate_per_s']}/s: p50 {ceiling['p50_ms']} ms, "
        f"p95 {ceiling['p95_ms']} ms, p99 {ceiling['p99_ms']} ms; flat out "
        f"{ceiling['flat_out_per_s']} deliveries/s"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
