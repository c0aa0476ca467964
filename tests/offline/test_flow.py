"""The whole offline flow with real authority processes: a payer issues a voucher through
the API, pays a vendor offline (every socket blocked), the vendor's terminal syncs, the
platform settles through the committee, the payer sweeps the rest."""

import socket

import pytest

from fastpay.models import OutboxEvent
from fastpay_protocol.offline_api import PlatformError
from offline.models import OfflineLimit, Redemption, RedemptionState, Voucher, VoucherState

pytestmark = pytest.mark.usefixtures("platform_gateway", "allow_all_risk")

TOKEN_UNITS = 1_000_000


def _refuse(*args, **kwargs):
    raise OSError("network blocked by the test")


@pytest.fixture
def offline(monkeypatch):
    """A context in which every socket connection fails (the terminal's verification must
    not need one)."""

    def block():
        context = monkeypatch.context()
        patch = context.__enter__()
        patch.setattr(socket.socket, "connect", _refuse)
        patch.setattr(socket.socket, "connect_ex", _refuse)
        patch.setattr(socket, "create_connection", _refuse)
        return context

    return block


@pytest.fixture
def usdt_address(usdt):
    return usdt.contract_address


def issue(wallet, committee_client, platform, token, amount=5 * TOKEN_UNITS, validity_s=3600):
    return wallet.issue(
        committee_client, platform, token=token, amount=amount, validity_s=validity_s
    )


def test_issue_pay_offline_sync_settle_and_sweep(
    alice,
    payer_wallet,
    vendor_factory,
    api_platform,
    committee,
    committee_client,
    usdt_address,
    offline,
):
    wallet = payer_wallet(alice)
    vendor, terminal = vendor_factory()
    voucher = issue(wallet, committee_client, api_platform(alice), usdt_address)
    stored = Voucher.objects.get(address=voucher.address)
    assert (stored.user, stored.amount, stored.state) == (alice, 5 * TOKEN_UNITS, "active")

    blocked = offline()
    payment = wallet.pay(committee, vendor=terminal.vendor, amount=2 * TOKEN_UNITS)
    queued = terminal.accept(payment.to_text())
    blocked.__exit__(None, None, None)
    assert queued.state == "queued"

    # the sync answers at once (PENDING); settlement runs after commit; the next sync
    # shows each payment's fate
    assert terminal.sync(api_platform(vendor)) == {"pending": 1}
    assert terminal.sync(api_platform(vendor)) == {"settled": 1}
    assert terminal.payments()[0].state == "settled"
    redemption = Redemption.objects.get(spend_id=payment.spend_id)
    assert (redemption.vendor, redemption.state, redemption.amount) == (
        vendor,
        RedemptionState.SETTLED,
        2 * TOKEN_UNITS,
    )
    assert redemption.certificate["order"]["recipient"] == terminal.vendor
    assert committee_client.account_state(terminal.vendor).balance(usdt_address) == 2 * TOKEN_UNITS
    assert Voucher.objects.get(pk=stored.pk).state == VoucherState.REDEEMED
    assert OutboxEvent.objects.filter(topic="offline.redemption_settled").count() == 1

    swept = wallet.sweep(committee_client, grace_s=0)
    assert [(s.outcome, s.amount) for s in swept] == [("swept", 3 * TOKEN_UNITS)]
    assert committee_client.account_state(voucher.address).balance(usdt_address) == 0


def test_the_same_spend_synced_twice_pays_once(
    alice, payer_wallet, vendor_factory, api_platform, committee, committee_client, usdt_address
):
    wallet = payer_wallet(alice)
    vendor, terminal = vendor_factory()
    issue(wallet, committee_client, api_platform(alice), usdt_address)
    text = wallet.pay(committee, vendor=terminal.vendor, amount=TOKEN_UNITS).to_text()
    platform = api_platform(vendor)
    first = platform.redemptions_sync([text])["results"][0]
    again = platform.redemptions_sync([text, text])["results"]
    assert first["state"] == "pending"
    assert [(r["id"], r["state"]) for r in again] == [(first["id"], "settled")] * 2
    assert Redemption.objects.count() == 1
    assert committee_client.account_state(terminal.vendor).balance(usdt_address) == TOKEN_UNITS


