"""Webhooks: deliveries per second and commit-to-receipt latency, against PostgreSQL.

On a PostgreSQL database of its own (fastpay_bench_events, created once and emptied each
run), with MERCHANTS merchants each holding one webhook endpoint to a local receiver
(a separate asyncio process on 127.0.0.1 that records when each webhook-id arrived), and
WORKERS worker processes doing what Celery workers do (the dispatcher, then the first
attempts of what it planned, signed, over the pooled client; in a loop that polls every
few milliseconds when idle, in place of the on-commit task):

1. throughput: EVENTS outbox events committed at once (transactions of 100, each event
   addressed to a random merchant), timed from the first commit to the last receipt;
2. latency: events committed one per transaction at RATE a second for SECONDS; the
   p50/p95/p99 of commit -> receipt (wall clock, same machine);
3. ceiling: a plain HTTP POST loop (httpx, same concurrency, same body size) to the same
   receiver: what the receiver and the loopback can take at all, measured in this run.

Then the WebSocket figures of bench/events_ws.py (``figures(quick)``) when it exists.
Every figure shares the machine with the load generator and the receiver. Last line of
output: one JSON object with every figure.

    .venv/bin/python bench/events.py [--quick] [--workers 2] [--rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE = os.environ.get("BENCH_EVENTS_DATABASE", "fastpay_bench_events")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a run under one minute")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--merchants", type=int, default=20)
    parser.add_argument("--events", type=int, default=5000, help="throughput phase")
    parser.add_argument("--rate", type=float, default=200.0, help="latency phase, events/s")
    parser.add_argument("--seconds", type=float, default=15.0, help="latency phase length")
    parser.add_argument("--no-ws", action="store_true", help="skip bench/events_ws.py")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/"),
        help=f"PostgreSQL server URL; the database {DATABASE} is created on it",
    )
    parser.add_argument("--role", choices=["main", "worker", "receiver"], default="main")
    parser.add_argument("--stop-file", default="")
    parser.add_argument("--out-file", default="")
    args = parser.parse_args()
    if args.quick:
        args.events, args.seconds = 2000, 5.0
    return args


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def millis(values: list[float]) -> dict:
    return {
        "p50_ms": round(percentile(values, 50) * 1000, 1),
        "p95_ms": round(percentile(values, 95) * 1000, 1),
        "p99_ms": round(percentile(values, 99) * 1000, 1),
    }


def cpu_s(pid: int | None = None) -> float:
    """CPU seconds (user + system) a process has used so far: this one, or ``pid``'s
    (from /proc; Linux). Per-delivery CPU does not depend on what else the machine runs,
    which the rates and latencies do."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_ms_per(before: dict, after: dict, count: int) -> dict:
    return {name: round((after[name] - before[name]) * 1000 / max(count, 1), 3) for name in before}


# ---------------------------------------------------------------------------- receiver


def receiver_main(port: int, out_file: str) -> None:
    """A minimal HTTP/1.1 keep-alive server: 200 to every POST, the arrival time of each
    webhook-id kept, written to ``out_file`` as JSON on SIGTERM."""
    arrived: dict[str, float] = {}

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length, msg_id = 0, None
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"webhook-id":
                        msg_id = value.strip().decode()
                await reader.readexactly(length)
                if msg_id is not None:
                    arrived.setdefault(msg_id, time.time())
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        print("ready", flush=True)
        async with server:
            await stop.wait()
        Path(out_file).write_text(json.dumps(arrived))

    asyncio.run(main())


def receiver_arrivals(process: subprocess.Popen, out_file: str) -> dict[str, float]:
    process.send_signal(signal.SIGTERM)
    process.wait(30)
    return json.loads(Path(out_file).read_text())


# ---------------------------------------------------------------------------- worker


def worker_main(stop_file: str) -> None:
    """What a Celery worker does for events, in a loop: dispatch, then first attempts."""
    import django

    django.setup()
    from notifications.dispatch import outbox_dispatch
    from notifications.webhooks.delivery import deliveries_attempt

    print("ready", flush=True)
    while not os.path.exists(stop_file):
        ids = outbox_dispatch(batch=200)
        sent = deliveries_attempt(limit=200)
        if not ids and not any(sent.values()):
            time.sleep(0.003)


# ---------------------------------------------------------------------------- main


def environment(database_url: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "fastpay.settings",
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-0123456789abcdef0123456789",
        "LOG_LEVEL": "WARNING",
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
        "FASTPAY_EMBEDDED_BEAT": "0",
        "FASTPAY_SSL_REDIRECT": "0",
        "FASTPAY_WEBHOOKS_ALLOW_PRIVATE": "1",
        "FASTPAY_WEBHOOKS_CONCURRENCY": "32",
    }


