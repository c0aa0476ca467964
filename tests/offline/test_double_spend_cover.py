"""The vendor is always paid: a payer spends one voucher at two terminals offline; both
vendors accepted it in good faith, so the first is paid by the committee and the second by
the platform (RECEIVABLE -> vendor), with a claim on the payer. Real authority nodes."""

import pytest

from fastpay.models import OutboxEvent
from offline.errors import WrongState
from offline.models import OfflineLimit, Redemption, RedemptionState, Voucher

pytestmark = pytest.mark.usefixtures("platform_gateway", "allow_all_risk")

TOKEN_UNITS = 1_000_000


@pytest.fixture
def spent_twice(
    alice, payer_wallet, vendor_factory, api_platform, committee, committee_client, usdt
):
    """A cheating device signs sequence 0 of one voucher twice: 4 tokens to bob's terminal,
    5 to carol's; each terminal accepts (alone, it cannot know). Bob syncs first."""
    wallet = payer_wallet(alice)
    bob, bob_pos = vendor_factory("bob_shop")
    carol, carol_pos = vendor_factory("carol_shop")
    voucher = wallet.issue(
        committee_client,
        api_platform(alice),
        token=usdt.contract_address,
        amount=5 * TOKEN_UNITS,
        validity_s=3600,
    )
    to_bob = voucher.pay(committee.hasher, vendor=bob_pos.vendor, amount=4 * TOKEN_UNITS)
    to_carol = voucher.pay(committee.hasher, vendor=carol_pos.vendor, amount=5 * TOKEN_UNITS)
    assert bob_pos.accept(to_bob.to_text()).state == "queued"
    assert carol_pos.accept(to_carol.to_text()).state == "queued"
    assert bob_pos.sync(api_platform(bob)) == {"pending": 1}
    return {
        "voucher": voucher,
        "bob": (bob, bob_pos, to_bob),
        "carol": (carol, carol_pos, to_carol),
    }


def test_two_terminals_one_voucher_both_vendors_paid_one_claim_ledger_clean(
    spent_twice, alice, api_platform, committee_client, usdt
):
    from fraud.models import DoubleSpendEvidence
    from wallets.models import Claim
    from wallets.services.checks import ledger_check_run
    from wallets.services.ledger import user_account

    bob, bob_pos, to_bob = spent_twice["bob"]
    carol, carol_pos, to_carol = spent_twice["carol"]

    assert carol_pos.sync(api_platform(carol)) == {"settled": 1}
    assert bob_pos.sync(api_platform(bob)) == {"settled": 1}

    # bob: paid by the committee, from the voucher
    assert committee_client.account_state(bob_pos.vendor).balance(usdt.contract_address) == (
        4 * TOKEN_UNITS
    )
    # carol: paid online by the platform, and her terminal says so
    covered = Redemption.objects.get(spend_id=to_carol.spend_id)
    assert (covered.state, covered.reason, covered.conflicting_with.spend_id) == (
        RedemptionState.SETTLED,
        "covered",
        to_bob.spend_id,
    )
    assert (carol_pos.payments()[0].state, carol_pos.payments()[0].reason) == (
        "settled",
        "covered",
    )
    assert "spent this voucher twice" in covered.detail
    assert user_account(carol, usdt).balance == 5 * TOKEN_UNITS
    # one claim on the payer, recovered at once from the voucher's collateral
    claim = Claim.objects.get()
    assert (claim.user, claim.reference, claim.amount, claim.outstanding) == (
        alice,
        f"redemption:{covered.pk}",
        5 * TOKEN_UNITS,
        0,
    )
    assert user_account(alice, usdt, "collateral").balance == 0
    assert Voucher.objects.get(address=spent_twice["voucher"].address).collateral_held == 0
    assert ledger_check_run(record=False).drift_count == 0
    # the evidence is kept and the payer flagged and suspended, as before
    evidence = DoubleSpendEvidence.objects.get(payer=alice).evidence
    assert {evidence["first"]["signature"], evidence["second"]["signature"]} == {
        "0x" + to_bob.signature.hex(),
        "0x" + to_carol.signature.hex(),
    }
    assert OfflineLimit.objects.get(user=alice).suspended_at is not None
    topics = list(
        OutboxEvent.objects.filter(aggregate_id=str(covered.pk)).values_list("topic", flat=True)
    )
    assert "offline.redemption_settled" in topics
    assert OutboxEvent.objects.filter(topic="claim.opened").count() == 1


