"""Payments throughput and latency over HTTP against PostgreSQL.

Starts the platform (uvicorn, ASGI, --workers N) on a fresh PostgreSQL database, seeds
payers and payees, then drives keep-alive HTTP clients for a fixed time per phase:

1. GET /api/v1/ping/        no database: the framework's own ceiling on this machine
2. POST /api/v1/payments/   one payment per request
3. POST /api/v1/payments/batch/  BATCH payments per request

and prints payments/s, p50/p95/p99 latency and errors for each, with the ratio of single
payments to the ceiling. The load generator runs on the same 2 cores as the server, so
every figure here is shared with it. Last line: one JSON object with every figure.

    .venv/bin/python bench/payments.py [--quick] [--workers 2] [--seconds 15]
"""

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a run under one minute")
    parser.add_argument("--seconds", type=int, default=15, help="duration of each phase")
    parser.add_argument(
        "--server",
        choices=["gunicorn", "uvicorn"],
        default="gunicorn",
        help="gunicorn: WSGI gthread workers; uvicorn: ASGI workers",
    )
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--connections", type=int, default=16, help="single-payment clients")
    parser.add_argument("--batch", type=int, default=100, help="payments per batch request")
    parser.add_argument("--batch-connections", type=int, default=2)
    parser.add_argument("--payers", type=int, default=64)
    parser.add_argument("--payees", type=int, default=16)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/"),
        help="PostgreSQL server URL; a database fastpay_bench is (re)created on it",
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds = 5
    return args


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def recreate_database(server_url: str) -> str:
    import psycopg

    parts = urlsplit(server_url)
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS fastpay_bench WITH (FORCE)")
        conn.execute("CREATE DATABASE fastpay_bench")
    return parts._replace(path="/fastpay_bench").geturl()


def bench_env(database_url: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-0123456789abcdef0123456789",
        "FASTPAY_THROTTLE_USER": "100000000/min",
        "FASTPAY_REVIEW_ABOVE_TOKENS": "1000000",
        "LOG_LEVEL": "WARNING",
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
        # Plain HTTP on loopback, as behind a TLS-terminating proxy (production's redirect
        # to HTTPS would answer every request 301), and no beat thread in the workers.
        "FASTPAY_SSL_REDIRECT": "0",
        "FASTPAY_EMBEDDED_BEAT": "0",
    }


def seed(env: dict, payers: int, payees: int) -> list[str]:
    """Migrate, create users and balances; return a JWT access token per payer."""
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "fastpay.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from rest_framework_simplejwt.tokens import AccessToken

    from wallets.models import Token, User, UserStatus
    from wallets.services.adjustments import ledger_adjust

    call_command("migrate", verbosity=0)
    usdt = Token.objects.get(symbol="USDT")
    User.objects.bulk_create(
        [User(username=f"payer{i}", status=UserStatus.APPROVED) for i in range(payers)]
        + [User(username=f"payee{i}", status=UserStatus.APPROVED) for i in range(payees)]
    )
    # A wholesale merchant's risk profile: every payer here makes thousands of small
    # payments a minute, which the retail defaults (10 requests/min, bursts, daily counts)
    # would rightly stop. The other rules still run on every payment.
    from fraud.services.thresholds import rule_config_update

    staff = User.objects.create_superuser("bench-admin", "bench@example.test", None)
    for rule in ("rate_limit", "burst", "tier_limits"):
        rule_config_update(
            rule=rule, enabled=False, params={}, by=staff, note="bench: wholesale volume"
        )
    tokens = []
    for user in User.objects.filter(username__startswith="payer").order_by("id"):
        ledger_adjust(
            user=user,
            token=usdt,
            amount=10**15,
            reason="bench",
            operator=None,
            idempotency_key=f"bench-{user.pk}",
        )
        tokens.append(str(AccessToken.for_user(user)))
    from django.db import connections

    connections.close_all()
    return tokens


def start_server(env: dict, port: int, args) -> subprocess.Popen:
    bin_dir = Path(sys.executable).parent
    if args.server == "uvicorn":
        cmd = [
            str(bin_dir / "uvicorn"),
            "fastpay.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--no-access-log",
            "--log-level",
            "warning",
            "--lifespan",
            "off",
        ]
    else:
        cmd = [
            str(bin_dir / "gunicorn"),
            "fastpay.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--threads",
            str(args.threads),
            "--worker-class",
            "gthread",
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start within 60 s")


class Conn:
    """A minimal keep-alive HTTP/1.1 client: the load generator must cost far less than
    the server it measures, and it shares the same 2 cores."""

    def __init__(self, port: int):
        self.port = port
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body: bytes = b"", headers: str = ""):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{headers}\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        return status, payload


