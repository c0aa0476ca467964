"""POST /api/v1/offline/redemptions/sync/: the platform re-checks every payment (it trusts
no terminal) and answers a stable reason; batches, roles, the fraud hook, the admin."""

import os
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from fastpay_protocol import signing
from offline.models import Redemption, RedemptionState, Voucher

pytestmark = pytest.mark.usefixtures("platform_gateway")
UNIT = 1_000_000


@pytest.fixture
def voucher_of(payer_wallet, committee_client, api_platform, usdt):
    wallets = {}

    def make(user, amount=5 * UNIT):
        wallet = wallets.get(user.pk) or wallets.setdefault(user.pk, payer_wallet(user))
        voucher = wallet.issue(
            committee_client,
            api_platform(user),
            token=usdt.contract_address,
            amount=amount,
            validity_s=3600,
        )
        return wallet, voucher

    return make


def sync(client_for, vendor, texts):
    return client_for(vendor).post(
        "/api/v1/offline/redemptions/sync/",
        {"items": [{"payment": t} for t in texts]},
        format="json",
    )


@pytest.mark.usefixtures("allow_all_risk")
def test_it_answers_each_item_in_order_with_its_reason(
    alice, vendor_factory, voucher_of, committee, client_for
):
    vendor, terminal = vendor_factory()
    _, other_terminal = vendor_factory()
    _, voucher = voucher_of(alice)
    _, second = voucher_of(alice)
    good = voucher.pay(committee.hasher, vendor=terminal.vendor, amount=UNIT).to_text()
    elsewhere = second.pay(committee.hasher, vendor=other_terminal.vendor, amount=UNIT).to_text()
    response = sync(client_for, vendor, [good, "FP123", good[:-30], elsewhere])
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [(r["state"], r["reason"]) for r in results] == [
        ("pending", ""),
        ("rejected", "truncated"),
        ("rejected", "truncated"),
        ("rejected", "wrong_vendor"),
    ]
    assert Redemption.objects.filter(state=RedemptionState.REJECTED).count() == 3


@pytest.mark.usefixtures("allow_all_risk")
def test_a_copy_uploaded_by_another_vendor_does_not_block_the_payee(
    alice, vendor_factory, voucher_of, committee, client_for
):
    payee, terminal = vendor_factory()
    thief, _ = vendor_factory()
    _, voucher = voucher_of(alice)
    text = voucher.pay(committee.hasher, vendor=terminal.vendor, amount=UNIT).to_text()
    stolen = sync(client_for, thief, [text]).json()["results"][0]
    assert (stolen["state"], stolen["reason"]) == ("rejected", "wrong_vendor")
    assert sync(client_for, payee, [text]).json()["results"][0]["state"] == "pending"


@pytest.mark.usefixtures("allow_all_risk")
def test_it_refuses_a_voucher_the_platform_does_not_know(
    alice, vendor_factory, voucher_of, committee, client_for
):
    vendor, terminal = vendor_factory()
    _, voucher = voucher_of(alice)
    Voucher.objects.filter(address=voucher.address).delete()
    text = voucher.pay(committee.hasher, vendor=terminal.vendor, amount=UNIT).to_text()
    result = sync(client_for, vendor, [text]).json()["results"][0]
    assert (result["state"], result["reason"]) == ("rejected", "unknown_voucher")


@pytest.mark.usefixtures("allow_all_risk")
def test_it_refuses_a_sync_after_the_window_and_grace(
    alice, vendor_factory, voucher_of, committee, client_for, settings, monkeypatch
):
    settings.FASTPAY_OFFLINE_GRACE_S = 60
    vendor, terminal = vendor_factory()
    _, voucher = voucher_of(alice)
    text = voucher.pay(committee.hasher, vendor=terminal.vendor, amount=UNIT).to_text()
    later = timezone.now() + timedelta(seconds=3600 + 61 + 60)
    monkeypatch.setattr("offline.services.redemptions.timezone.now", lambda: later)
    result = sync(client_for, vendor, [text]).json()["results"][0]
    assert (result["state"], result["reason"]) == ("rejected", "synced_too_late")


def test_only_vendors_sync(alice, bob, client_for):
    response = sync(client_for, bob, ["FP00"])
    assert (response.status_code, response.json()["error"]["code"]) == (403, "not_a_vendor")
    assert sync(client_for, None, ["FP00"]).status_code == 401