def database_prepare(server_url: str) -> str:
    import psycopg

    parts = urlsplit(server_url)
    with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone()
        if not exists:
            conn.execute(f"CREATE DATABASE {DATABASE}")
    return parts._replace(path=f"/{DATABASE}").geturl()


def seed(merchants: int, url: str) -> list[int]:
    """Migrate (a no-op after the first run), empty the outbox and the event tables,
    create the merchants and their endpoints; return the merchants' ids."""
    from django.core.management import call_command
    from django.db import connection

    from notifications.webhooks.services import endpoint_create
    from wallets.models import User, UserRole, UserStatus

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE notifications_webhookattempt, notifications_webhookdelivery, "
            "notifications_webhookendpoint, notifications_recipientevent, "
            "notifications_recipientcounter, fastpay_outboxevent CASCADE"
        )
    User.objects.filter(username__startswith="bench-shop").delete()
    users = User.objects.bulk_create(
        [
            User(username=f"bench-shop{i}", role=UserRole.MERCHANT, status=UserStatus.APPROVED)
            for i in range(merchants)
        ]
    )
    for user in users:
        endpoint_create(user=user, url=url, event_types=["payment.succeeded"])
    return [u.pk for u in users]


def _payload(merchant: int, n: int) -> dict:
    return {
        "payment_id": f"00000000-0000-4000-8000-{n:012d}",
        "payer_id": None,
        "payee_id": merchant,
        "token": "USDT",
        "amount": "12.500000",
        "amount_units": 12_500_000,
        "state": "success",
    }


def commit_burst(merchants: list[int], count: int) -> dict[str, float]:
    """``count`` events in transactions of 100; the commit time of each event id."""
    from django.db import transaction

    from fastpay.events import events_record
    from fastpay.models import OutboxEvent

    committed: dict[str, float] = {}
    for start in range(0, count, 100):
        with transaction.atomic():
            rows = events_record(
                OutboxEvent(
                    topic="payment.succeeded",
                    aggregate_type="payment",
                    aggregate_id=str(n),
                    payload=_payload(random.choice(merchants), n),
                )
                for n in range(start, min(start + 100, count))
            )
        now = time.time()
        committed.update({str(r.pk): now for r in rows})
    return committed


def commit_at_rate(merchants: list[int], rate: float, seconds: float) -> dict[str, float]:
    from django.db import transaction

    from fastpay.events import event_record

    committed: dict[str, float] = {}
    started = time.monotonic()
    n = 0
    while (elapsed := time.monotonic() - started) < seconds:
        due = started + n / rate
        if due > time.monotonic():
            time.sleep(due - time.monotonic())
        with transaction.atomic():
            event = event_record(
                topic="payment.succeeded",
                aggregate_type="payment",
                aggregate_id=str(n),
                payload=_payload(random.choice(merchants), 10**6 + n),
            )
        committed[str(event.pk)] = time.time()
        n += 1
    del elapsed
    return committed


def wait_for_all(count: int, *, timeout: float) -> None:
    from notifications.models import DeliveryState, WebhookDelivery

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = WebhookDelivery.objects.filter(state=DeliveryState.SUCCEEDED).count()
        if done >= count:
            return
        time.sleep(0.05)


