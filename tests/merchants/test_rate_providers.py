"""Each provider reads its documented answer exactly, and refuses anything else."""

from decimal import Decimal

import pytest

from merchants.rates.providers import (
    Binance,
    Coinbase,
    CoinGecko,
    Kraken,
    ProviderError,
    invert,
)
from tests.merchants.rate_servers import RECORDED

NOW = 1764633700.0


def read(name: str) -> bytes:
    return (RECORDED / name).read_bytes()


def test_coingecko_reads_the_price_as_written_and_its_update_time():
    q = CoinGecko().parse("USDT", "EUR", read("coingecko_simple_price_tether_eur.json"), NOW)
    assert (q.rate, q.at) == (Decimal("0.921347"), 1764633600.0)
    assert CoinGecko().request("USDT", "EUR") == (
        "/api/v3/simple/price",
        {"ids": "tether", "vs_currencies": "eur", "include_last_updated_at": "true"},
    )


def test_kraken_takes_the_last_trade_of_its_one_pair_whatever_its_name():
    q = Kraken().parse("USDT", "USD", read("kraken_ticker_usdtusd.json"), NOW)  # USDTZUSD
    assert (q.rate, q.at) == (Decimal("1.00016"), NOW)


def test_coinbase_reads_the_rate_string():
    q = Coinbase().parse("USDT", "GBP", read("coinbase_exchange_rates_usdt.json"), NOW)
    assert q.rate == Decimal("0.79032")


def test_binance_inverts_fiat_quoted_in_the_token_and_dates_it_by_close_time():
    assert Binance().request("USDT", "EUR") == ("/api/v3/ticker/24hr", {"symbol": "EURUSDT"})
    q = Binance().parse("USDT", "EUR", read("binance_ticker_24hr_eurusdt.json"), NOW)
    assert q.rate == invert(Decimal("1.08520000")) == Decimal("0.921489126428308146")
    assert q.at == pytest.approx(1764633599.999)


@pytest.mark.parametrize(
    "provider, base, quote",
    [(Kraken(), "USDT", "XAU"), (Binance(), "USDT", "USD"), (CoinGecko(), "DAI", "USD")],
)
def test_a_pair_a_provider_does_not_list_is_refused_before_asking(provider, base, quote):
    with pytest.raises(ProviderError, match="lists no"):
        provider.request(base, quote)


GARBAGE = [
    b"<html>502 Bad Gateway</html>",
    b"",
    b'{"tether": {"eur": "abc", "last_updated_at": 1}}',
    b'{"tether": {"eur": -0.9, "last_updated_at": 1}}',
    b'{"tether": {"eur": 0, "last_updated_at": 1}}',
    b'{"tether": {"eur": true, "last_updated_at": 1}}',
    b'{"tether": {"eur": null, "last_updated_at": 1}}',
    b'{"tether": {"eur": NaN, "last_updated_at": 1}}',
    b'{"tether": {"eur": Infinity, "last_updated_at": 1}}',
    b'{"tether": {"eur": 1e400, "last_updated_at": 1}}',
    b'{"tether": {"eur": 0.92}}',
    b'{"tether": {"eur": 0.92, "last_updated_at": "yesterday"}}',
    b'{"tether": [0.92]}',
    b"[]",
    b'"0.92"',
]


@pytest.mark.parametrize("answer", GARBAGE)
def test_coingecko_garbage_is_a_provider_error_never_a_rate(answer):
    with pytest.raises(ProviderError):
        CoinGecko().parse("USDT", "EUR", answer, NOW)


@pytest.mark.parametrize(
    "answer",
    [
        read("kraken_error_unknown_pair.json"),
        b'{"error": [], "result": {}}',
        b'{"error": [], "result": {"A": {"c": ["1"]}, "B": {"c": ["1"]}}}',
        b'{"error": [], "result": {"USDTEUR": {"c": []}}}',
        b'{"error": [], "result": {"USDTEUR": {"c": ["0,92"]}}}',
    ],
)
def test_kraken_errors_and_odd_results_are_refused(answer):
    with pytest.raises(ProviderError):
        Kraken().parse("USDT", "EUR", answer, NOW)


@pytest.mark.parametrize(
    "answer",
    [
        b'{"data": {"currency": "USDC", "rates": {"EUR": "0.92"}}}',  # another coin's rates
        b'{"data": {"currency": "USDT", "rates": {}}}',
        b'{"errors": [{"id": "not_found"}]}',
        b'{"data": {"currency": "USDT", "rates": {"EUR": "1e999999"}}}',
    ],
)
def test_coinbase_odd_answers_are_refused(answer):
    with pytest.raises(ProviderError):
        Coinbase().parse("USDT", "EUR", answer, NOW)


@pytest.mark.parametrize(
    "answer",
    [
        b'{"code": -1121, "msg": "Invalid symbol."}',
        b'{"lastPrice": "1.0852"}',
        b'{"lastPrice": "1.0852", "closeTime": -5}',
        b'{"lastPrice": "", "closeTime": 1764633599999}',
    ],
)
def test_binance_odd_answers_are_refused(answer):
    with pytest.raises(ProviderError):
        Binance().parse("USDT", "EUR", answer, NOW)