def test_a_batch_holds_at_most_1000_items(vendor_factory, client_for):
    vendor, _ = vendor_factory()
    response = sync(client_for, vendor, ["FP00"] * 1001)
    assert response.status_code == 400
    assert response.json()["error"]["param"].startswith("items")
    assert sync(client_for, vendor, []).status_code == 400


def test_the_fraud_hook_holds_a_flagged_payers_redemptions(
    alice, vendor_factory, voucher_of, committee, client_for
):
    from fraud.models import RiskProfile

    vendor, terminal = vendor_factory()
    _, voucher = voucher_of(alice)
    RiskProfile.objects.update_or_create(
        user=alice, defaults={"double_spend_flagged_at": timezone.now()}
    )
    text = voucher.pay(committee.hasher, vendor=terminal.vendor, amount=UNIT).to_text()
    result = sync(client_for, vendor, [text]).json()["results"][0]
    assert result["state"] == "flagged"
    assert result["reason"] == "risk_block"


@pytest.mark.usefixtures("allow_all_risk")
def test_admin_lists_and_releases_flagged_redemptions(
    alice,
    vendor_factory,
    voucher_of,
    committee,
    client_for,
    operator,
    django_capture_on_commit_callbacks,
    committee_client,
    usdt,
):
    from django.test import Client

    from offline.services.redemptions import redemption_release

    vendor, terminal = vendor_factory()
    _, voucher = voucher_of(alice)
    text = voucher.pay(committee.hasher, vendor=terminal.vendor, amount=UNIT).to_text()
    Redemption.objects.create(
        spend_id="x" * 64,
        vendor=vendor,
        payment="FP",
        state=RedemptionState.REJECTED,
        reason="malformed",
    )
    redemption = sync(client_for, vendor, [text]).json()["results"][0]
    Redemption.objects.filter(pk=redemption["id"]).update(
        state=RedemptionState.FLAGGED, reason="risk_review"
    )
    web = Client()
    web.force_login(operator)
    for url in [
        "/admin/offline/redemption/?state__exact=flagged",
        "/admin/offline/redemption/?reason=malformed",
        "/admin/offline/voucher/",
        "/admin/offline/doublespend/",
        "/admin/offline/offlinelimit/",
    ]:
        assert web.get(url).status_code == 200, url
    with django_capture_on_commit_callbacks(execute=True):
        redemption_release(redemption=Redemption.objects.get(pk=redemption["id"]))
    assert Redemption.objects.get(pk=redemption["id"]).state == RedemptionState.SETTLED
    assert committee_client.account_state(terminal.vendor).balance(usdt.contract_address) == UNIT


def test_the_vendor_lists_its_redemptions_by_state(vendor_factory, client_for, bob):
    vendor, _ = vendor_factory()
    for i, state in enumerate([RedemptionState.REJECTED, RedemptionState.PENDING]):
        Redemption.objects.create(spend_id=f"{i}" * 64, vendor=vendor, payment="FP", state=state)
    Redemption.objects.create(spend_id="9" * 64, vendor=bob, payment="FP", state="pending")
    listed = client_for(vendor).get("/api/v1/offline/redemptions/?state=pending").json()
    assert [r["state"] for r in listed["results"]] == ["pending"]
    bad = client_for(vendor).get("/api/v1/offline/redemptions/?state=nope")
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "state"
    unknown = client_for(vendor).get("/api/v1/offline/redemptions/?vendor=2")
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "unknown_field"


def test_the_terminal_config_names_the_committee_issuer_and_vendor(vendor_factory, client_for):
    from offline.models import FastPayAccount

    vendor, _ = vendor_factory()
    body = client_for(vendor).get("/api/v1/offline/terminal/").json()
    assert body["vendor"] == FastPayAccount.objects.get(user=vendor).address
    assert body["issuer"] == signing.Signer(b"\x77" * 32).address
    assert len(body["committee"]["members"]) == 4
    assert os.environ is not None
    # what a wallet sweeps by: the grace, the margin and the platform's clock
    assert (body["grace_s"], body["sweep_margin_s"]) == (
        settings.FASTPAY_OFFLINE_GRACE_S,
        settings.FASTPAY_OFFLINE_SWEEP_MARGIN_S,
    )
    assert abs(body["now"] - time.time()) < 60


