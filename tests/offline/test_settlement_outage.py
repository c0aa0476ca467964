"""A committee outage with real authority node processes: redemptions synced while no
quorum answers stay PENDING, saying why; once the nodes are back they settle by themselves
(the beat task, run as the embedded scheduler runs it) or at the vendor's next sync, and
the ledger stays clean."""

import time

import pytest
from django.utils import timezone

from fastpay.beat import EmbeddedBeat
from offline.models import Redemption, RedemptionState, VoucherState
from wallets.services.checks import ledger_check_run

pytestmark = pytest.mark.usefixtures("platform_gateway", "allow_all_risk")

TOKEN_UNITS = 1_000_000


@pytest.fixture
def outage(nodes):
    """outage() stops two of the four nodes (no quorum: more than 2/3 of the stake is
    needed); restore() starts them again on their own databases. Restored at the end
    whatever happens: the other tests share the nodes."""
    down = nodes[2:]

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
def quick_retries(settings):
    settings.FASTPAY_OFFLINE_SETTLE_RETRY_BASE_S = 1
    settings.FASTPAY_OFFLINE_SETTLE_RETRY_MAX_S = 2


def paid_offline(wallet, terminal, committee, committee_client, platform, token, n):
    for _ in range(n):
        wallet.issue(committee_client, platform, token=token, amount=TOKEN_UNITS, validity_s=3600)
        payment = wallet.pay(committee, vendor=terminal.vendor, amount=TOKEN_UNITS)
        assert terminal.accept(payment.to_text()).state == "queued"


def wait_until_due(redemptions):
    latest = max(r.next_attempt_at for r in redemptions)
    time.sleep(max(0.0, (latest - timezone.now()).total_seconds()) + 0.05)


def test_pending_redemptions_settle_after_an_outage_with_no_operator_action(
    alice,
    payer_wallet,
    vendor_factory,
    api_platform,
    committee,
    committee_client,
    usdt,
    outage,
    quick_retries,
    settings,
    tmp_path,
):
    wallet = payer_wallet(alice)
    vendor, terminal = vendor_factory()
    token = usdt.contract_address
    paid_offline(wallet, terminal, committee, committee_client, api_platform(alice), token, 2)

    # given two of the four nodes are down when the vendor syncs
    outage.begin()
    assert terminal.sync(api_platform(vendor)) == {"pending": 2}

    # then the redemptions wait, with the reason visible, and a next attempt planned
    rows = list(Redemption.objects.filter(vendor=vendor))
    assert [(r.state, r.attempts) for r in rows] == [(RedemptionState.PENDING, 1)] * 2
    assert all("no quorum" in r.last_error for r in rows)
    listed = api_platform(vendor).client.get("/api/v1/offline/redemptions/?state=pending").json()
    # the vendor sees why too
    assert {r["id"]: r["detail"] for r in listed["results"]} == {
        str(r.pk): r.last_error for r in rows
    }
    assert all(r.next_attempt_at > r.updated_at for r in rows)

    # when the nodes come back and the beat's settlement entry runs (no sync, no admin)
    outage.end()
    wait_until_due(rows)
    beat = EmbeddedBeat(
        {"offline-settle": settings.CELERY_BEAT_SCHEDULE["offline-settle"]}, state_dir=tmp_path
    )
    beat.tick()
    beat.release()

    # then both settled and the vendor holds the money at the committee
    rows = list(Redemption.objects.filter(vendor=vendor).select_related("voucher"))
    assert [r.state for r in rows] == [RedemptionState.SETTLED] * 2
    assert all(r.voucher.state == VoucherState.REDEEMED for r in rows)
    assert committee_client.account_state(terminal.vendor).balance(token) == 2 * TOKEN_UNITS
    assert terminal.sync(api_platform(vendor)) == {"settled": 2}
    assert ledger_check_run(record=False).drift_count == 0


def test_a_vendor_sync_after_the_outage_settles_without_waiting_for_the_backoff(
    alice,
    payer_wallet,
    vendor_factory,
    api_platform,
    committee,
    committee_client,
    usdt,
    outage,
    settings,
):
    settings.FASTPAY_OFFLINE_SETTLE_RETRY_BASE_S = 3600  # the beat would wait an hour
    wallet = payer_wallet(alice)
    vendor, terminal = vendor_factory()
    token = usdt.contract_address
    paid_offline(wallet, terminal, committee, committee_client, api_platform(alice), token, 1)

    outage.begin()
    assert terminal.sync(api_platform(vendor)) == {"pending": 1}
    assert terminal.sync(api_platform(vendor)) == {"pending": 1}  # still down: tried again
    row = Redemption.objects.get(vendor=vendor)
    assert (row.state, row.attempts) == (RedemptionState.PENDING, 2)

    outage.end()
    # the sync answers with the state it found (pending) and settles after commit
    assert terminal.sync(api_platform(vendor)) == {"pending": 1}
    assert terminal.sync(api_platform(vendor)) == {"settled": 1}
    assert committee_client.account_state(terminal.vendor).balance(token) == TOKEN_UNITS
    assert ledger_check_run(record=False).drift_count == 0
