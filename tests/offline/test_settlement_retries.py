"""PENDING redemptions the committee could not settle: retried with exponential backoff and
jitter (attempts, next_attempt_at, last_error), stopped with a visible reason when a retry
cannot help, and retried at once by an admin. A fake committee stands in for the nodes
(tests/offline/test_settlement_outage.py does it with real node processes)."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from fastpay.models import OutboxEvent
from fastpay_protocol.committee_errors import AuthorityFailure, NoQuorum
from fastpay_protocol.messages import Certificate
from offline import committee as offline_committee
from offline.models import Redemption, RedemptionState, Voucher, VoucherState
from offline.services.settlement import (
    SETTLEMENT_FAILED,
    redemptions_retry_now,
    redemptions_settle,
    retry_delay_s,
)
from offline.tasks import redemptions_settle_task

UNIT = 1_000_000
SIGNATURE = "0x" + "11" * 64 + "1b"


class Committee:
    """certify_batch answers with ``failures`` (authority -> AuthorityFailure) while set,
    else certifies; confirm_batch always applies."""

    def __init__(self):
        self.failures = None
        self.certified = 0

    def certify_batch(self, signed):
        if self.failures is not None:
            return [NoQuorum("no quorum", failures=self.failures) for _ in signed]
        self.certified += len(signed)
        return [Certificate(s.order, s.signature, ()) for s in signed]

    def confirm_batch(self, certificates, wait_all=False):
        return [object() for _ in certificates]


def down(*names):
    return {name: AuthorityFailure(name, "unreachable", "connection refused") for name in names}


def refused(code, *names):
    return {name: AuthorityFailure(name, "refused", "", code, 400) for name in names}


@pytest.fixture
def committee(monkeypatch):
    fake = Committee()
    monkeypatch.setattr(offline_committee, "client", lambda epoch=None: fake)
    return fake


@pytest.fixture
def pending(alice, bob, usdt):
    """make(n) -> n PENDING redemptions of n vouchers of alice's, for vendor bob."""

    def make(n=1):
        now = timezone.now()
        rows = []
        for i in range(n):
            address = "0x" + uuid.uuid4().hex[:8] + "0" * 32
            voucher = Voucher.objects.create(
                user=alice,
                address=address,
                payer="0x" + "a" * 40,
                token=usdt,
                amount=5 * UNIT,
                sequence=Voucher.objects.count() + i,
                epoch=1,
                certificate={},
                not_before=now - timedelta(minutes=1),
                not_after=now + timedelta(hours=1),
                ticket="0x",
            )
            rows.append(
                Redemption.objects.create(
                    spend_id=uuid.uuid4().hex,
                    vendor=bob,
                    voucher=voucher,
                    voucher_address=address,
                    recipient="0x" + "c" * 40,
                    amount=UNIT,
                    epoch=1,
                    signature=SIGNATURE,
                    payment="FP",
                    state=RedemptionState.PENDING,
                )
            )
        return rows

    return make


@pytest.fixture
def retry_settings(settings):
    settings.FASTPAY_OFFLINE_SETTLE_RETRY_BASE_S = 30
    settings.FASTPAY_OFFLINE_SETTLE_RETRY_MAX_S = 3600
    settings.FASTPAY_OFFLINE_SETTLE_MAX_ATTEMPTS = 5
    return settings


def test_the_backoff_doubles_with_jitter_up_to_the_maximum(retry_settings):
    for attempts, full in [(1, 30), (2, 60), (3, 120), (7, 1920), (8, 3600), (40, 3600)]:
        delays = [retry_delay_s(attempts) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays), attempts
        assert max(delays) - min(delays) > full / 10  # jittered, not one fixed instant


def test_a_failed_attempt_is_recorded_and_not_retried_before_it_is_due(
    pending, committee, retry_settings
):
    # given the committee is down
    (row,) = pending()
    committee.failures = down("0xa", "0xb")

    # when settlement runs
    before = timezone.now()
    assert redemptions_settle() == {"settled": 0, "flagged": 0, "retry": 1}

    # then the redemption waits, saying why, until its next attempt is due
    row.refresh_from_db()
    assert (row.state, row.attempts) == (RedemptionState.PENDING, 1)
    assert "no quorum" in row.last_error and "connection refused" in row.last_error
    wait = (row.next_attempt_at - before).total_seconds()
    assert 15 <= wait <= 31
    committee.failures = None
    assert redemptions_settle() == {"settled": 0, "flagged": 0, "retry": 0}
    assert committee.certified == 0

    # and once due, the next run settles it
    Redemption.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    assert redemptions_settle()["settled"] == 1
    row.refresh_from_db()
    assert row.state == RedemptionState.SETTLED
    assert row.voucher.state == VoucherState.REDEEMED


def test_each_failure_pushes_the_next_attempt_further(pending, committee, retry_settings):
    (row,) = pending()
    committee.failures = down("0xa", "0xb")
    waits = []
    for _ in range(3):
        Redemption.objects.filter(pk=row.pk).update(next_attempt_at=None)
        start = timezone.now()
        redemptions_settle()
        row.refresh_from_db()
        waits.append((row.next_attempt_at - start).total_seconds())
    assert row.attempts == 3
    assert 15 <= waits[0] <= 31 and 30 <= waits[1] <= 61 and 60 <= waits[2] <= 121


