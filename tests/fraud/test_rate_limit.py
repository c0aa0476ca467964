"""The payment rate limit: a token bucket of 10 requests per minute per user, shared across
processes through Redis (one Lua script), in memory without Redis."""

import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings

from fraud.ratelimit import MemoryBuckets, RedisBuckets

ROOT = Path(__file__).resolve().parents[2]


def pay(client, amount="1"):
    return client.post("/api/v1/payments/", {"payee": "bob", "token": "USDT", "amount": amount})


@pytest.fixture
def alice_funded(alice, bob, usdt, fund):
    fund(alice, usdt, 100)
    return alice


class TestTheApi:
    def test_the_11th_payment_request_in_a_minute_gets_a_429(self, alice_funded, client_for):
        client = client_for(alice_funded)

        assert [pay(client).status_code for _ in range(10)] == [201] * 10
        response = pay(client)

        assert response.status_code == 429
        assert response.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(response["Retry-After"]) <= 6  # one token refills in 6 s

    def test_each_user_has_a_bucket_of_their_own(self, alice_funded, bob, usdt, fund, client_for):
        fund(bob, usdt, 10)
        client = client_for(alice_funded)
        for _ in range(10):
            pay(client)

        response = client_for(bob).post(
            "/api/v1/payments/", {"payee": "alice", "token": "USDT", "amount": "1"}
        )
        assert response.status_code == 201

    def test_reads_are_not_limited(self, alice_funded, client_for):
        client = client_for(alice_funded)
        for _ in range(10):
            pay(client)

        assert client.get("/api/v1/payments/").status_code == 200

    def test_a_batch_counts_as_one_request(self, alice_funded, client_for, rule):
        rule("rate_limit", per_seconds=3600)  # no refill even on a slow machine
        client = client_for(alice_funded)
        for _ in range(9):
            pay(client)
        items = [{"payee": "bob", "token": "USDT", "amount": "1"}] * 12

        assert client.post("/api/v1/payments/batch/", {"payments": items}).status_code == 200
        assert pay(client).status_code == 429

    def test_admins_can_raise_the_limit(self, alice_funded, client_for, rule):
        rule("rate_limit", capacity=12, per_seconds=3600)
        client = client_for(alice_funded)

        assert [pay(client).status_code for _ in range(13)] == [201] * 12 + [429]


def test_the_memory_bucket_allows_10_then_refuses_the_11th():
    buckets = MemoryBuckets(f"test:{uuid.uuid4()}")

    takes = [buckets.take("u1", capacity=10, per_seconds=60) for _ in range(11)]

    assert [t.allowed for t in takes] == [True] * 10 + [False]
    assert 5.9 < takes[-1].retry_after <= 6.0


# --- two processes sharing Redis -----------------------------------------------------------

WORKER = """
import sys
import redis
from fraud.ratelimit import RedisBuckets

url, prefix, attempts = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = redis.Redis.from_url(url)
buckets = RedisBuckets(url, prefix)
client.rpush(prefix + ":ready", 1)
client.blpop([prefix + ":go"], timeout=20)  # start together
results = [buckets.take("user:7", capacity=10, per_seconds=60) for _ in range(attempts)]
print(" ".join("1" if r.allowed else "0" for r in results))
print(max(r.retry_after for r in results))
"""


@pytest.fixture
def test_redis():
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set: the shared bucket needs a real Redis")
    import redis

    parts = urlsplit(settings.REDIS_URL)
    url = urlunsplit(parts._replace(path="/14"))  # a database of this test's own
    prefix = f"fraud-test:{uuid.uuid4()}"
    client = redis.Redis.from_url(url)
    yield url, prefix, client
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


def test_two_processes_share_one_bucket_of_ten(test_redis):
    url, prefix, client = test_redis
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, prefix, "8"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for _ in workers:
        assert client.blpop([f"{prefix}:ready"], timeout=20) is not None
    client.rpush(f"{prefix}:go", 1, 1)
    outputs = [w.communicate(timeout=30) for w in workers]

    assert all(w.returncode == 0 for w in workers), outputs
    allowed = [out.splitlines()[0].split() for out, _ in outputs]
    # 16 requests from two processes within a second: exactly 10 pass, 6 wait for a refill.
    assert sum(flag == "1" for flags in allowed for flag in flags) == 10
    assert 0 < max(float(out.splitlines()[1]) for out, _ in outputs) <= 6.0


def test_the_redis_bucket_refills_over_the_period(test_redis):
    url, prefix, _ = test_redis
    buckets = RedisBuckets(url, prefix)

    takes = [buckets.take("u", capacity=2, per_seconds=2) for _ in range(3)]  # 1 token/s
    assert [t.allowed for t in takes] == [True, True, False]
    assert 0.9 < takes[-1].retry_after <= 1.0

    time.sleep(takes[-1].retry_after + 0.1)  # one token is back, not two
    assert buckets.take("u", capacity=2, per_seconds=2).allowed
    assert not buckets.take("u", capacity=2, per_seconds=2).allowed
