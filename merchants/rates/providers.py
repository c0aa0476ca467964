"""Exchange-rate providers: each public price API, read as its documentation describes.

A provider turns one HTTP answer into a Quote: "1 ``base`` (a token: USDT, USDC) is worth
``rate`` ``quote`` (a fiat currency or another token)". Parsing is strict and exact:
numbers are read from the JSON text as Decimals (``parse_float=Decimal``), never floats;
anything unexpected (a missing field, a string that is not a positive finite number, an
error object, an HTML page) raises ProviderError, which the aggregator counts as that
provider being down for this lookup. ``at`` is the time the provider says the price is
from, or the fetch time where its API gives none (said per provider).

Documented endpoints used:

- CoinGecko ``GET /api/v3/simple/price?ids=tether&vs_currencies=eur&include_last_updated_at=true``
  -> ``{"tether": {"eur": 0.9213, "last_updated_at": 1700000000}}``
- Kraken ``GET /0/public/Ticker?pair=USDTEUR`` -> ``{"error": [], "result": {"USDTEUR":
  {"c": ["0.92130", "12.5"], ...}}}`` (``c`` = last trade closed: price, lot volume; no
  time: the fetch time)
- Coinbase ``GET /v2/exchange-rates?currency=USDT`` -> ``{"data": {"currency": "USDT",
  "rates": {"EUR": "0.9213", ...}}}`` (no time: the fetch time)
- Binance ``GET /api/v3/ticker/24hr?symbol=EURUSDT`` -> ``{"symbol": "EURUSDT",
  "lastPrice": "1.08540000", "closeTime": 1700000000123, ...}``; Binance lists fiat
  against the token (EUR priced in USDT), so the rate is inverted; it has no USD market.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

#: fractional digits a rate is kept with (inverted rates are rounded to this)
RATE_PLACES = 18
_QUANTUM = Decimal(1).scaleb(-RATE_PLACES)


class ProviderError(Exception):
    """This provider gave no usable quote for this pair (down, garbage, unsupported)."""


@dataclass(frozen=True, slots=True)
class Quote:
    provider: str
    base: str
    quote: str
    rate: Decimal
    at: float  # unix seconds the price is from

    def to_json(self) -> dict[str, Any]:
        return {"provider": self.provider, "rate": str(self.rate), "at": int(self.at)}


def positive_decimal(value: Any, what: str) -> Decimal:
    """A positive finite Decimal from a JSON number (already a Decimal) or a numeric
    string; anything else is a ProviderError."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, str, int)):
        raise ProviderError(f"{what}: not a number ({type(value).__name__})")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, ValueError):
        raise ProviderError(f"{what}: not a number ({str(value)[:40]!r})") from None
    if not number.is_finite() or number <= 0 or number.adjusted() > 12:
        raise ProviderError(f"{what}: {number} is not a plausible price")
    return number


