"""Rate lookups: the cache first, else the providers in the configured order.

``rate_get(base, quote)`` answers from the cache (Redis when REDIS_URL is set, else the
process's memory) while the cached rate is younger than FASTPAY_RATE_CACHE_S; otherwise
it asks the providers of FASTPAY_RATE_PROVIDERS one after the other (each with
FASTPAY_RATE_TIMEOUT_MS), stops once FASTPAY_RATE_SOURCES usable quotes are in, aggregates
them (merchants.rates.aggregate: fresh only, median, outliers out), records a
RateSnapshot and caches it. A beat task (``rates_refresh``) keeps the configured pairs
warm, so a lookup rarely waits for a provider. HTTP never runs inside a DB transaction.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

import httpx
from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from merchants.errors import RateMoved, RatesUnavailableError, UnknownCurrency
from merchants.models import RateSnapshot
from merchants.rates.aggregate import Rate, RatesUnavailable, aggregate, deviation_bps
from merchants.rates.providers import PROVIDERS, Provider, ProviderError, Quote

logger = logging.getLogger(__name__)

_local = threading.local()


def _client() -> httpx.Client:
    """One pooled client per thread (httpx clients are not shared across threads here)."""
    client = getattr(_local, "client", None)
    if client is None:
        timeout = settings.FASTPAY_RATE_TIMEOUT_MS / 1000
        client = httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False)
        _local.client = client
    return client


def providers() -> list[tuple[Provider, str]]:
    """The configured providers, in order, each with its base URL."""
    return [
        (PROVIDERS[name](), settings.FASTPAY_RATE_URLS.get(name) or PROVIDERS[name].default_url)
        for name in settings.FASTPAY_RATE_PROVIDERS
    ]


def pair_check(base: str, quote: str) -> tuple[str, str]:
    """Normalised (BASE, QUOTE), or UnknownCurrency naming the field."""
    base, quote = str(base).strip().upper(), str(quote).strip().upper()
    if base not in settings.FASTPAY_RATE_BASES:
        raise UnknownCurrency(
            f"{base[:16]!r} is not priced; one of {', '.join(settings.FASTPAY_RATE_BASES)}",
            param="base",
        )
    if quote not in settings.FASTPAY_RATE_QUOTES:
        raise UnknownCurrency(
            f"{quote[:16]!r} is not priced; one of {', '.join(settings.FASTPAY_RATE_QUOTES)}",
            param="quote",
        )
    return base, quote


def _key(base: str, quote: str) -> str:
    return f"fastpay:rate:{base}:{quote}"


def rate_get(base: str, quote: str, *, max_cached_s: float | None = None) -> Rate:
    """1 ``base`` = ? ``quote`` (raises UnknownCurrency, RatesUnavailableError).
    ``max_cached_s``: the oldest cached rate acceptable (default FASTPAY_RATE_CACHE_S)."""
    base, quote = pair_check(base, quote)
    limit = settings.FASTPAY_RATE_CACHE_S if max_cached_s is None else max_cached_s
    cached = cache.get(_key(base, quote))
    if cached is not None and time.time() - cached["computed_at"] <= limit:
        return Rate.from_json(cached)
    return rate_refresh(base, quote)


def rate_refresh(base: str, quote: str) -> Rate:
    """Ask the providers now, record and cache the result."""
    base, quote = pair_check(base, quote)
    quotes, dropped = quotes_fetch(base, quote)
    try:
        rate = aggregate(
            quotes,
            base=base,
            quote=quote,
            now=time.time(),
            max_age_s=settings.FASTPAY_RATE_MAX_AGE_S,
            max_deviation_bps=settings.FASTPAY_RATE_MAX_DEVIATION_BPS,
            min_sources=settings.FASTPAY_RATE_MIN_SOURCES,
            dropped=dropped,
        )
    except RatesUnavailable as exc:
        logger.warning("rates: %s (%s)", exc, "; ".join(f"{p}: {r}" for p, r in exc.dropped))
        raise RatesUnavailableError(str(exc)) from None
    with transaction.atomic():
        RateSnapshot.objects.create(
            base=base,
            quote=quote,
            rate=str(rate.rate),
            sources=[q.to_json() for q in rate.sources],
            dropped=[{"provider": p, "reason": r} for p, r in rate.dropped],
            computed_at=datetime.fromtimestamp(rate.computed_at, tz=UTC),
        )
    cache.set(_key(base, quote), rate.to_json(), timeout=settings.FASTPAY_RATE_MAX_AGE_S)
    return rate


def quotes_fetch(base: str, quote: str) -> tuple[list[Quote], list[tuple[str, str]]]:
    """Quotes of the configured providers, asked in order until FASTPAY_RATE_SOURCES
    answered; (quotes, [(provider, why not)])."""
    quotes: list[Quote] = []
    dropped: list[tuple[str, str]] = []
    for provider, url in providers():
        if len(quotes) >= settings.FASTPAY_RATE_SOURCES:
            break
        try:
            quotes.append(_fetch(provider, url, base, quote))
        except ProviderError as exc:
            dropped.append((provider.name, str(exc)[:200]))
    return quotes, dropped


def _fetch(provider: Provider, url: str, base: str, quote: str) -> Quote:
    path, params = provider.request(base, quote)
    try:
        response = _client().get(url.rstrip("/") + path, params=params)
    except httpx.HTTPError as exc:
        raise ProviderError(f"{provider.name}: {type(exc).__name__}: {exc}"[:200]) from None
    if response.status_code != 200:
        raise ProviderError(f"{provider.name}: HTTP {response.status_code}")
    if len(response.content) > 1_000_000:
        raise ProviderError(f"{provider.name}: an answer of {len(response.content)} bytes")
    return provider.parse(base, quote, response.content, time.time())


def rates_refresh_all() -> int:
    """Refresh every configured pair (the beat task); returns how many succeeded."""
    done = 0
    for pair in settings.FASTPAY_RATE_PAIRS:
        base, _, quote = pair.partition("/")
        try:
            rate_refresh(base, quote)
            done += 1
        except (RatesUnavailableError, UnknownCurrency) as exc:
            logger.warning("rates: %s/%s not refreshed: %s", base, quote, exc.message)
    return done


def slippage_check(*, locked: Decimal, current: Decimal, tolerance_bps: int) -> None:
    """Raise RateMoved when ``current`` is further than ``tolerance_bps`` from the rate an
    invoice was ``locked`` at (the merchant's slippage tolerance)."""
    off = deviation_bps(current, locked)
    if off > tolerance_bps:
        raise RateMoved(
            f"the rate moved {off:.0f} bps from {locked} to {current} "
            f"(tolerance {tolerance_bps} bps)",
            param="rate",
        )
