"""Invoices over HTTP against PostgreSQL, and rate lookups from the cache.

Starts the platform (gunicorn, as bench/payments.py) on a fresh PostgreSQL database, seeds
merchants and funded customers, then drives keep-alive HTTP clients for a fixed time per
phase:

1. GET /api/v1/ping/                  no database: the framework's ceiling on this machine
2. POST /api/v1/invoices/             merchants create invoices (in the token)
3. POST /api/v1/invoices/{id}/pay/    customers pay those invoices from their balance
                                      (receipt + settlement entry + events, one request)

and, in this process, rate lookups served from the cache (a warm rate, as the beat task
keeps it; the local-memory cache, or Redis with --redis). The load generator shares the
server's cores. Last line: one JSON object with every figure.

    .venv/bin/python bench/invoices.py [--quick] [--workers 2] [--seconds 15] [--redis URL]
"""

import argparse
import asyncio
import json
import os
import sys
import time
from collections import deque
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.payments import (  # noqa: E402 - after the path
    bench_env,
    drive,
    free_port,
    recreate_database,
    start_server,
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a run under one minute")
    parser.add_argument("--seconds", type=int, default=15, help="duration of each phase")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--merchants", type=int, default=16)
    parser.add_argument("--customers", type=int, default=64)
    parser.add_argument("--lookups", type=int, default=20_000, help="rate lookups to time")
    parser.add_argument("--redis", default="", help="time the rate lookups on this Redis")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/"),
        help="PostgreSQL server URL; a database fastpay_bench is (re)created on it",
    )
    args = parser.parse_args()
    args.server = "gunicorn"
    if args.quick:
        args.seconds = 5
        args.lookups = 5_000
    return args


def seed(env: dict, merchants: int, customers: int) -> tuple[list[str], list[str]]:
    """Migrate, create merchants and funded customers; (merchant JWTs, customer JWTs)."""
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "fastpay.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections
    from rest_framework_simplejwt.tokens import AccessToken

    from wallets.models import Token, User, UserRole, UserStatus
    from wallets.services.adjustments import ledger_adjust

    call_command("migrate", verbosity=0)
    usdt = Token.objects.get(symbol="USDT")
    User.objects.bulk_create(
        [
            User(username=f"shop{i}", role=UserRole.MERCHANT, status=UserStatus.APPROVED)
            for i in range(merchants)
        ]
        + [User(username=f"buyer{i}", status=UserStatus.APPROVED) for i in range(customers)]
    )
    shops = [str(AccessToken.for_user(u)) for u in User.objects.filter(username__startswith="shop")]
    buyers = []
    for user in User.objects.filter(username__startswith="buyer").order_by("id"):
        ledger_adjust(
            user=user,
            token=usdt,
            amount=10**15,
            reason="bench",
            operator=None,
            idempotency_key=f"bench-{user.pk}",
        )
        buyers.append(str(AccessToken.for_user(user)))
    connections.close_all()
    return shops, buyers


def rate_lookups(n: int, redis_url: str) -> dict:
    """``rate_get`` answered from a warm cache entry, ``n`` times: per-lookup latency."""
    from django.conf import settings
    from django.core.cache import caches

    from merchants.rates import lookup
    from merchants.rates.aggregate import Rate
    from merchants.rates.providers import Quote

    if redis_url:
        settings.CACHES["bench"] = {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
        }
        lookup.cache = caches["bench"]
    now = time.time()
    quote = Quote(provider="bench", base="USDT", quote="EUR", rate=Decimal("0.92"), at=now)
    warm = Rate("USDT", "EUR", Decimal("0.92"), (quote,), now)
    lookup.cache.set(lookup._key("USDT", "EUR"), warm.to_json(), timeout=3600)
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        lookup.rate_get("USDT", "EUR", max_cached_s=3600)
        samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    return {
        "backend": "redis" if redis_url else "locmem",
        "per_s": round(n / (sum(samples) / 1e6), 1),
        "p50_us": round(samples[len(samples) // 2], 1),
        "p99_us": round(samples[int(len(samples) * 0.99)], 1),
    }


def main():
    args = parse_args()
    database_url = recreate_database(args.database_url)
    env = bench_env(database_url)
    print(f"seeding {args.merchants} merchants, {args.customers} customers ...", flush=True)
    shops, buyers = seed(env, args.merchants, args.customers)
    port = free_port()
    server = start_server(env, port, args)
    shop_auth = [f"Authorization: Bearer {t}\r\n" for t in shops]
    buyer_auth = [f"Authorization: Bearer {t}\r\n" for t in buyers]
    created: deque[str] = deque()

    def ping(index, n):
        return "GET", "/api/v1/ping/", b"", "", 200

    body = json.dumps({"token": "USDT", "amount": "1.25", "order_id": "bench"}).encode()

    def create(index, n):
        return "POST", "/api/v1/invoices/", body, shop_auth[index % len(shop_auth)], 201

    def pay(index, n):
        invoice = created.popleft() if created else "00000000-0000-0000-0000-000000000000"
        return (
            "POST",
            f"/api/v1/invoices/{invoice}/pay/",
            b"",
            buyer_auth[index % len(buyer_auth)],
            200,
        )

    try:
        asyncio.run(drive(port, 4, 1, ping))  # warm both workers
        results = {"ceiling_ping": asyncio.run(drive(port, args.connections, args.seconds, ping))}
        results["create"] = asyncio.run(drive(port, args.connections, args.seconds, create))
        os.environ.update(env)
        from merchants.models import Invoice

        created.extend(
            str(pk) for pk in Invoice.objects.filter(status="new").values_list("pk", flat=True)
        )
        available = len(created)
        results["pay"] = asyncio.run(drive(port, args.connections, args.seconds, pay))
        results["pay"]["invoices_available"] = available
    finally:
        server.terminate()
        server.wait(timeout=30)
    results["rate_lookup"] = rate_lookups(args.lookups, args.redis)

    ceiling = results["ceiling_ping"]["per_s"]
    ratio = round(results["create"]["per_s"] / ceiling, 3) if ceiling else None
    print(
        f"\ngunicorn, {args.workers} workers x {args.threads} threads, PostgreSQL, "
        f"{args.seconds} s per phase, load generator on the same {os.cpu_count()} cores"
    )
    print(f"{'phase':<16}{'per s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    labels = {"ceiling_ping": "ping (ceiling)", "create": "create invoice", "pay": "pay (balance)"}
    for key in ("ceiling_ping", "create", "pay"):
        row = results[key]
        print(
            f"{labels[key]:<16}{row['per_s']:>10}{row['p50_ms']!s:>9}{row['p95_ms']!s:>9}"
            f"{row['p99_ms']!s:>9}{row['errors']:>8}"
        )
    lookup = results["rate_lookup"]
    print(
        f"invoice create / ping ceiling = {ratio} (target >= 0.6); rate lookup from the "
        f"{lookup['backend']} cache p50 {lookup['p50_us']} us, p99 {lookup['p99_us']} us "
        f"(target < 1 ms), {lookup['per_s']}/s"
    )
    summary = {
        "bench": "invoices",
        "workers": args.workers,
        "seconds": args.seconds,
        **{f"{k}_{m}": v for k, row in results.items() for m, v in row.items()},
        "create_to_ceiling_ratio": ratio,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