@pytest.mark.usefixtures("allow_all_risk")
def test_it_refuses_a_registered_voucher_with_a_stretched_window(
    alice, vendor_factory, voucher_of, committee, client_for
):
    from dataclasses import replace

    from fastpay_protocol.voucher import Payment

    vendor, terminal = vendor_factory()
    _, voucher = voucher_of(alice)
    payment = voucher.pay(committee.hasher, vendor=terminal.vendor, amount=UNIT)
    stretched = Payment(
        replace(payment.body, not_after=payment.body.not_after + 10**6),
        payment.vendor,
        payment.amount,
        payment.signature,
    )
    result = sync(client_for, vendor, [stretched.to_text()]).json()["results"][0]
    assert (result["state"], result["reason"]) == ("rejected", "bad_ticket")


def test_the_fraud_hook_sees_a_batchs_earlier_items_and_holds_a_burst(
    alice, bob, vendor_factory, voucher_of, committee, client_for
):
    # given one payer's seven spends and another payer's one in a single upload (the burst
    # rule holds a payer's sixth payment within ten minutes)
    from fraud.models import Assessment

    vendor, terminal = vendor_factory()
    alices = [voucher_of(alice)[1] for _ in range(7)]
    texts = [v.pay(committee.hasher, vendor=terminal.vendor, amount=UNIT).to_text() for v in alices]
    texts.insert(
        3, voucher_of(bob)[1].pay(committee.hasher, vendor=terminal.vendor, amount=UNIT).to_text()
    )

    # when the vendor syncs them
    results = sync(client_for, vendor, texts).json()["results"]

    # then item k counted alice's items before it: her sixth and seventh are held
    assert [(r["state"], r["reason"]) for r in results] == [("pending", "")] * 6 + [
        ("flagged", "risk_review")
    ] * 2
    held = Redemption.objects.get(pk=results[-1]["id"])
    assert "payment 7 within 10 min" in held.detail
    # and every redemption's assessment is stored, once
    stored = Assessment.objects.filter(channel="offline")
    assert sorted(stored.values_list("subject", flat=True)) == sorted(
        f"redemption:{r['id']}" for r in results
    )
    assert set(stored.filter(decision="review").values_list("subject", flat=True)) == {
        f"redemption:{r['id']}" for r in results[-2:]
    }
    # and settlement leaves the held ones FLAGGED
    from offline.services.settlement import redemptions_settle

    assert redemptions_settle()["settled"] == 6
    states = [Redemption.objects.get(pk=r["id"]).state for r in results]
    assert states == [RedemptionState.SETTLED] * 6 + [RedemptionState.FLAGGED] * 2


def test_a_double_spend_in_a_batch_holds_the_payers_later_items(
    alice, vendor_factory, voucher_of, committee, client_for
):
    # given a payer's voucher spent twice in one upload, then another of its vouchers
    vendor, terminal = vendor_factory()
    _, first = voucher_of(alice)
    _, second = voucher_of(alice)
    texts = [
        first.pay(committee.hasher, vendor=terminal.vendor, amount=UNIT).to_text(),
        first.pay(committee.hasher, vendor=terminal.vendor, amount=2 * UNIT).to_text(),
        second.pay(committee.hasher, vendor=terminal.vendor, amount=UNIT).to_text(),
    ]

    results = sync(client_for, vendor, texts).json()["results"]

    # then the spend after the double spend sees the payer's flag: held, blocked
    assert [(r["state"], r["reason"]) for r in results] == [
        ("pending", ""),
        ("settled", "covered"),  # the double spend: the vendor is covered (docs/offline.md)
        ("flagged", "risk_block"),
    ]


@pytest.mark.usefixtures("allow_all_risk")
def test_settlement_pipelines_its_run_in_chunks(
    alice, vendor_factory, voucher_of, committee, client_for, settings, committee_client, usdt
):
    # given five pending spends and chunks of two (certify the next chunk while this one
    # is confirmed and recorded)
    from offline.services.settlement import redemptions_settle

    settings.FASTPAY_OFFLINE_SETTLE_CHUNK = 2
    vendor, terminal = vendor_factory()
    texts = [
        voucher_of(alice)[1].pay(committee.hasher, vendor=terminal.vendor, amount=UNIT).to_text()
        for _ in range(5)
    ]
    results = sync(client_for, vendor, texts).json()["results"]

    # when one settlement run takes them all
    counts = redemptions_settle()

    # then each chunk was certified, confirmed and recorded
    assert counts == {"settled": 5, "flagged": 0, "retry": 0}
    rows = Redemption.objects.filter(pk__in=[r["id"] for r in results])
    assert {r.state for r in rows} == {RedemptionState.SETTLED}
    assert all(r.certificate["order"]["recipient"] == terminal.vendor for r in rows)
    assert committee_client.account_state(terminal.vendor).balance(usdt.contract_address) == (
        5 * UNIT
    )
