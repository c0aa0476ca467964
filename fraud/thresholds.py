"""Rule thresholds: the code defaults and the admin-edited RuleConfig rows over them.

Amounts are whole tokens (scaled by the token's ledger_decimals when a rule runs), times in
minutes/hours/days as the key says, shares in percent, scores 0-100. Every value is an int.
"""

from copy import deepcopy
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

# rule -> default params. "score" is what the rule adds when it fires (combined noisy-OR).
DEFAULTS: dict[str, dict] = {
    "scoring": {"review_at": 50, "block_at": 95},
    "geofence": {"max_km": 20, "last_location_max_age_hours": 6, "score": 50},
    "impossible_travel": {"max_kmh": 900, "min_km": 5, "score": 70},
    "rate_limit": {"capacity": 10, "per_seconds": 60},
    # review_at_tokens 0 = use the FASTPAY_REVIEW_ABOVE_TOKENS setting.
    "large_amount": {"review_at_tokens": 0, "score": 60},
    "tier_limits": {
        "tiers": {
            "0": {"single_tokens": 500, "day_sum_tokens": 1_000, "day_count": 20},
            "1": {"single_tokens": 2_000, "day_sum_tokens": 10_000, "day_count": 50},
            "2": {"single_tokens": 20_000, "day_sum_tokens": 200_000, "day_count": 500},
        },
        "score": 50,
    },
    "burst": {"max_count": 5, "window_minutes": 10, "score": 50},
    "new_payee": {"above_tokens": 500, "score": 50},
    "structuring": {"band_pct": 10, "min_count": 3, "window_minutes": 60, "score": 60},
    "dormant": {"idle_days": 90, "above_tokens": 200, "score": 50},
    "double_spend": {"score": 100},
    "circuit_breaker": {
        "window_minutes": 15,
        "min_assessments": 20,
        "flagged_share_pct": 50,
        "token_volume_tokens": 1_000_000,
        "vendor_volume_tokens": 100_000,
        "evaluate_every_seconds": 2,
    },
    "four_eyes": {"above_tokens": 5_000},
}

DESCRIPTIONS = {
    "scoring": "Score at or above review_at holds the payment; at or above block_at blocks it.",
    "geofence": "Payment farther than max_km from the vendor's registered location or the "
    "payer's last known location (if seen within last_location_max_age_hours).",
    "impossible_travel": "Speed between consecutive located payments above max_kmh "
    "(ignored under min_km, GPS jitter).",
    "rate_limit": "Token bucket per user on payment requests: capacity requests, refilled "
    "over per_seconds. Over it: HTTP 429 rate_limited with Retry-After.",
    "large_amount": "Single payment at or above review_at_tokens (0: the "
    "FASTPAY_REVIEW_ABOVE_TOKENS setting).",
    "tier_limits": "Per verification tier: single payment, 24 h sum (per token) and 24 h count.",
    "burst": "More than max_count payments within window_minutes.",
    "new_payee": "First payment to a payee, above above_tokens.",
    "structuring": "min_count payments within window_minutes each within band_pct below the "
    "payer's review limit.",
    "dormant": "No payment for idle_days, then one of above_tokens or more.",
    "double_spend": "Offline double-spend evidence against the payer: always blocks.",
    "circuit_breaker": "Over window_minutes: flagged share >= flagged_share_pct (with at least "
    "min_assessments) or volume above the limit trips the breaker of a tenant (vendor or "
    "merchant, its payments in and out), of a token or of the platform; the token and "
    "platform figures leave out the dominant payee and payer, so one tenant cannot trip "
    "them; each scope is evaluated at most every evaluate_every_seconds (0: every payment).",
    "four_eyes": "Flagged payments at or above above_tokens need two different reviewers.",
}


class ThresholdError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class RuleSettings:
    enabled: bool
    params: dict


def _merge(default, given, path: str):
    """`given` over `default`: same keys, ints only (bool refused); unknown keys refused."""
    if isinstance(default, dict):
        if not isinstance(given, dict):
            raise ThresholdError(f"{path or 'params'}: expected an object")
        unknown = set(given) - set(default)
        if unknown:
            raise ThresholdError(f"{path or 'params'}: unknown key(s) {', '.join(sorted(unknown))}")
        return {
            key: _merge(value, given[key], f"{path}.{key}" if path else key)
            if key in given
            else deepcopy(value)
            for key, value in default.items()
        }
    if isinstance(given, bool) or not isinstance(given, int) or given < 0:
        raise ThresholdError(f"{path}: expected a whole number >= 0")
    return given


def params_validate(rule: str, params) -> dict:
    """The complete params of `rule` with `params` applied; ThresholdError if invalid."""
    if rule not in DEFAULTS:
        raise ThresholdError(f"unknown rule {rule!r}")
    merged = _merge(DEFAULTS[rule], params, "")
    if "score" in merged and merged["score"] > 100:
        raise ThresholdError("score: at most 100")
    if rule == "scoring" and not 0 < merged["review_at"] <= merged["block_at"] <= 100:
        raise ThresholdError("scoring: need 0 < review_at <= block_at <= 100")
    if rule == "rate_limit" and (merged["capacity"] < 1 or merged["per_seconds"] < 1):
        raise ThresholdError("rate_limit: capacity and per_seconds must be at least 1")
    return merged


CACHE_KEY = "fraud:thresholds:v1"
CACHE_SECONDS = 30


def _stored() -> dict[str, RuleSettings]:
    from fraud.models import RuleConfig

    rows = {row.rule: row for row in RuleConfig.objects.all()}
    result = {}
    for rule in DEFAULTS:
        row = rows.get(rule)
        if row is None:
            result[rule] = RuleSettings(True, deepcopy(DEFAULTS[rule]))
            continue
        try:
            params = params_validate(rule, row.params)
        except ThresholdError:
            # Rows are validated when saved; a hand-edited bad row falls back, never crashes.
            params = deepcopy(DEFAULTS[rule])
        result[rule] = RuleSettings(row.enabled, params)
    return result


def thresholds_load() -> dict[str, RuleSettings]:
    """Every rule's settings: stored rows over the code defaults.

    Kept in the default cache (Redis when configured, so every process sees a change at
    once) for CACHE_SECONDS and dropped whenever a RuleConfig row is saved
    (`thresholds_forget`). Callers must not mutate the params they get.
    """
    stored = cache.get(CACHE_KEY)
    if stored is None:
        stored = _stored()
        cache.set(CACHE_KEY, stored, CACHE_SECONDS)
    large = stored["large_amount"]
    if large.params["review_at_tokens"] == 0:
        params = {**large.params, "review_at_tokens": settings.FASTPAY_REVIEW_ABOVE_TOKENS}
        stored = {**stored, "large_amount": RuleSettings(large.enabled, params)}
    return stored


def thresholds_forget() -> None:
    cache.delete(CACHE_KEY)