def test_a_double_spend_to_two_vendors_keeps_evidence_and_flags_the_payer(
    alice, payer_wallet, vendor_factory, api_platform, committee, committee_client, usdt_address
):
    from fraud.models import DoubleSpendEvidence, RiskProfile

    wallet = payer_wallet(alice)
    bob, bob_pos = vendor_factory("bob_shop")
    carol, carol_pos = vendor_factory("carol_shop")
    voucher = issue(wallet, committee_client, api_platform(alice), usdt_address)
    # a cheating device signs sequence 0 twice with the same voucher key
    to_bob = voucher.pay(committee.hasher, vendor=bob_pos.vendor, amount=4 * TOKEN_UNITS)
    to_carol = voucher.pay(committee.hasher, vendor=carol_pos.vendor, amount=5 * TOKEN_UNITS)
    bob_pos.accept(to_bob.to_text())
    carol_pos.accept(to_carol.to_text())  # each terminal alone cannot know

    assert bob_pos.sync(api_platform(bob)) == {"pending": 1}
    # carol is covered by the platform (tests/offline/test_double_spend_cover.py)
    assert carol_pos.sync(api_platform(carol)) == {"settled": 1}
    assert bob_pos.sync(api_platform(bob)) == {"settled": 1}
    assert carol_pos.payments()[0].reason == "covered"

    second = Redemption.objects.get(spend_id=to_carol.spend_id)
    paid = Redemption.objects.get(spend_id=to_bob.spend_id)
    assert (second.state, second.reason, second.conflicting_with) == (
        RedemptionState.SETTLED,
        "covered",
        paid,
    )
    evidence = DoubleSpendEvidence.objects.get(payer=alice, voucher=voucher.address)
    signatures = {evidence.evidence["first"]["signature"], evidence.evidence["second"]["signature"]}
    assert signatures == {"0x" + to_bob.signature.hex(), "0x" + to_carol.signature.hex()}
    assert RiskProfile.objects.get(user=alice).double_spend_flagged_at is not None
    assert OfflineLimit.objects.get(user=alice).suspended_at is not None
    event = OutboxEvent.objects.get(topic="offline.double_spend")
    assert event.payload["vendor_ids"] == sorted([bob.pk, carol.pk])
    assert committee_client.account_state(bob_pos.vendor).balance(usdt_address) == 4 * TOKEN_UNITS
    assert committee_client.account_state(carol_pos.vendor).balance(usdt_address) == 0

    with pytest.raises(PlatformError) as suspended:
        issue(wallet, committee_client, api_platform(alice), usdt_address, amount=TOKEN_UNITS)
    assert suspended.value.code == "offline_suspended"


@pytest.fixture
def reclaimed_early(
    alice, payer_wallet, vendor_factory, api_platform, committee, committee_client, usdt_address
):
    """make() -> (wallet, vendor, terminal, voucher): the payer pays a vendor offline, then
    takes the voucher back at the authorities before the vendor syncs; the vendor's first
    sync leaves it PENDING for settlement."""

    def make(online=100):
        wallet = payer_wallet(alice, online=online)
        vendor, terminal = vendor_factory()
        voucher = issue(wallet, committee_client, api_platform(alice), usdt_address)
        terminal.accept(wallet.pay(committee, vendor=terminal.vendor, amount=TOKEN_UNITS).to_text())
        assert [s.outcome for s in wallet.sweep(committee_client, grace_s=0, force=True)] == [
            "swept"
        ]
        assert terminal.sync(api_platform(vendor)) == {"pending": 1}
        return wallet, vendor, terminal, voucher

    return make


