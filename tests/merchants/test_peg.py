"""The stablecoin peg monitor: off the peg pauses fiat pricing, loudly; back within the
resume band it resumes; no rate at all changes nothing."""

import logging
from decimal import Decimal

import pytest

from fastpay.models import OutboxEvent
from merchants.errors import PegPaused
from merchants.models import PegState, PegStatus
from merchants.rates.peg import fiat_pricing_check, peg_check, peg_record
from tests.merchants import rate_servers as rs
from tests.merchants.rate_servers import Answer
from tests.merchants.test_rate_lookup import servers  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def usd(servers, settings):  # noqa: F811
    """The providers answer USDT/USD (coinbase's is 1.00021, kraken's 1.00016,
    coingecko's 1.000213); a test moves them."""
    settings.FASTPAY_PEGGED = ["USDT"]
    settings.FASTPAY_PEG_PAUSE_BPS = 200
    settings.FASTPAY_PEG_RESUME_BPS = 100

    def price(usd_price: str | None):
        servers["coingecko"].answer = lambda p, q: rs.coingecko(fiat="usd", price=usd_price)
        servers["kraken"].answer = lambda p, q: rs.kraken(pair="usdtusd", price=usd_price)
        servers["coinbase"].answer = lambda p, q: rs.coinbase(fiat="USD", price=usd_price)

    price(None)
    return price


def test_on_its_peg_fiat_pricing_goes_on(usd):
    assert peg_check() == {"USDT": PegState.OK}
    status = PegStatus.objects.get(token="USDT")
    assert (status.rate, status.deviation_bps) == ("1.00021", 2)
    fiat_pricing_check("USDT")  # no error
    assert not OutboxEvent.objects.filter(topic__startswith="rates.peg").exists()


def test_off_the_peg_pauses_fiat_pricing_with_an_event_and_an_error(usd, caplog):
    usd("0.9700")

    with caplog.at_level(logging.ERROR, logger="merchants.rates.peg"):
        assert peg_check() == {"USDT": PegState.PAUSED}

    assert "300 bps off its peg" in caplog.text
    event = OutboxEvent.objects.get(topic="rates.peg_paused")
    assert event.payload == {
        "token": "USDT",
        "rate": "0.9700",
        "deviation_bps": 300,
        "pause_bps": 200,
        "resume_bps": 100,
        "state": "paused",
    }
    with pytest.raises(PegPaused) as refused:
        fiat_pricing_check("usdt")
    assert (refused.value.code, refused.value.status_code) == ("peg_paused", 503)


def test_it_resumes_only_back_within_the_resume_band(usd):
    usd("0.9700")
    peg_check()
    usd("0.9850")  # 150 bps: better, but not within 100

    assert peg_check() == {"USDT": PegState.PAUSED}
    usd("0.9950")
    assert peg_check() == {"USDT": PegState.OK}

    assert list(
        OutboxEvent.objects.filter(topic__startswith="rates.peg")
        .order_by("created_at")
        .values_list("topic", flat=True)
    ) == ["rates.peg_paused", "rates.peg_resumed"]
    fiat_pricing_check("USDT")


def test_no_rate_at_all_keeps_the_state_and_says_why(usd, servers):  # noqa: F811
    usd("0.9700")
    peg_check()
    for server in servers.values():
        server.answer = lambda p, q: Answer(status=500)

    assert peg_check() == {"USDT": PegState.PAUSED}
    assert "not priced" in PegStatus.objects.get(token="USDT").reason


def test_a_second_observation_past_the_limit_records_no_second_event():
    peg_record("USDC", Decimal("1.05"))
    peg_record("USDC", Decimal("1.06"))

    assert OutboxEvent.objects.filter(topic="rates.peg_paused").count() == 1
    assert PegStatus.objects.get(token="USDC").rate == "1.06"
