"""The fraud rate limit at the API edge: a token bucket per user on payment requests.

Over the limit, DRF raises Throttled and the API answers 429 `rate_limited` with a
Retry-After header (fastpay.errors.api_exception_handler). A batch request counts once.
"""

import logging

from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle

from fraud.ratelimit import buckets
from fraud.thresholds import thresholds_load

log = logging.getLogger(__name__)

LIMITED_URL_NAMES = {"payments", "payments-batch"}


class PaymentRateThrottle(BaseThrottle):
    def __init__(self):
        self.retry_after = None

    def allow_request(self, request, view) -> bool:
        match = getattr(request, "resolver_match", None)
        if request.method != "POST" or match is None or match.url_name not in LIMITED_URL_NAMES:
            return True
        if not request.user or not request.user.is_authenticated:
            return True
        rule = thresholds_load()["rate_limit"]
        if not rule.enabled:
            return True
        try:
            take = buckets().take(
                f"user:{request.user.pk}",
                capacity=rule.params["capacity"],
                per_seconds=rule.params["per_seconds"],
            )
        except RedisError:
            # Fail open: an unreachable Redis must not stop payments (the risk rules still run).
            log.warning("rate limit store unavailable; request let through", exc_info=True)
            return True
        self.retry_after = take.retry_after
        return take.allowed

    def wait(self):
        return self.retry_after
