"""When a failed delivery is tried again: exponential backoff with jitter, about three
days in all (Standard Webhooks' example schedule is of this shape).

Attempt n (1 = the first) failed -> wait BASE_S * 4**(n-1) seconds, capped at a day, times
a random factor in [1, 1 + JITTER] so deliveries failed by one outage spread out. After
MAX_ATTEMPTS attempts the delivery is given up (state failed; redeliverable). A
Retry-After the receiver sent is honoured when longer (capped at a day too).

    5 s, 20 s, 80 s, 5 min, 21 min, 85 min, 5.7 h, 22.8 h, 24 h, 24 h  -> ~3.3 days
"""

import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

BASE_S = 5
FACTOR = 4
CAP_S = 86400
JITTER = 0.2
MAX_ATTEMPTS = 11


def retry_delay(attempts: int, *, retry_after_s: float | None = None, rng=random) -> timedelta:
    """How long after the ``attempts``-th failed attempt the next one is made."""
    base = min(BASE_S * FACTOR ** max(attempts - 1, 0), CAP_S)
    delay = base * (1 + JITTER * rng.random())
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, CAP_S))
    return timedelta(seconds=delay)


def total_window() -> timedelta:
    """From the first attempt to giving up, without jitter or Retry-After."""
    return sum((retry_delay(n, rng=_NoJitter) for n in range(1, MAX_ATTEMPTS)), timedelta())


class _NoJitter:
    @staticmethod
    def random() -> float:
        return 0.0


def retry_after_parse(value: str | None, *, now: datetime) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)