async def drive(port, connections, seconds, make_request, per_request=1):
    """Run `connections` clients for `seconds`; return counts and latencies (ms)."""
    latencies: list[float] = []
    ok = errors = 0
    stop = time.monotonic() + seconds

    async def client(index):
        nonlocal ok, errors
        conn = Conn(port)
        n = 0
        while time.monotonic() < stop:
            method, path, body, headers, expect = make_request(index, n)
            n += 1
            start = time.perf_counter()
            try:
                status, payload = await conn.request(method, path, body, headers)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                errors += per_request
                conn = Conn(port)
                continue
            latencies.append((time.perf_counter() - start) * 1000)
            if status == expect:
                ok += per_request - failed_items(payload, per_request)
                errors += failed_items(payload, per_request)
            else:
                errors += per_request

    started = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(connections)))
    elapsed = time.monotonic() - started
    return summarize(ok, errors, elapsed, latencies)


def failed_items(payload: bytes, per_request: int) -> int:
    if per_request == 1:
        return 0
    return json.loads(payload)["failed"]


def summarize(ok, errors, elapsed, latencies):
    latencies.sort()

    def pct(p):
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p))], 1)

    return {
        "per_s": round(ok / elapsed, 1),
        "ok": ok,
        "errors": errors,
        "requests": len(latencies),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
    }


def main():
    args = parse_args()
    database_url = recreate_database(args.database_url)
    env = bench_env(database_url)
    print(
        f"seeding {args.payers} payers and {args.payees} payees on {database_url} ...", flush=True
    )
    tokens = seed(env, args.payers, args.payees)
    port = free_port()
    server = start_server(env, port, args)
    rng = random.Random(7)
    auth = [f"Authorization: Bearer {t}\r\n" for t in tokens]

    def ping(index, n):
        return "GET", "/api/v1/ping/", b"", "", 200

    def single(index, n):
        body = json.dumps(
            {"payee": f"payee{rng.randrange(args.payees)}", "token": "USDT", "amount": "0.01"}
        ).encode()
        return "POST", "/api/v1/payments/", body, auth[index % len(auth)], 201

    def batch(index, n):
        items = [
            {"payee": f"payee{rng.randrange(args.payees)}", "token": "USDT", "amount": "0.01"}
            for _ in range(args.batch)
        ]
        body = json.dumps({"payments": items}).encode()
        return "POST", "/api/v1/payments/batch/", body, auth[index % len(auth)], 200

    try:
        asyncio.run(drive(port, 4, 1, ping))  # warm both workers
        results = {
            "ceiling_ping": asyncio.run(drive(port, args.connections, args.seconds, ping)),
            "single": asyncio.run(drive(port, args.connections, args.seconds, single)),
            "batch": asyncio.run(
                drive(port, args.batch_connections, args.seconds, batch, args.batch)
            ),
        }
    finally:
        server.terminate()
        server.wait(timeout=30)

    ceiling = results["ceiling_ping"]["per_s"]
    ratio = round(results["single"]["per_s"] / ceiling, 3) if ceiling else None
    print(
        f"\n{args.server}, {args.workers} workers, PostgreSQL, {args.seconds} s per phase, "
        f"load generator on the same {os.cpu_count()} cores"
    )
    print(f"{'phase':<14}{'per s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    labels = {"ceiling_ping": "ping (ceiling)", "single": "single", "batch": f"batch x{args.batch}"}
    for key, row in results.items():
        print(
            f"{labels[key]:<14}{row['per_s']:>10}{row['p50_ms']!s:>9}{row['p95_ms']!s:>9}"
            f"{row['p99_ms']!s:>9}{row['errors']:>8}"
        )
    print(
        f"single payments / ping ceiling = {ratio} (target >= 0.6); "
        f"batch payments/s = {results['batch']['per_s']} (target >= 1000, p95 < 200 ms)"
    )
    summary = {
        "bench": "payments",
        "server": args.server,
        "workers": args.workers,
        "seconds": args.seconds,
        "batch_size": args.batch,
        **{f"{k}_{m}": v for k, row in results.items() for m, v in row.items()},
        "single_to_ceiling_ratio": ratio,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
