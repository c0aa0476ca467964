"""Rate lookups against local servers answering as the four providers do: order,
timeouts, outages, garbage, stale and diverging quotes, the cache, the API."""

import logging
from decimal import Decimal

import pytest

from merchants.errors import RatesUnavailableError, UnknownCurrency
from merchants.models import RateSnapshot
from merchants.rates.lookup import rate_get, rate_refresh, rates_refresh_all
from tests.merchants import rate_servers as rs
from tests.merchants.rate_servers import Answer, ProviderServer

pytestmark = pytest.mark.django_db

ORDER = ["coingecko", "kraken", "coinbase", "binance"]


@pytest.fixture
def servers(settings):
    """One local server per provider answering its recorded, fresh, answer; the
    platform pointed at them in ORDER. A test changes ``servers[name].answer``."""
    started = {}
    for name in ORDER:
        fresh = rs.FRESH[name]
        started[name] = ProviderServer(name, answer=lambda path, query, f=fresh: f()).start()
    settings.FASTPAY_RATE_PROVIDERS = ORDER
    settings.FASTPAY_RATE_URLS = {name: server.url for name, server in started.items()}
    settings.FASTPAY_RATE_TIMEOUT_MS = 500
    settings.FASTPAY_RATE_SOURCES = 3
    settings.FASTPAY_RATE_MIN_SOURCES = 2
    settings.FASTPAY_RATE_MAX_DEVIATION_BPS = 100
    yield started
    for server in started.values():
        server.stop()


def test_the_first_three_providers_are_asked_and_their_median_used(servers):
    rate = rate_get("usdt", "eur")

    # coingecko 0.921347, kraken 0.92146, coinbase 0.92139: the median is coinbase's
    assert rate.rate == Decimal("0.92139")
    assert [s.provider for s in rate.sources] == ["coingecko", "kraken", "coinbase"]
    assert servers["binance"].requests == []
    assert servers["kraken"].requests == [("/0/public/Ticker", {"pair": "USDTEUR"})]
    snapshot = RateSnapshot.objects.get()
    assert (snapshot.base, snapshot.quote, snapshot.rate) == ("USDT", "EUR", "0.92139")
    assert [s["provider"] for s in snapshot.sources] == ["coingecko", "kraken", "coinbase"]


def test_a_cached_rate_is_served_without_asking_anyone(servers):
    first = rate_get("USDT", "EUR")
    asked = sum(len(s.requests) for s in servers.values())

    again = rate_get("USDT", "EUR")

    assert again.to_json() == first.to_json()
    assert sum(len(s.requests) for s in servers.values()) == asked
    assert RateSnapshot.objects.count() == 1


def test_an_outage_a_timeout_and_a_refused_connection_fall_through_to_the_next(servers, settings):
    servers["coingecko"].answer = lambda path, query: Answer(status=500, body=b"oops")
    servers["kraken"].answer = lambda path, query: Answer(delay_s=1.5, body=b"{}")  # > 500 ms
    settings.FASTPAY_RATE_URLS = {**settings.FASTPAY_RATE_URLS, "coinbase": "http://127.0.0.1:9"}
    servers["binance"].answer = lambda path, query: rs.binance()

    with pytest.raises(RatesUnavailableError) as refused:
        rate_get("USDT", "EUR")  # only binance answered: one source, two needed

    assert refused.value.code == "rates_unavailable" and "1 fresh quote" in refused.value.message
    servers["coinbase"].answer = lambda path, query: rs.coinbase()
    settings.FASTPAY_RATE_URLS = {**settings.FASTPAY_RATE_URLS, "coinbase": servers["coinbase"].url}

    rate = rate_get("USDT", "EUR")

    assert [s.provider for s in rate.sources] == ["coinbase", "binance"]
    reasons = dict(rate.dropped)
    assert reasons["coingecko"] == "coingecko: HTTP 500"
    assert "Timeout" in reasons["kraken"]


def test_garbage_and_a_stale_quote_are_dropped_with_their_reason(servers):
    servers["coingecko"].answer = lambda path, query: rs.coingecko(age_s=3600)
    servers["kraken"].answer = lambda path, query: Answer(body=b"<html>maintenance</html>")

    rate = rate_get("USDT", "EUR")

    assert [s.provider for s in rate.sources] == ["coinbase", "binance"]
    reasons = dict(rate.dropped)
    assert "stale" in reasons["coingecko"] and "not JSON" in reasons["kraken"]


def test_a_diverging_provider_is_dropped(servers):
    servers["kraken"].answer = lambda path, query: rs.kraken(price="0.98000")  # +6%

    rate = rate_get("USDT", "EUR")

    assert [s.provider for s in rate.sources] == ["coingecko", "coinbase"]
    assert "bps from the median" in dict(rate.dropped)["kraken"]
    assert rate.rate == (Decimal("0.921347") + Decimal("0.92139")) / 2


def test_every_provider_down_is_a_503_and_nothing_recorded(servers, client_for, alice, caplog):
    for server in servers.values():
        server.answer = lambda path, query: Answer(status=503, body=b"")

    with caplog.at_level(logging.WARNING, logger="merchants.rates.lookup"):
        response = client_for(alice).get("/api/v1/rates/", {"base": "USDT", "quote": "EUR"})

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "rates_unavailable"
    assert RateSnapshot.objects.count() == 0
    assert "HTTP 503" in caplog.text


def test_the_api_gives_the_rate_as_text_with_its_sources(servers, client_for, alice):
    response = client_for(alice).get("/api/v1/rates/", {"base": "USDT", "quote": "EUR"})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["rate"] == "0.92139" and isinstance(body["rate"], str)
    assert [s["provider"] for s in body["sources"]] == ["coingecko", "kraken", "coinbase"]
    assert all(isinstance(s["rate"], str) for s in body["sources"])


@pytest.mark.parametrize(
    "query, param, code",
    [
        ({"base": "USDT", "quote": "XYZ"}, "quote", "unknown_currency"),
        ({"base": "BTC", "quote": "EUR"}, "base", "unknown_currency"),
        ({"base": "USDT"}, "quote", "required"),
        ({"base": " USDT", "quote": "EUR"}, "base", "whitespace"),
        ({"base": "USDT", "quote": "EUR", "amount": "1"}, "amount", "unknown_field"),
        ({"base": "USDT", "quote": "€" * 40}, "quote", "max_length"),
    ],
)
def test_bad_queries_are_400_with_the_field(servers, client_for, alice, query, param, code):
    response = client_for(alice).get("/api/v1/rates/", query)

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (param, code)
    assert all(s.requests == [] for s in servers.values())


def test_rates_need_an_authenticated_caller(client):
    assert client.get("/api/v1/rates/", {"base": "USDT", "quote": "EUR"}).status_code == 401


def test_the_beat_refresh_warms_every_configured_pair_it_can(servers, settings):
    settings.FASTPAY_RATE_PAIRS = ["USDT/EUR", "USDT/XYZ"]

    assert rates_refresh_all() == 1
    assert RateSnapshot.objects.filter(quote="EUR").count() == 1


def test_an_unknown_pair_is_refused_before_any_provider_is_asked(servers):
    with pytest.raises(UnknownCurrency):
        rate_refresh("USDT", "XYZ")
    assert all(s.requests == [] for s in servers.values())
