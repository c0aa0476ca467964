"""Fixtures of the payout tests: merchants with an allow-listed address whose cool-down is
over, and a schedule maker. tests/settlement/conftest.py's fixtures apply here."""

from datetime import timedelta

import pytest
from django.utils import timezone

ADDRESSES = [
    "0x8ba1f109551bD432803012645Ac136ddd64DBA72",
    "0x71C7656EC7ab88b098defB751B7401B5f6d8976F",
    "0x2546BcD3c84621e976D8185a91A922aE77ECEc30",
    "0xbDA5747bFD65F08deb54cb465eB87D40e51B197E",
]


@pytest.fixture
def allow(offchain):
    """allow(user, address, chain=offchain) -> AllowedAddress usable now."""
    from settlement.models import AllowedAddress

    def _allow(user, address, chain=None):
        past = timezone.now() - timedelta(days=2)
        return AllowedAddress.objects.create(
            user=user, chain=chain or offchain, address=address, created_at=past, usable_at=past
        )

    return _allow


@pytest.fixture
def shop(merchant, allow):
    merchant.payout_address = allow(merchant, ADDRESSES[0])
    return merchant


@pytest.fixture
def schedule_for(usdt):
    """schedule_for(user, destination: AllowedAddress, **fields) -> PayoutSchedule."""
    from settlement.payouts.models import PayoutSchedule

    def _make(user, destination, **fields):
        fields.setdefault("interval", "daily")
        return PayoutSchedule.objects.create(
            user=user, token=fields.pop("token", usdt), destination=destination, **fields
        )

    return _make
