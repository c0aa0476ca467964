"""The platform never blames a payer for its own delay (issue 11, section 4): a vendor
synced a spend in time, the committee was down until after the voucher's deadline
(``not_after`` + grace), and the payer swept the voucher after it, as the rules allow. The
vendor is covered; the payer is not flagged or suspended. A payer who takes a voucher back
before its deadline still is. Real authority node processes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from fastpay.models import OutboxEvent
from offline.models import OfflineLimit, Redemption, RedemptionState, Voucher
from wallets.models import Claim

pytestmark = pytest.mark.usefixtures("platform_gateway", "allow_all_risk")

UNIT = 1_000_000


@pytest.fixture
def outage(nodes):
    """begin() stops every node (the platform's settlement gets no vote at all: a node
    that voted for the spend would keep the payer's sweep from a quorum); end() starts
    them again. Ended whatever happens: the other tests share the nodes."""
    down = nodes

    class Outage:
        def begin(self):
            for node in down:
                node.stop()

        def end(self):
            for node in down:
                if node.proc is None:
                    node.start(wait=False)
            for node in down:
                node.wait_ready()

    outage = Outage()
    yield outage
    outage.end()


@pytest.fixture
def synced_during_an_outage(
    alice, payer_wallet, vendor_factory, api_platform, committee, committee_client, usdt, outage
):
    """The payer pays a vendor offline with a voucher it had exported (its wallet does not
    know it was spent); the vendor syncs in time while no quorum answers: PENDING."""
    wallet = payer_wallet(alice)
    vendor, terminal = vendor_factory()
    voucher = wallet.issue(
        committee_client,
        api_platform(alice),
        token=usdt.contract_address,
        amount=5 * UNIT,
        validity_s=3600,
    )
    payment = voucher.pay(committee.hasher, vendor=terminal.vendor, amount=2 * UNIT)
    terminal.accept(payment.to_text())
    outage.begin()
    assert terminal.sync(api_platform(vendor)) == {"pending": 1}
    redemption = Redemption.objects.get(voucher__address=voucher.address)
    assert redemption.last_error  # no quorum
    return wallet, vendor, terminal, voucher


def _past_the_deadline(voucher, settings):
    """The platform's clock moves past the voucher's deadline (its window in the database
    is moved back as far: what settlement reads)."""
    not_after = timezone.now() - timedelta(seconds=settings.FASTPAY_OFFLINE_GRACE_S + 10)
    Voucher.objects.filter(address=voucher.address).update(
        not_before=not_after - timedelta(hours=1), not_after=not_after
    )


def _not_blamed(user):
    from fraud.models import DoubleSpendEvidence, RiskProfile

    limit = OfflineLimit.objects.filter(user=user).first()
    profile = RiskProfile.objects.filter(user=user).first()
    return (
        (limit is None or limit.suspended_at is None)
        and (profile is None or profile.double_spend_flagged_at is None)
        and not DoubleSpendEvidence.objects.filter(payer=user).exists()
    )


def test_a_sweep_after_the_deadline_while_settlement_waited_is_covered_without_blame(
    synced_during_an_outage, alice, api_platform, committee_client, usdt, outage, settings
):
    from wallets.services.checks import ledger_check_run
    from wallets.services.ledger import user_account

    wallet, vendor, terminal, voucher = synced_during_an_outage
    _past_the_deadline(voucher, settings)
    outage.end()
    # the payer's wallet sweeps after not_after + grace + margin (platform time)
    after = wallet.sweep_after(voucher.body.not_after) + 1
    swept = wallet.sweep(committee_client, now=after)
    assert [(s.outcome, s.amount) for s in swept] == [("swept", 5 * UNIT)]

    # the vendor's next sync retries at once: the voucher is gone, the platform covers it
    assert terminal.sync(api_platform(vendor)) == {"pending": 1}  # settles after commit
    assert terminal.sync(api_platform(vendor)) == {"settled": 1}

    redemption = Redemption.objects.get(voucher__address=voucher.address)
    assert (redemption.state, redemption.reason) == (RedemptionState.SETTLED, "covered")
    assert user_account(vendor, usdt).balance == 2 * UNIT
    assert _not_blamed(alice)
    late = OutboxEvent.objects.get(topic="offline.settled_late")
    assert late.payload["payer_id"] == alice.pk
    assert not OutboxEvent.objects.filter(topic="offline.payer_suspended").exists()
    # the payer has the voucher's money back and the vendor's goods: the claim is repaid
    # from the voucher's collateral (not a blame: no flag, the payer may issue again)
    claim = Claim.objects.get(reference=f"redemption:{redemption.pk}")
    assert (claim.amount, claim.outstanding) == (2 * UNIT, 0)
    assert ledger_check_run(record=False).drift_count == 0
    again = wallet.issue(
        committee_client,
        api_platform(alice),
        token=usdt.contract_address,
        amount=UNIT,
        validity_s=3600,
    )
    assert Voucher.objects.filter(address=again.address).exists()


def test_a_reclaim_before_the_deadline_is_still_the_payers_fraud(
    synced_during_an_outage, alice, api_platform, committee_client, outage
):
    from fraud.models import DoubleSpendEvidence

    wallet, vendor, terminal, voucher = synced_during_an_outage
    outage.end()
    # inside the grace period: only a cheating device sweeps now
    assert [s.outcome for s in wallet.sweep(committee_client)] == ["too_early"]
    assert [s.outcome for s in wallet.sweep(committee_client, force=True)] == ["swept"]

    assert terminal.sync(api_platform(vendor)) == {"pending": 1}  # settles after commit
    assert terminal.sync(api_platform(vendor)) == {"settled": 1}

    redemption = Redemption.objects.get(voucher__address=voucher.address)
    assert (redemption.state, redemption.reason) == (RedemptionState.SETTLED, "covered")
    assert OfflineLimit.objects.get(user=alice).suspended_at is not None
    assert DoubleSpendEvidence.objects.filter(payer=alice, voucher=voucher.address).exists()
    assert not OutboxEvent.objects.filter(topic="offline.settled_late").exists()