def ceiling(url: str, count: int, body_size: int, concurrency: int = 32) -> dict:
    """A plain POST loop over one pooled httpx client from ``concurrency`` threads."""
    import httpx

    client = httpx.Client(limits=httpx.Limits(max_connections=concurrency), trust_env=False)
    body = b"x" * body_size
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(count))

    def loop():
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            started = time.perf_counter()
            client.post(url, content=body, headers={"webhook-id": f"ceiling-{n}"})
            took = time.perf_counter() - started
            with lock:
                latencies.append(took)

    started = time.perf_counter()
    threads = [threading.Thread(target=loop) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    client.close()
    return {"posts_per_s": round(count / elapsed, 1), **millis(latencies)}


def main() -> None:
    args = parse_args()
    if args.role == "receiver":
        return receiver_main(int(args.out_file.split(":")[0]), args.out_file.split(":", 1)[1])
    if args.role == "worker":
        return worker_main(args.stop_file)

    database_url = database_prepare(args.database_url)
    if os.environ.get("REDIS_URL") and not os.environ.get("BENCH_REDIS_URL"):
        # ours is emptied below (the workers need no layer); the WebSocket run needs one
        os.environ["BENCH_REDIS_URL"] = os.environ["REDIS_URL"]
    env = environment(database_url)
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connections

    from fastpay import events as outbox

    outbox._callbacks.clear()  # this process only commits; the workers dispatch
    tmp = Path(tempfile.mkdtemp(prefix="bench-events-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks"
    arrivals_file = str(tmp / "arrivals.json")
    receiver = subprocess.Popen(
        [sys.executable, __file__, "--role", "receiver", "--out-file", f"{port}:{arrivals_file}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert receiver.stdout.readline().strip() == "ready"
    merchants = seed(args.merchants, url)
    connections.close_all()
    stop_file = str(tmp / "stop")
    workers = [
        subprocess.Popen(
            [sys.executable, __file__, "--role", "worker", "--stop-file", stop_file],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(args.workers)
    ]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready"
    figures: dict = {
        "workers": args.workers,
        "merchants": args.merchants,
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }

    def cpu_now() -> dict:
        return {
            "workers": sum(cpu_s(w.pid) for w in workers),
            "receiver": cpu_s(receiver.pid),
            "committer": cpu_s(),
        }

    try:
        # 1. throughput
        cpu_before = cpu_now()
        started = time.time()
        burst = commit_burst(merchants, args.events)
        wait_for_all(len(burst), timeout=120)
        cpu_burst = cpu_ms_per(cpu_before, cpu_now(), len(burst))
        # 2. latency at a steady rate
        steady = commit_at_rate(merchants, args.rate, args.seconds)
        wait_for_all(len(burst) + len(steady), timeout=60)
    finally:
        Path(stop_file).touch()
        for worker in workers:
            worker.wait(60)
    arrivals = receiver_arrivals(receiver, arrivals_file)
    got = [arrivals[i] for i in burst if i in arrivals]
    last = max(got) if got else time.time()
    figures["throughput"] = {
        "events": len(burst),
        "received": len(got),
        "deliveries_per_s": round(len(got) / (last - started), 1),
        **millis([arrivals[i] - t for i, t in burst.items() if i in arrivals]),
        "cpu_ms_per_delivery": cpu_burst,
    }
    latencies = [arrivals[i] - t for i, t in steady.items() if i in arrivals]
    figures["latency"] = {
        "rate_per_s": args.rate,
        "events": len(steady),
        "received": len(latencies),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1) if latencies else None,
        **millis(latencies),
    }

    # 3. the ceiling: plain POSTs to a fresh receiver of the same kind
    arrivals_file = str(tmp / "ceiling.json")
    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, __file__, "--role", "receiver", "--out-file", f"{port}:{arrivals_file}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert receiver.stdout.readline().strip() == "ready"
    try:
        cpu_before = {"client": cpu_s(), "receiver": cpu_s(receiver.pid)}
        figures["ceiling"] = ceiling(f"http://127.0.0.1:{port}/hooks", args.events, 420)
        cpu_after = {"client": cpu_s(), "receiver": cpu_s(receiver.pid)}
        figures["ceiling"]["cpu_ms_per_post"] = cpu_ms_per(cpu_before, cpu_after, args.events)
    finally:
        receiver_arrivals(receiver, arrivals_file)
    figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    figures["throughput"]["of_ceiling"] = round(
        figures["throughput"]["deliveries_per_s"] / figures["ceiling"]["posts_per_s"], 3
    )

    print(f"webhooks, {args.workers} workers, {args.merchants} merchants")
    t, lat, c = figures["throughput"], figures["latency"], figures["ceiling"]
    print(
        f"  throughput: {t['received']}/{t['events']} delivered, {t['deliveries_per_s']}/s "
        f"({t['of_ceiling']:.0%} of the ceiling)"
    )
    print(
        f"  latency at {lat['rate_per_s']}/s: p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms, "
        f"p99 {lat['p99_ms']} ms ({lat['received']}/{lat['events']})"
    )
    print(f"  ceiling (plain POST loop): {c['posts_per_s']}/s, p95 {c['p95_ms']} ms")
    cpu, cpu_c = t["cpu_ms_per_delivery"], c["cpu_ms_per_post"]
    print(
        f"  CPU ms per delivery: workers {cpu['workers']}, receiver {cpu['receiver']}, "
        f"committer {cpu['committer']}; per plain POST: client {cpu_c['client']}, "
        f"receiver {cpu_c['receiver']}"
    )
    print(
        f"  load average {figures['load_average_before']} before, "
        f"{figures['load_average_after']} after ({os.cpu_count()} cores)"
    )

    if not args.no_ws:
        try:
            from bench import events_ws
        except ImportError:
            events_ws = None
        if events_ws is not None and hasattr(events_ws, "figures"):
            try:
                figures["websocket"] = events_ws.figures(args.quick)
            except Exception as exc:  # its own figures; ours stand
                figures["websocket"] = {"error": str(exc)[-500:]}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
