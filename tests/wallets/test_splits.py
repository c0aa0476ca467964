"""Splits are exact (the parts always sum to the whole, none negative, the remainder's
owner as documented) and fees are arithmetic without surprises."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wallets.splits import FeeExceedsAmount, FeeSchedule, Part, SplitError, fee, split


def test_basis_points_share_by_largest_remainder_ties_to_the_first_listed():
    # 100 units in thirds: 3333/3333/3334 bps -> 33.33, 33.33, 33.34 -> 33, 33, 33 + 1 left
    assert split(100, [Part(bps=3333), Part(bps=3333), Part(bps=3334)]) == [33, 33, 34]
    # equal remainders: the first listed gets the unit
    assert split(1, [Part(bps=5000), Part(bps=5000)]) == [1, 0]
    assert split(3, [Part(bps=5000), Part(bps=5000)]) == [2, 1]


def test_fixed_parts_first_then_shares_of_the_rest():
    assert split(1_000, [Part(units=100), Part(bps=2500), Part(bps=7500)]) == [100, 225, 675]


def test_fixed_parts_alone_must_sum_to_the_total():
    assert split(10, [Part(units=4), Part(units=6)]) == [4, 6]
    with pytest.raises(SplitError, match="not to the total"):
        split(10, [Part(units=4), Part(units=5)])
    with pytest.raises(SplitError, match="exceed the total"):
        split(10, [Part(units=11), Part(bps=10_000)])


@pytest.mark.parametrize(
    "parts, param",
    [
        ([Part(bps=5000), Part(bps=4000)], "bps"),
        ([Part(bps=5000), Part(bps=5001)], "bps"),
        ([], "splits"),
    ],
)
def test_basis_points_must_add_up_to_the_whole(parts, param):
    with pytest.raises(SplitError) as refused:
        split(100, parts)
    assert refused.value.param == param


@pytest.mark.parametrize(
    "kwargs", [{"bps": 10_001}, {"bps": 0}, {"units": 0}, {"units": -5}, {"units": 1, "bps": 1}, {}]
)
def test_a_part_out_of_bounds_is_refused(kwargs):
    with pytest.raises(SplitError):
        Part(**kwargs)


def bps_parts(draw_sizes):
    """Basis points summing to 10,000 from a list of positive weights."""
    total = sum(draw_sizes)
    points = [w * 10_000 // total for w in draw_sizes]
    points[-1] += 10_000 - sum(points)
    return points


@given(
    st.integers(1, 10**15),
    st.lists(st.integers(1, 1_000), min_size=1, max_size=12),
    st.lists(st.integers(1, 10**6), max_size=4),
)
def test_the_parts_always_sum_to_the_whole_and_none_is_negative(total, weights, fixed):
    points = bps_parts(weights)
    if any(p <= 0 for p in points) or sum(fixed) > total:
        return
    parts = [Part(units=u) for u in fixed] + [Part(bps=p) for p in points]
    amounts = split(total, parts)
    assert sum(amounts) == total
    assert all(a >= 0 for a in amounts)
    assert amounts[: len(fixed)] == fixed
    rest = total - sum(fixed)
    for amount, p in zip(amounts[len(fixed) :], points, strict=True):
        exact = rest * p / 10_000
        assert abs(amount - exact) < 1  # never more than one unit from its exact share


def test_fees_percentage_rounded_up_plus_fixed_with_a_minimum():
    schedule = FeeSchedule(bps=290, fixed=300_000, minimum=500_000)  # 2.9% + 0.30, min 0.50
    assert fee(100_000_000, schedule) == 2_900_000 + 300_000
    assert fee(1_000_000, schedule) == 500_000  # 29,000 + 300,000 < the minimum
    assert fee(3, FeeSchedule(bps=1)) == 1  # rounded up: never a zero fee from rounding


def test_a_fee_larger_than_the_amount_is_refused():
    with pytest.raises(FeeExceedsAmount, match="exceeds the amount"):
        fee(400_000, FeeSchedule(minimum=500_000))
    with pytest.raises(ValueError):
        FeeSchedule(bps=10_001)
    with pytest.raises(ValueError):
        FeeSchedule(fixed=-1)


@given(st.integers(1, 10**15), st.integers(0, 10_000), st.integers(0, 10**9), st.integers(0, 10**9))
def test_a_fee_is_at_least_its_minimum_and_never_above_the_amount(amount, bps, fixed, minimum):
    schedule = FeeSchedule(bps=bps, fixed=fixed, minimum=minimum)
    try:
        charged = fee(amount, schedule)
    except FeeExceedsAmount:
        assert max(minimum, -(-amount * bps // 10_000) + fixed) > amount
        return
    assert minimum <= charged <= amount
    assert charged >= amount * bps / 10_000