def test_the_beat_task_stops_when_nothing_is_due(pending, committee, retry_settings):
    pending(3)
    committee.failures = down("0xa", "0xb")
    # one pass over the three, then none is due: the task returns instead of looping
    assert redemptions_settle_task.apply().get() == {"settled": 0, "flagged": 0, "retry": 3}


def test_a_refusal_no_retry_can_change_flags_it_with_the_reason(pending, committee, retry_settings):
    (row,) = pending()
    committee.failures = refused("invalid_signature", "0xa", "0xb", "0xc", "0xd")

    assert redemptions_settle() == {"settled": 0, "flagged": 1, "retry": 0}

    row.refresh_from_db()
    assert (row.state, row.reason) == (RedemptionState.FLAGGED, SETTLEMENT_FAILED)
    assert "invalid_signature" in row.detail and row.next_attempt_at is None
    event = OutboxEvent.objects.get(topic="offline.redemption_flagged")
    assert event.payload["reason"] == SETTLEMENT_FAILED
    # the voucher is not spent: an admin decides (release retries, reject frees it)
    assert Voucher.objects.get(pk=row.voucher_id).state == VoucherState.ACTIVE


def test_a_refusal_while_others_are_down_is_retried(pending, committee, retry_settings):
    # a node that is down may still certify once back: not a reason to give up
    (row,) = pending()
    committee.failures = {**refused("invalid_signature", "0xa", "0xb"), **down("0xc", "0xd")}
    assert redemptions_settle()["retry"] == 1
    row.refresh_from_db()
    assert row.state == RedemptionState.PENDING


def test_it_gives_up_after_the_last_attempt_with_the_last_error(pending, committee, retry_settings):
    (row,) = pending()
    committee.failures = down("0xa", "0xb")
    for _ in range(4):
        Redemption.objects.filter(pk=row.pk).update(next_attempt_at=None)
        assert redemptions_settle()["retry"] == 1
    Redemption.objects.filter(pk=row.pk).update(next_attempt_at=None)

    assert redemptions_settle() == {"settled": 0, "flagged": 1, "retry": 0}

    row.refresh_from_db()
    assert (row.state, row.reason, row.attempts) == (
        RedemptionState.FLAGGED,
        SETTLEMENT_FAILED,
        5,
    )
    assert row.detail.startswith("gave up after 5 attempts: no quorum")
    assert row.last_error == row.detail


def test_retry_now_makes_pending_ones_due_and_revives_given_up_ones(
    pending, committee, retry_settings, django_capture_on_commit_callbacks
):
    # given one redemption waiting out its backoff, one settlement gave up on, one settled
    waiting, given_up, settled = pending(3)
    later = timezone.now() + timedelta(hours=1)
    Redemption.objects.filter(pk=waiting.pk).update(attempts=3, next_attempt_at=later)
    Redemption.objects.filter(pk=given_up.pk).update(
        state=RedemptionState.FLAGGED, reason=SETTLEMENT_FAILED, attempts=5
    )
    Redemption.objects.filter(pk=settled.pk).update(
        state=RedemptionState.SETTLED, certificate={"x": 1}
    )

    # when an admin retries all three with the committee back
    with django_capture_on_commit_callbacks(execute=True):
        count = redemptions_retry_now(ids=[waiting.pk, given_up.pk, settled.pk])

    # then the two settle at once (the eager task after commit), the settled one is as it was
    assert count == 2
    states = dict(Redemption.objects.values_list("pk", "state"))
    assert states == {pk: RedemptionState.SETTLED for pk in (waiting.pk, given_up.pk, settled.pk)}
    assert Redemption.objects.get(pk=settled.pk).certificate == {"x": 1}
    assert committee.certified == 2
    assert OutboxEvent.objects.filter(topic="offline.redemption_released").count() == 1


def test_retry_now_of_nothing_retriable_queues_nothing(
    pending, committee, django_capture_on_commit_callbacks
):
    (row,) = pending()
    Redemption.objects.filter(pk=row.pk).update(state=RedemptionState.REJECTED, reason="admin")
    with django_capture_on_commit_callbacks() as callbacks:
        assert redemptions_retry_now(ids=[row.pk]) == 0
    assert callbacks == []


def test_the_admin_action_retries_settlement_now(
    pending, committee, retry_settings, client, operator, django_capture_on_commit_callbacks
):
    (row,) = pending()
    Redemption.objects.filter(pk=row.pk).update(
        attempts=2, next_attempt_at=timezone.now() + timedelta(hours=1), last_error="no quorum"
    )
    client.force_login(operator)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/offline/redemption/",
            {"action": "retry_settlement", "_selected_action": [str(row.pk)]},
            follow=True,
        )

    assert response.status_code == 200
    # (the test's transaction defers the settlement to the end of the request; without
    # one it runs when the service's transaction commits, before the count)
    (message,) = [str(m) for m in response.context["messages"]]
    assert message.startswith("Settlement retried for 1 of 1 redemption(s);")
    row.refresh_from_db()
    assert row.state == RedemptionState.SETTLED