def test_a_voucher_reclaimed_early_is_covered_by_the_platform_and_claimed_from_the_payer(
    alice, reclaimed_early, api_platform, committee_client, usdt_address, usdt, client_for, settings
):
    from fraud.models import DoubleSpendEvidence
    from offline.services.transfers import platform_address
    from wallets.models import Claim
    from wallets.services.checks import ledger_check_run
    from wallets.services.ledger import user_account

    # no collateral (an operator's 0% for the tier) and no online money: the claim waits
    # for the payer's defund (with collateral: tests/offline/test_collateral.py)
    settings.FASTPAY_OFFLINE_COLLATERAL_PCT_BY_TIER = {1: 0}
    wallet, vendor, terminal, voucher = reclaimed_early(online=0)

    assert terminal.sync(api_platform(vendor)) == {"settled": 1}

    redemption = Redemption.objects.get(voucher__address=voucher.address)
    assert (redemption.state, redemption.reason) == (RedemptionState.SETTLED, "covered")
    assert terminal.payments()[0].reason == "covered"
    assert user_account(vendor, usdt).balance == TOKEN_UNITS  # paid online, by the platform
    claim = Claim.objects.get(reference=f"redemption:{redemption.pk}")
    assert (claim.user, claim.amount, claim.recovered) == (alice, TOKEN_UNITS, 0)  # no funds
    assert ledger_check_run(record=False).drift_count == 0
    # the payer brings the reclaimed money online: the claim is repaid from it first
    defund = committee_client.certify(
        committee_client.sign_order(
            wallet.signer,
            recipient=platform_address(),
            token=usdt_address,
            amount=3 * TOKEN_UNITS,
            sequence=committee_client.next_sequence(wallet.address),
        )
    )
    response = client_for(alice).post(
        "/api/v1/offline/defund/", {"certificate": defund.to_json()}, format="json"
    )
    assert response.status_code == 201, response.json()
    claim.refresh_from_db()
    assert claim.outstanding == 0
    assert user_account(alice, usdt).balance == 2 * TOKEN_UNITS
    assert ledger_check_run(record=False).drift_count == 0
    topics = set(OutboxEvent.objects.values_list("topic", flat=True))
    assert {"offline.redemption_flagged", "offline.redemption_settled", "claim.opened"} <= topics
    # the payer's reclaim, signed by the voucher key, is the evidence
    evidence = DoubleSpendEvidence.objects.get(payer=alice, voucher=voucher.address).evidence
    reclaim = evidence["second"]["certificate"]["order"]
    assert (reclaim["recipient"], reclaim["sequence"]) == (wallet.address, 0)
    assert OfflineLimit.objects.get(user=alice).suspended_at is not None


def test_a_large_taken_voucher_waits_for_an_admin_to_cover_it(
    reclaimed_early, api_platform, usdt, settings, operator
):
    from django.test import Client

    from offline.errors import WrongState
    from offline.services.cover import redemption_cover
    from wallets.models import Claim
    from wallets.services.ledger import user_account

    settings.FASTPAY_OFFLINE_AUTO_COVER_MAX_UNITS = TOKEN_UNITS - 1
    _, vendor, terminal, voucher = reclaimed_early()

    assert terminal.sync(api_platform(vendor)) == {"flagged": 1}
    redemption = Redemption.objects.get(voucher__address=voucher.address)
    assert (redemption.state, redemption.reason) == (RedemptionState.FLAGGED, "voucher_taken")
    assert not Claim.objects.exists()

    web = Client()
    web.force_login(operator)
    response = web.post(
        "/admin/offline/redemption/", {"action": "cover", "_selected_action": [redemption.pk]}
    )
    assert response.status_code == 302
    with pytest.raises(WrongState):
        redemption_cover(redemption=redemption)
    for url in ["/admin/wallets/claim/?open=yes", "/admin/wallets/claim/?open=no"]:
        assert web.get(url).status_code == 200, url

    assert terminal.sync(api_platform(vendor)) == {"settled": 1}
    assert user_account(vendor, usdt).balance == TOKEN_UNITS
    assert Claim.objects.get().amount == TOKEN_UNITS
