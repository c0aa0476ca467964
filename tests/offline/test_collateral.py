"""Covers must be recoverable (issue 11, section 4): while a voucher is outstanding, a share
of its value (by the payer's verification tier) of the payer's online money is held as
collateral; a cover of the voucher is recovered from it first, so a payer who pays offline,
takes the voucher back before the vendor syncs and moves the rest of the online money away
still repays the platform. Real authority nodes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from fastpay.models import OutboxEvent
from fastpay_protocol.offline_api import PlatformError
from offline.models import Redemption, RedemptionState, Voucher
from offline.services.vouchers import collateral_drift, vouchers_collateral_release
from wallets.models import AccountKind, Claim, JournalEntry

pytestmark = pytest.mark.usefixtures("platform_gateway", "allow_all_risk")

UNIT = 1_000_000


def _balances(user, token):
    from wallets.services.ledger import user_account

    return (
        user_account(user, token).balance,
        user_account(user, token, AccountKind.COLLATERAL).balance,
    )


def _issue(wallet, committee_client, platform, token, amount=5 * UNIT, validity_s=3600):
    return wallet.issue(
        committee_client,
        platform,
        token=token.contract_address,
        amount=amount,
        validity_s=validity_s,
    )


def _ledger_clean():
    from wallets.services.checks import ledger_check_run

    run = ledger_check_run(record=False)
    assert run.drift_count == 0, run.details
    assert collateral_drift() == []


def test_a_voucher_holds_its_value_of_the_payers_online_balance(
    alice, payer_wallet, committee_client, api_platform, usdt, client_for
):
    wallet = payer_wallet(alice, online=8)

    voucher = _issue(wallet, committee_client, api_platform(alice), usdt)

    stored = Voucher.objects.get(address=voucher.address)
    assert (stored.collateral, stored.collateral_held) == (5 * UNIT, 5 * UNIT)
    assert _balances(alice, usdt) == (3 * UNIT, 5 * UNIT)
    entry = JournalEntry.objects.get(kind="offline_hold")
    assert entry.reference == f"voucher:{stored.pk}"
    event = OutboxEvent.objects.get(topic="offline.voucher_issued")
    assert event.payload["collateral_units"] == 5 * UNIT
    listed = client_for(alice).get("/api/v1/offline/vouchers/").json()["results"][0]
    assert (listed["collateral_units"], listed["collateral_held_units"]) == (5 * UNIT, 5 * UNIT)
    _ledger_clean()


def test_a_voucher_whose_collateral_is_not_covered_is_refused_and_swept_back(
    alice, payer_wallet, committee_client, api_platform, usdt
):
    wallet = payer_wallet(alice, online=8)
    _issue(wallet, committee_client, api_platform(alice), usdt)

    with pytest.raises(PlatformError) as refused:
        _issue(wallet, committee_client, api_platform(alice), usdt, amount=4 * UNIT)

    assert (refused.value.code, refused.value.status) == ("collateral_insufficient", 402)
    assert "collateral" in refused.value.message
    assert Voucher.objects.count() == 1
    assert _balances(alice, usdt) == (3 * UNIT, 5 * UNIT)
    # no terminal can accept it without a ticket: the wallet took its money back at once
    assert [v.state for v in wallet.vouchers()] == ["active", "refused"]
    refused_address = wallet.vouchers()[1].address
    assert committee_client.account_state(refused_address).balance(usdt.contract_address) == 0
    _ledger_clean()


def test_a_fully_verified_payer_holds_the_tiers_share(
    alice, payer_wallet, committee_client, api_platform, usdt
):
    from fraud.models import RiskProfile, VerificationTier

    RiskProfile.objects.create(user=alice, verification_tier=VerificationTier.FULL)
    wallet = payer_wallet(alice, online=10)

    voucher = _issue(wallet, committee_client, api_platform(alice), usdt, amount=5 * UNIT + 1)

    # 50% at tier 2 (offline.conf.COLLATERAL_PCT_BY_TIER), rounded up
    assert Voucher.objects.get(address=voucher.address).collateral == 2_500_001
    assert _balances(alice, usdt) == (10 * UNIT - 2_500_001, 2_500_001)


def test_pay_reclaim_early_and_empty_the_online_balance_the_claim_is_still_recovered(
    alice, payer_wallet, vendor_factory, committee, committee_client, api_platform, usdt
):
    """The attack: pay offline, take the voucher back at the authorities before the
    vendor syncs, move every movable unit of online money away. The vendor is paid by the
    platform and the platform's claim is recovered in full from the collateral."""
    from wallets.errors import InsufficientFunds
    from wallets.services.adjustments import ledger_adjust

    wallet = payer_wallet(alice, online=5)
    vendor, terminal = vendor_factory()
    voucher = _issue(wallet, committee_client, api_platform(alice), usdt)
    terminal.accept(wallet.pay(committee, vendor=terminal.vendor, amount=4 * UNIT).to_text())
    # the payer's device goes to the authorities first
    reclaimed = wallet.sweep(committee_client, grace_s=0, force=True)
    assert [(r.outcome, r.amount) for r in reclaimed] == [("swept", 5 * UNIT)]
    # ... and the online money goes too: nothing is left to move, the collateral cannot be
    assert _balances(alice, usdt) == (0, 5 * UNIT)
    with pytest.raises(InsufficientFunds):
        ledger_adjust(
            user=alice,
            token=usdt,
            amount=-UNIT,
            reason="withdrawal",
            operator=None,
            idempotency_key="withdraw-1",
        )

    assert terminal.sync(api_platform(vendor)) == {"pending": 1}
    assert terminal.sync(api_platform(vendor)) == {"settled": 1}

    redemption = Redemption.objects.get(voucher__address=voucher.address)
    assert (redemption.state, redemption.reason) == (RedemptionState.SETTLED, "covered")
    assert _balances(vendor, usdt) == (4 * UNIT, 0)
    claim = Claim.objects.get(reference=f"redemption:{redemption.pk}")
    assert (claim.amount, claim.recovered, claim.outstanding) == (4 * UNIT, 4 * UNIT, 0)
    assert Voucher.objects.get(pk=redemption.voucher_id).collateral_held == UNIT
    assert _balances(alice, usdt) == (0, UNIT)
    recovered = OutboxEvent.objects.get(topic="claim.recovered")
    assert recovered.payload["source"] == "collateral"
    _ledger_clean()

    # the voucher closes after window + grace + margin: what the cover left goes back
    later = timezone.now() + timedelta(days=30)
    assert vouchers_collateral_release(now=later) == 1
    assert _balances(alice, usdt) == (UNIT, 0)
    assert Voucher.objects.get(pk=redemption.voucher_id).collateral_released_at is not None
    assert vouchers_collateral_release(now=later) == 0  # once
    _ledger_clean()