def test_a_resync_of_the_covered_spend_covers_it_once(spent_twice, api_platform, usdt):
    from wallets.models import Claim, JournalEntry
    from wallets.services.checks import ledger_check_run
    from wallets.services.ledger import user_account

    carol, _, to_carol = spent_twice["carol"]
    platform = api_platform(carol)
    first = platform.redemptions_sync([to_carol.to_text()])["results"][0]
    again = platform.redemptions_sync([to_carol.to_text(), to_carol.to_text()])["results"]

    assert (first["state"], first["reason"]) == ("settled", "covered")
    assert [(r["id"], r["state"], r["reason"]) for r in again] == [
        (first["id"], "settled", "covered")
    ] * 2
    assert Claim.objects.count() == 1
    assert JournalEntry.objects.filter(reference=f"redemption:{first['id']}").count() == 1
    assert user_account(carol, usdt).balance == 5 * TOKEN_UNITS
    assert ledger_check_run(record=False).drift_count == 0


@pytest.fixture
def half_collateral(settings):
    """Vouchers of tier-1 payers hold 40% of their value (set before they are issued)."""
    settings.FASTPAY_OFFLINE_COLLATERAL_PCT_BY_TIER = {1: 40}


def test_what_the_collateral_does_not_cover_is_recovered_from_the_online_balance_at_once(
    half_collateral, spent_twice, alice, api_platform, usdt
):
    from wallets.models import Claim
    from wallets.services.checks import ledger_check_run
    from wallets.services.ledger import user_account

    carol, carol_pos, _ = spent_twice["carol"]
    assert user_account(alice, usdt, "collateral").balance == 2 * TOKEN_UNITS  # 40% of 5

    assert carol_pos.sync(api_platform(carol)) == {"settled": 1}

    claim = Claim.objects.get()
    assert (claim.recovered, claim.outstanding) == (5 * TOKEN_UNITS, 0)
    # 2 from the collateral, 3 from the 98 left online
    assert user_account(alice, usdt, "collateral").balance == 0
    assert user_account(alice, usdt).balance == 95 * TOKEN_UNITS
    assert user_account(carol, usdt).balance == 5 * TOKEN_UNITS
    assert ledger_check_run(record=False).drift_count == 0


def test_above_the_auto_cover_limit_it_waits_for_an_admin(
    spent_twice, api_platform, usdt, settings, operator
):
    from django.test import Client

    from offline.services.cover import redemption_cover
    from offline.services.redemptions import redemption_release
    from wallets.models import Claim
    from wallets.services.ledger import user_account

    settings.FASTPAY_OFFLINE_AUTO_COVER_MAX_UNITS = 5 * TOKEN_UNITS - 1
    carol, carol_pos, to_carol = spent_twice["carol"]

    assert carol_pos.sync(api_platform(carol)) == {"flagged": 1}
    held = Redemption.objects.get(spend_id=to_carol.spend_id)
    assert (held.state, held.reason) == (RedemptionState.FLAGGED, "double_spend")
    assert not Claim.objects.exists()
    assert user_account(carol, usdt).balance == 0
    # the committee can never certify it: releasing it to settlement is refused
    with pytest.raises(WrongState):
        redemption_release(redemption=held)

    web = Client()
    web.force_login(operator)
    response = web.post(
        "/admin/offline/redemption/", {"action": "cover", "_selected_action": [held.pk]}
    )
    assert response.status_code == 302
    with pytest.raises(WrongState):  # covered once
        redemption_cover(redemption=held)

    assert carol_pos.sync(api_platform(carol)) == {"settled": 1}
    assert carol_pos.payments()[0].reason == "covered"
    assert user_account(carol, usdt).balance == 5 * TOKEN_UNITS
    assert Claim.objects.get().reference == f"redemption:{held.pk}"
    # the double spend stays visible to the admins with its evidence
    listed = web.get("/admin/offline/doublespend/")
    assert listed.status_code == 200
    assert str(held.voucher_address) in listed.content.decode()


def test_a_third_spend_of_the_voucher_waits_for_an_admin(
    spent_twice, vendor_factory, api_platform, committee, usdt
):
    from wallets.models import Claim
    from wallets.services.ledger import user_account

    carol, carol_pos, _ = spent_twice["carol"]
    dave, dave_pos = vendor_factory("dave_shop")
    to_dave = spent_twice["voucher"].pay(
        committee.hasher, vendor=dave_pos.vendor, amount=5 * TOKEN_UNITS
    )
    dave_pos.accept(to_dave.to_text())

    assert carol_pos.sync(api_platform(carol)) == {"settled": 1}
    # one automatic cover per voucher: the platform's loss stays within the voucher
    assert dave_pos.sync(api_platform(dave)) == {"flagged": 1}
    held = Redemption.objects.get(spend_id=to_dave.spend_id)
    assert (held.state, held.reason) == (RedemptionState.FLAGGED, "double_spend")
    assert "already covered" in held.detail
    assert user_account(dave, usdt).balance == 0
    assert Claim.objects.count() == 1
