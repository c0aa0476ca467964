"""Approvals: one reviewer above one threshold, four eyes (two distinct staff, never the
requester) above a larger one, approvals for a revision, the time-lock cancellable by
staff, rejections with a note, the fraud assessment; the admin queue."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from fastpay.errors import DomainError
from settlement.models import CancelReason, WithdrawalApproval, WithdrawalState
from settlement.services.paying import reserved_mismatches, withdrawals_due
from settlement.services.reviews import (
    withdrawal_approve,
    withdrawal_cancel_by_staff,
    withdrawal_reject,
)
from settlement.services.withdrawals import withdrawal_revise
from tests.settlement.conftest import TOKENS
from tests.wallets.factories import StaffFactory
from wallets.models import AccountKind, LedgerAccount

pytestmark = pytest.mark.usefixtures("offchain", "policy")


def refused(code, call, **kwargs):
    with pytest.raises(DomainError) as caught:
        call(**kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


@pytest.fixture
def rich(alice, funded):
    return funded(alice, 1_000)


def available(user, usdt):
    return LedgerAccount.objects.get(owner=user, token=usdt, kind=AccountKind.AVAILABLE).balance


def test_one_approval_above_the_first_threshold(rich, request_withdrawal, rev1):
    w = request_withdrawal(rich, 150)
    assert (w.state, w.required_approvals) == (WithdrawalState.AWAITING_APPROVAL, 1)

    w = withdrawal_approve(withdrawal_id=w.pk, staff=rev1, revision=1)

    assert w.state == WithdrawalState.AWAITING_PAYMENT and w.unlock_at is None
    assert list(withdrawals_due()) == [w]


def test_four_eyes_need_two_distinct_reviewers(rich, request_withdrawal, rev1, rev2):
    w = request_withdrawal(rich, 600)
    assert w.required_approvals == 2

    withdrawal_approve(withdrawal_id=w.pk, staff=rev1, revision=1)
    again = refused(
        "already_approved", withdrawal_approve, withdrawal_id=w.pk, staff=rev1, revision=1
    )
    w.refresh_from_db()
    assert w.state == WithdrawalState.AWAITING_APPROVAL and again.status_code == 409

    w = withdrawal_approve(withdrawal_id=w.pk, staff=rev2, revision=1)

    assert w.state == WithdrawalState.AWAITING_PAYMENT
    assert w.approvals.filter(revision=1).count() == 2


def test_the_requester_never_approves(funded, request_withdrawal, rev2):
    staff_requester = funded(StaffFactory(username="rev3", group="reviewer"), 1_000)
    w = request_withdrawal(staff_requester, 150)

    error = refused(
        "approval_forbidden",
        withdrawal_approve,
        withdrawal_id=w.pk,
        staff=staff_requester,
        revision=1,
    )

    assert error.status_code == 403
    assert not WithdrawalApproval.objects.exists()
    # the database says so too
    with pytest.raises(IntegrityError), transaction.atomic():
        WithdrawalApproval.objects.create(
            withdrawal=w, revision=1, staff=staff_requester, requester=staff_requester
        )


def test_the_same_reviewer_twice_is_refused_by_the_database_too(rich, request_withdrawal, rev1):
    w = request_withdrawal(rich, 600)
    withdrawal_approve(withdrawal_id=w.pk, staff=rev1, revision=1)

    with pytest.raises(IntegrityError), transaction.atomic():
        WithdrawalApproval.objects.create(withdrawal=w, revision=1, staff=rev1, requester=rich)


def test_only_reviewers_decide(rich, request_withdrawal, bob, operator):
    w = request_withdrawal(rich, 150)

    refused("approval_forbidden", withdrawal_approve, withdrawal_id=w.pk, staff=bob, revision=1)
    refused(
        "approval_forbidden", withdrawal_approve, withdrawal_id=w.pk, staff=operator, revision=1
    )


def test_a_revision_voids_the_approvals_given(rich, request_withdrawal, rev1, rev2, usdt):
    w = request_withdrawal(rich, 600)
    withdrawal_approve(withdrawal_id=w.pk, staff=rev1, revision=1)

    w = withdrawal_revise(user=rich, withdrawal_id=w.pk, amount_units=550 * TOKENS, revision=1)
    stale = refused(
        "stale_revision", withdrawal_approve, withdrawal_id=w.pk, staff=rev2, revision=1
    )
    w = withdrawal_approve(withdrawal_id=w.pk, staff=rev2, revision=2)

    assert stale.status_code == 409 and stale.param == "revision"
    assert w.revision == 2 and w.state == WithdrawalState.AWAITING_APPROVAL  # rev1's was for r1
    w = withdrawal_approve(withdrawal_id=w.pk, staff=rev1, revision=2)
    assert w.state == WithdrawalState.AWAITING_PAYMENT
    assert available(rich, usdt) == 1_000 * TOKENS - 550_500_000
    assert reserved_mismatches() == []


def test_a_revision_below_the_thresholds_still_waits_for_a_reviewer(rich, request_withdrawal):
    w = request_withdrawal(rich, 150)

    w = withdrawal_revise(user=rich, withdrawal_id=w.pk, amount_units=5 * TOKENS)

    assert (w.state, w.required_approvals, w.revision) == (WithdrawalState.AWAITING_APPROVAL, 1, 2)


def test_an_approved_one_is_not_approved_again(rich, request_withdrawal, rev1, rev2):
    w = request_withdrawal(rich, 150)
    withdrawal_approve(withdrawal_id=w.pk, staff=rev1, revision=1)

    refused("invalid_state", withdrawal_approve, withdrawal_id=w.pk, staff=rev2, revision=1)


def test_the_time_lock_holds_payment_and_staff_may_cancel_during_it(
    rich, request_withdrawal, rev1, rev2, usdt
):
    w = request_withdrawal(rich, 900)
    assert w.timelock_s == 3600
    withdrawal_approve(withdrawal_id=w.pk, staff=rev1, revision=1)
    w = withdrawal_approve(withdrawal_id=w.pk, staff=rev2, revision=1)

    assert w.state == WithdrawalState.AWAITING_PAYMENT
    assert timedelta(minutes=59) < w.unlock_at - timezone.now() <= timedelta(hours=1)
    assert list(withdrawals_due()) == []
    assert list(withdrawals_due(now=w.unlock_at)) == [w]

    refused("note_required", withdrawal_cancel_by_staff, withdrawal_id=w.pk, staff=rev1, note=" ")
    w = withdrawal_cancel_by_staff(withdrawal_id=w.pk, staff=rev1, note="customer called: fraud")

    assert (w.state, w.cancel_reason) == (WithdrawalState.CANCELLED, CancelReason.STAFF)
    assert available(rich, usdt) == 1_000 * TOKENS
    assert reserved_mismatches() == []


def test_a_rejection_needs_a_note_and_returns_the_money(rich, request_withdrawal, rev1, usdt):
    w = request_withdrawal(rich, 150)

    refused("note_required", withdrawal_reject, withdrawal_id=w.pk, staff=rev1, note="")
    w = withdrawal_reject(withdrawal_id=w.pk, staff=rev1, note="destination is a known scam")

    assert (w.state, w.cancel_reason) == (WithdrawalState.CANCELLED, CancelReason.REJECTED)
    assert w.note == "destination is a known scam" and w.closed_by == rev1
    assert available(rich, usdt) == 1_000 * TOKENS
    refused("invalid_state", withdrawal_reject, withdrawal_id=w.pk, staff=rev1, note="again")


def test_a_risk_review_asks_for_a_reviewer_below_the_threshold(rich, request_withdrawal, settings):
    settings.FASTPAY_REVIEW_ABOVE_TOKENS = 50

    w = request_withdrawal(rich, 60)

    assert (w.state, w.required_approvals, w.risk_decision) == ("awaiting_approval", 1, "review")


def test_the_fraud_rules_block_a_double_spender(rich, request_withdrawal, settings, usdt):
    from fraud.models import Assessment, RiskProfile

    settings.FASTPAY_RISK_ASSESSOR = "fraud.hooks.payment_assess"
    RiskProfile.objects.update_or_create(
        user=rich, defaults={"double_spend_flagged_at": timezone.now()}
    )

    error = refused("withdrawal_blocked", request_withdrawal, user=rich, whole=10)

    assert error.status_code == 403
    assert available(rich, usdt) == 1_000 * TOKENS
    assert not Assessment.objects.exists()


def test_the_fraud_rules_assess_and_record_a_withdrawal(rich, request_withdrawal, settings):
    from fraud.models import Assessment

    settings.FASTPAY_RISK_ASSESSOR = "fraud.hooks.payment_assess"

    w = request_withdrawal(rich, 10)

    (assessment,) = Assessment.objects.all()
    assert assessment.subject == f"withdrawal:{w.pk}" and assessment.amount == 10 * TOKENS
    assert not any(r["rule"] == "new_payee" for r in w.risk_reasons)


class TestAdminQueue:
    def test_a_reviewer_approves_the_revision_shown(self, rich, request_withdrawal, rev1, client):
        w = request_withdrawal(rich, 150)
        client.force_login(rev1)
        url = f"/admin/settlement/withdrawal/{w.pk}/change/"

        page = client.get(url)
        listed = client.get("/admin/settlement/withdrawal/")
        answer = client.post(url, {"action": "approve", "revision": "1", "note": "ok"})

        assert page.status_code == 200 and b'id="approve"' in page.content
        assert listed.status_code == 200 and str(w.pk)[:8].encode() in listed.content
        assert answer.status_code == 302
        w.refresh_from_db()
        assert w.state == WithdrawalState.AWAITING_PAYMENT

    def test_a_stale_page_is_refused(self, rich, request_withdrawal, rev1, client):
        w = request_withdrawal(rich, 150)
        withdrawal_revise(user=rich, withdrawal_id=w.pk, amount_units=140 * TOKENS)
        client.force_login(rev1)
        url = f"/admin/settlement/withdrawal/{w.pk}/change/"

        for action in ("approve", "reject", "cancel"):
            client.post(url, {"action": action, "revision": "1", "note": "seen r1"})

        w.refresh_from_db()
        assert (w.state, w.revision) == (WithdrawalState.AWAITING_APPROVAL, 2)
        assert not w.approvals.exists()

    def test_money_fields_are_read_only(self, rich, request_withdrawal, rev1, admin_client):
        w = request_withdrawal(rich, 10)
        page = admin_client.get(f"/admin/settlement/withdrawal/{w.pk}/change/")

        assert page.status_code == 200
        assert b'name="amount_units"' not in page.content
        assert admin_client.get("/admin/settlement/withdrawal/add/").status_code == 403
