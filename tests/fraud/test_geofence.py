"""Geofence and impossible travel, at their boundaries."""

from datetime import timedelta

import pytest

from fraud.geo import haversine_km
from tests.fraud.factories import (
    BERLIN,
    PastPaymentFactory,
    RiskProfileFactory,
    minutes,
    north_of,
    rules_of,
)
from wallets.risk import RiskDecision


def test_haversine_knows_a_real_distance():
    # Berlin Brandenburg Gate -> Paris Eiffel Tower: 878 km (great circle).
    assert haversine_km(52.516275, 13.377704, 48.858370, 2.294481) == pytest.approx(878, abs=2)


def test_our_test_points_are_where_we_say(db):
    assert haversine_km(*BERLIN, *north_of(BERLIN, 20.1)) == pytest.approx(20.1, abs=0.001)


@pytest.fixture
def located_vendor(vendor):
    RiskProfileFactory(user=vendor, registered_latitude=BERLIN[0], registered_longitude=BERLIN[1])
    return vendor


class TestGeofenceAroundTheVendor:
    def test_a_payment_19_9_km_from_the_vendor_passes(self, alice, located_vendor, assess_for):
        result = assess_for(alice, located_vendor, point=north_of(BERLIN, 19.9))

        assert "geofence" not in rules_of(result)
        assert result.decision == RiskDecision.ALLOW

    def test_a_payment_20_1_km_from_the_vendor_is_held(self, alice, located_vendor, assess_for):
        result = assess_for(alice, located_vendor, point=north_of(BERLIN, 20.1))

        assert result.decision == RiskDecision.REVIEW
        (reason,) = result.reasons
        assert reason["rule"] == "geofence"
        assert reason["figures"]["distance_km"] == 20.1
        assert reason["text"] == "20.1 km from shop's registered location"

    def test_a_payment_without_a_location_is_not_judged_by_distance(
        self, alice, located_vendor, assess_for
    ):
        assert assess_for(alice, located_vendor).decision == RiskDecision.ALLOW


class TestGeofenceAroundTheLastPayment:
    def test_19_9_km_from_the_last_payment_passes(self, alice, bob, assess_for):
        PastPaymentFactory(payer=alice, latitude=BERLIN[0], longitude=BERLIN[1], ago=minutes(90))

        assert "geofence" not in rules_of(assess_for(alice, bob, point=north_of(BERLIN, 19.9)))

    def test_34_km_three_minutes_after_the_last_payment_reads_as_such(self, alice, bob, assess_for):
        PastPaymentFactory(payer=alice, latitude=BERLIN[0], longitude=BERLIN[1], ago=minutes(3))

        result = assess_for(alice, bob, point=north_of(BERLIN, 34.2))

        texts = {r["rule"]: r["text"] for r in result.reasons}
        assert texts["geofence"] == "34.2 km from last payment 3 min earlier"
        assert "impossible_travel" not in texts  # 684 km/h: under the 900 km/h limit
        assert result.decision == RiskDecision.REVIEW

    def test_a_location_older_than_the_window_is_not_compared(self, alice, bob, assess_for):
        PastPaymentFactory(
            payer=alice, latitude=BERLIN[0], longitude=BERLIN[1], ago=timedelta(hours=7)
        )

        assert assess_for(alice, bob, point=north_of(BERLIN, 100)).decision == RiskDecision.ALLOW


class TestImpossibleTravel:
    # 900 km/h is the limit: 30 km in 2 minutes is 900 km/h exactly.
    def test_travel_at_the_speed_limit_passes(self, alice, bob, assess_for, rule):
        rule("geofence", enabled=False)
        PastPaymentFactory(payer=alice, latitude=BERLIN[0], longitude=BERLIN[1], ago=minutes(2.2))

        result = assess_for(alice, bob, point=north_of(BERLIN, 30))

        assert "impossible_travel" not in rules_of(result)

    def test_faster_than_an_airliner_is_held(self, alice, bob, assess_for, rule):
        rule("geofence", enabled=False)
        PastPaymentFactory(payer=alice, latitude=BERLIN[0], longitude=BERLIN[1], ago=minutes(1.8))

        result = assess_for(alice, bob, point=north_of(BERLIN, 30))

        (reason,) = result.reasons
        assert reason["rule"] == "impossible_travel"
        assert reason["figures"]["speed_kmh"] > 900
        assert result.decision == RiskDecision.REVIEW

    def test_gps_jitter_under_min_km_never_counts_as_travel(self, alice, bob, assess_for):
        PastPaymentFactory(payer=alice, latitude=BERLIN[0], longitude=BERLIN[1], ago=minutes(0))

        assert assess_for(alice, bob, point=north_of(BERLIN, 4.9)).decision == RiskDecision.ALLOW
