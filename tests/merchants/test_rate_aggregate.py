"""From quotes to one rate: fresh only, the median, outliers out (pure)."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from merchants.rates.aggregate import RatesUnavailable, aggregate, median
from merchants.rates.providers import Quote

NOW = 1_800_000_000.0


def q(provider: str, rate: str, age_s: float = 0) -> Quote:
    return Quote(provider, "USDT", "EUR", Decimal(rate), NOW - age_s)


def run(quotes, *, max_age_s=300, max_deviation_bps=100, min_sources=2):
    return aggregate(
        quotes,
        base="USDT",
        quote="EUR",
        now=NOW,
        max_age_s=max_age_s,
        max_deviation_bps=max_deviation_bps,
        min_sources=min_sources,
    )


def test_the_rate_is_the_median_of_fresh_quotes():
    rate = run([q("a", "0.9213"), q("b", "0.9215"), q("c", "0.9214")])
    assert rate.rate == Decimal("0.9214")
    assert [s.provider for s in rate.sources] == ["a", "b", "c"]


def test_an_even_count_takes_the_mean_of_the_middle_two_exactly():
    assert median([Decimal("0.92"), Decimal("0.93")]) == Decimal("0.925")
    assert median([Decimal("1"), Decimal("2")]) == Decimal("1.5")


def test_a_stale_quote_is_never_used_however_close_it_is():
    rate = run([q("a", "0.9213"), q("b", "0.9215"), q("c", "0.9000", age_s=301)])
    assert rate.rate == Decimal("0.9214")
    assert rate.dropped[0][0] == "c" and "stale" in rate.dropped[0][1]


def test_a_quote_dated_in_the_future_is_not_used():
    rate = run([q("a", "0.9213"), q("b", "0.9215"), q("c", "0.92", age_s=-3600)])
    assert [p for p, _ in rate.dropped] == ["c"]


def test_an_outlier_beyond_the_deviation_is_dropped_and_the_median_taken_again():
    rate = run([q("a", "0.9213"), q("b", "0.9215"), q("c", "1.0100"), q("d", "0.9214")])
    assert [p for p, _ in rate.dropped] == ["c"]
    assert rate.rate == Decimal("0.9214")


def test_two_quotes_that_disagree_give_no_rate_rather_than_a_guess():
    with pytest.raises(RatesUnavailable, match="disagree") as refused:
        run([q("a", "0.90"), q("b", "0.95")])
    assert {p for p, _ in refused.value.dropped} == {"a", "b"}


def test_too_few_fresh_quotes_give_no_rate():
    with pytest.raises(RatesUnavailable, match="1 fresh quote"):
        run([q("a", "0.92"), q("b", "0.92", age_s=900)])
    with pytest.raises(RatesUnavailable):
        run([])


rates = st.decimals(min_value=Decimal("0.5"), max_value=Decimal("1.5"), places=6)


@given(st.lists(rates, min_size=2, max_size=7), st.randoms())
def test_the_rate_lies_within_the_kept_quotes_and_ignores_their_order(values, rnd):
    quotes = [q(f"p{i}", str(v)) for i, v in enumerate(values)]
    try:
        first = run(quotes, max_deviation_bps=500)
    except RatesUnavailable:
        return
    shuffled = list(quotes)
    rnd.shuffle(shuffled)
    assert run(shuffled, max_deviation_bps=500).rate == first.rate
    kept = [s.rate for s in first.sources]
    assert min(kept) <= first.rate <= max(kept)
    assert len(kept) >= 2
