"""Token buckets for the payment rate limit, shared across processes through Redis.

With REDIS_URL set, one Lua script reads, refills and takes from the bucket atomically on
the Redis server (clock: Redis TIME, so every process agrees). Without Redis, the bucket
lives in this process's default cache under a lock: right for the embedded single-process
setup, not shared across processes.
"""

import math
import threading
import time
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings
from django.core.cache import cache as django_cache

# KEYS[1] = bucket; ARGV = capacity, refill period in ms (time to refill `capacity` tokens).
# Returns {allowed (0/1), milliseconds until one token is available}.
TAKE_LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local capacity = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * capacity / period)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) * period / capacity)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], period * 2)
return {allowed, wait}
"""


@dataclass(frozen=True, slots=True)
class Take:
    allowed: bool
    retry_after: float  # seconds until the next request would be allowed (0 if allowed)


class RedisBuckets:
    def __init__(self, url: str, prefix: str):
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.script = self.client.register_script(TAKE_LUA)
        self.prefix = prefix

    def take(self, key: str, *, capacity: int, per_seconds: int) -> Take:
        allowed, wait_ms = self.script(
            keys=[f"{self.prefix}:{key}"], args=[capacity, per_seconds * 1000]
        )
        return Take(bool(allowed), int(wait_ms) / 1000)


class MemoryBuckets:
    _lock = threading.Lock()

    def __init__(self, prefix: str):
        self.prefix = prefix

    def take(self, key: str, *, capacity: int, per_seconds: int) -> Take:
        name = f"{self.prefix}:{key}"
        with self._lock:
            now = time.monotonic()
            tokens, ts = django_cache.get(name) or (float(capacity), now)
            tokens = min(capacity, tokens + max(0.0, now - ts) * capacity / per_seconds)
            if tokens >= 1:
                django_cache.set(name, (tokens - 1, now), per_seconds * 2)
                return Take(True, 0.0)
            django_cache.set(name, (tokens, now), per_seconds * 2)
            return Take(False, math.ceil((1 - tokens) * per_seconds * 1000 / capacity) / 1000)


@cache
def _buckets(redis_url: str, prefix: str):
    return RedisBuckets(redis_url, prefix) if redis_url else MemoryBuckets(prefix)


def buckets():
    return _buckets(settings.REDIS_URL, settings.FASTPAY_RATE_LIMIT_PREFIX)
