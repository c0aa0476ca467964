"""Vouchers near a committee change settle in their own epoch (docs/epochs, "no overlap"):
once the next epoch is announced, a voucher's window ends at the latest at the next
epoch's activates_at minus the grace period, so every spend synced in time is certified
before the old committee stops voting; too close to the change, registration is refused.
Real authority nodes; the schedule as the platform's gateway gives it."""

import time

import pytest

from fastpay_protocol.offline_api import PlatformError
from offline.models import Voucher

pytestmark = pytest.mark.usefixtures("allow_all_risk")

UNIT = 1_000_000


@pytest.fixture
def announced(committee, committee_client, monkeypatch):
    """announced(in_s) -> the platform's gateway with epoch committee.epoch + 1 announced
    to activate in ``in_s`` seconds (the current epoch stays active until then)."""
    from authorities import gateway as gateway_module
    from fastpay_protocol import handoff
    from fastpay_protocol.messages import Committee
    from offline import committee as offline_committee
    from tests.offline.conftest import PLATFORM_KEY

    def use(in_s):
        following = Committee.from_json({**committee.to_json(), "epoch": committee.epoch + 1})
        schedule = handoff.Schedule(
            [
                handoff.EpochInfo(committee.epoch, committee, 0),
                handoff.EpochInfo(following.epoch, following, int(time.time()) + in_s),
            ]
        )
        gateway = gateway_module.Gateway(platform_key=PLATFORM_KEY, timeout_s=5, schedule=schedule)
        for target in (gateway_module, offline_committee):
            monkeypatch.setattr(target, "gateway", lambda: gateway)
        for name in ("offline.services.vouchers", "offline.services.transfers"):
            monkeypatch.setattr(f"{name}.gateway", lambda: gateway)
        monkeypatch.setattr(
            offline_committee,
            "client",
            lambda epoch=None: committee_client if epoch in (None, committee.epoch) else None,
        )
        assert gateway.committee.epoch == committee.epoch  # still the active one
        return schedule

    return use


def test_a_voucher_issued_after_the_announcement_ends_before_the_change_minus_grace(
    announced, alice, payer_wallet, committee_client, api_platform, usdt, settings
):
    schedule = announced(settings.FASTPAY_OFFLINE_GRACE_S + 600)
    wallet = payer_wallet(alice)

    voucher = wallet.issue(
        committee_client,
        api_platform(alice),
        token=usdt.contract_address,
        amount=UNIT,
        validity_s=3600,
    )

    closes_at = schedule.closes_at(voucher.body.epoch)
    assert voucher.body.not_after == closes_at - settings.FASTPAY_OFFLINE_GRACE_S
    stored = Voucher.objects.get(address=voucher.address)
    assert int(stored.not_after.timestamp()) == voucher.body.not_after
    assert voucher.body.not_after < time.time() + 3600  # capped, not the 1 h asked for


def test_a_voucher_too_close_to_the_change_is_refused_and_swept_back(
    announced, alice, payer_wallet, committee_client, api_platform, usdt, settings
):
    announced(settings.FASTPAY_OFFLINE_GRACE_S + 30)
    wallet = payer_wallet(alice)

    with pytest.raises(PlatformError) as refused:
        wallet.issue(
            committee_client,
            api_platform(alice),
            token=usdt.contract_address,
            amount=UNIT,
            validity_s=3600,
        )

    assert (refused.value.code, refused.value.status) == ("epoch_ending", 409)
    assert not Voucher.objects.exists()
    (row,) = wallet.vouchers()
    assert row.state == "refused"
    assert committee_client.account_state(row.address).balance(usdt.contract_address) == 0


def test_without_an_announced_successor_the_validity_asked_for_stands(
    alice, payer_wallet, committee_client, api_platform, usdt, platform_gateway
):
    wallet = payer_wallet(alice)
    before = int(time.time())

    voucher = wallet.issue(
        committee_client,
        api_platform(alice),
        token=usdt.contract_address,
        amount=UNIT,
        validity_s=3600,
    )

    assert before + 3600 <= voucher.body.not_after <= int(time.time()) + 3600