def test_collateral_stays_held_while_the_window_is_open_or_a_redemption_is_open(
    alice,
    payer_wallet,
    vendor_factory,
    committee,
    committee_client,
    api_platform,
    usdt,
    settings,
    monkeypatch,
):
    wallet = payer_wallet(alice, online=20)
    vendor, terminal = vendor_factory()
    quiet = _issue(wallet, committee_client, api_platform(alice), usdt, validity_s=60)
    spent = _issue(wallet, committee_client, api_platform(alice), usdt, validity_s=60)
    # the spend waits PENDING (settlement not run yet)
    monkeypatch.setattr("offline.services.redemptions._enqueue_settlement", lambda: None)
    payment = spent.pay(committee.hasher, vendor=terminal.vendor, amount=UNIT)
    terminal.accept(payment.to_text())
    assert terminal.sync(api_platform(vendor)) == {"pending": 1}

    not_after = Voucher.objects.get(address=quiet.address).not_after
    deadline = not_after + timedelta(seconds=settings.FASTPAY_OFFLINE_GRACE_S)
    # within the grace period (and its margin) nothing is released
    assert vouchers_collateral_release(now=deadline + timedelta(seconds=10)) == 0
    assert _balances(alice, usdt) == (10 * UNIT, 10 * UNIT)
    # past it, the unspent one is released, the one with a PENDING redemption is not
    assert vouchers_collateral_release(now=deadline + timedelta(hours=2)) == 1
    assert Voucher.objects.get(address=quiet.address).collateral_held == 0
    assert Voucher.objects.get(address=spent.address).collateral_held == 5 * UNIT
    assert _balances(alice, usdt) == (15 * UNIT, 5 * UNIT)
    # settled by the committee: nothing left to cover, released at the next run
    Redemption.objects.filter(voucher__address=spent.address).update(
        state=RedemptionState.REJECTED, reason="admin"
    )
    assert vouchers_collateral_release(now=deadline + timedelta(hours=2)) == 1
    assert _balances(alice, usdt) == (20 * UNIT, 0)
    _ledger_clean()


def test_released_collateral_repays_open_claims_first(
    alice, payer_wallet, committee_client, api_platform, usdt, bob
):
    from django.db import transaction

    from wallets.services.claims import Cover, covers_post

    wallet = payer_wallet(alice, online=5)
    voucher = _issue(wallet, committee_client, api_platform(alice), usdt)
    with transaction.atomic():  # an older claim, from another voucher, unrecovered
        covers_post([Cover(debtor=alice, payee=bob, token=usdt, amount=2 * UNIT, reference="x:1")])
    assert Claim.objects.get().outstanding == 2 * UNIT

    later = Voucher.objects.get(address=voucher.address).not_after + timedelta(days=30)
    assert vouchers_collateral_release(now=later) == 1

    assert Claim.objects.get().outstanding == 0
    assert _balances(alice, usdt) == (3 * UNIT, 0)
    event = OutboxEvent.objects.get(topic="offline.collateral_released")
    assert event.payload["claims_recovered_units"] == 2 * UNIT
    _ledger_clean()