def exact_json(body: bytes) -> Any:
    try:
        return json.loads(body, parse_float=Decimal, parse_int=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise ProviderError("the answer is not JSON") from None


def invert(rate: Decimal) -> Decimal:
    with localcontext() as context:
        context.prec = 40
        return (Decimal(1) / rate).quantize(_QUANTUM)


class Provider:
    """One price API. ``request(base, quote)`` -> (path, query params), or raises
    ProviderError for a pair it does not list; ``parse(base, quote, body, fetched_at)``
    -> Quote."""

    name = ""
    default_url = ""

    def request(self, base: str, quote: str) -> tuple[str, dict[str, str]]:
        raise NotImplementedError

    def parse(self, base: str, quote: str, body: bytes, fetched_at: float) -> Quote:
        raise NotImplementedError

    def _quote(self, base: str, quote: str, rate: Decimal, at: float) -> Quote:
        return Quote(self.name, base, quote, rate, at)


class CoinGecko(Provider):
    name = "coingecko"
    default_url = "https://api.coingecko.com"
    IDS = {"USDT": "tether", "USDC": "usd-coin"}

    def request(self, base, quote):
        coin = self.IDS.get(base)
        if coin is None:
            raise ProviderError(f"coingecko lists no {base}")
        params = {"ids": coin, "vs_currencies": quote.lower(), "include_last_updated_at": "true"}
        return "/api/v3/simple/price", params

    def parse(self, base, quote, body, fetched_at):
        data = exact_json(body)
        entry = data.get(self.IDS[base]) if isinstance(data, dict) else None
        if not isinstance(entry, dict):
            raise ProviderError(f"coingecko: no {self.IDS[base]} in the answer")
        rate = positive_decimal(entry.get(quote.lower()), f"coingecko {base}/{quote}")
        updated = entry.get("last_updated_at")
        if not isinstance(updated, Decimal) or not updated.is_finite() or updated <= 0:
            raise ProviderError("coingecko: last_updated_at missing or not a time")
        return self._quote(base, quote, rate, float(updated))


class Kraken(Provider):
    name = "kraken"
    default_url = "https://api.kraken.com"
    LISTED = {"USD", "EUR", "GBP", "CAD", "AUD", "CHF", "JPY"}

    def request(self, base, quote):
        if base not in {"USDT", "USDC"} or quote not in self.LISTED:
            raise ProviderError(f"kraken lists no {base}/{quote}")
        return "/0/public/Ticker", {"pair": f"{base}{quote}"}

    def parse(self, base, quote, body, fetched_at):
        data = exact_json(body)
        if not isinstance(data, dict) or data.get("error"):
            raise ProviderError(f"kraken: error {str(data.get('error'))[:80] if data else ''}")
        result = data.get("result")
        # the result is keyed by Kraken's own pair name (USDTZUSD for USDTUSD): one entry
        if not isinstance(result, dict) or len(result) != 1:
            raise ProviderError("kraken: not exactly one pair in the result")
        (ticker,) = result.values()
        closed = ticker.get("c") if isinstance(ticker, dict) else None
        if not isinstance(closed, list) or not closed:
            raise ProviderError("kraken: no last trade (c) in the ticker")
        rate = positive_decimal(closed[0], f"kraken {base}/{quote}")
        return self._quote(base, quote, rate, fetched_at)


class Coinbase(Provider):
    name = "coinbase"
    default_url = "https://api.coinbase.com"

    def request(self, base, quote):
        return "/v2/exchange-rates", {"currency": base}

    def parse(self, base, quote, body, fetched_at):
        data = exact_json(body)
        inner = data.get("data") if isinstance(data, dict) else None
        rates = inner.get("rates") if isinstance(inner, dict) else None
        if not isinstance(rates, dict) or inner.get("currency") != base:
            raise ProviderError(f"coinbase: no rates for {base}")
        if quote not in rates:
            raise ProviderError(f"coinbase lists no {base}/{quote}")
        rate = positive_decimal(rates[quote], f"coinbase {base}/{quote}")
        return self._quote(base, quote, rate, fetched_at)


class Binance(Provider):
    name = "binance"
    default_url = "https://api.binance.com"
    LISTED = {"EUR", "GBP", "TRY", "BRL", "PLN", "UAH", "ARS", "ZAR", "JPY", "MXN"}
    #: fiat quoted in the token on Binance (EURUSDT): the rate is inverted
    INVERTED = {"EUR", "GBP"}

    def request(self, base, quote):
        if base not in {"USDT", "USDC"} or quote not in self.LISTED:
            raise ProviderError(f"binance lists no {base}/{quote}")
        symbol = f"{quote}{base}" if quote in self.INVERTED else f"{base}{quote}"
        return "/api/v3/ticker/24hr", {"symbol": symbol}

    def parse(self, base, quote, body, fetched_at):
        data = exact_json(body)
        if not isinstance(data, dict) or "lastPrice" not in data:
            raise ProviderError(f"binance: no lastPrice ({str(data)[:80]})")
        price = positive_decimal(data["lastPrice"], f"binance {base}/{quote}")
        closed = data.get("closeTime")
        if not isinstance(closed, Decimal) or not closed.is_finite() or closed <= 0:
            raise ProviderError("binance: closeTime missing or not a time")
        rate = invert(price) if quote in self.INVERTED else price
        return self._quote(base, quote, rate, float(closed) / 1000)


PROVIDERS: dict[str, type[Provider]] = {p.name: p for p in (CoinGecko, Kraken, Coinbase, Binance)}
