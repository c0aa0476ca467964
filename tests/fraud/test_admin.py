"""The back office: queue, review page, decisions through the admin, dashboard, thresholds."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from fraud.models import AuditAction, AuditLog, Review, ReviewState, RuleConfig
from tests.wallets.factories import UserFactory
from wallets.models import AccountKind, PaymentState
from wallets.services.ledger import user_account
from wallets.services.payments import PaymentItem, payment_create

USDT = 10**6
QUEUE = "/admin/fraud/review/"


@pytest.fixture
def flagged(alice, usdt, fund, rule):
    """flagged(payee, whole) -> an open Review of alice paying `payee` (large amount)."""
    rule("large_amount", review_at_tokens=100)
    rule("new_payee", enabled=False)
    fund(alice, usdt, 10_000)

    def _make(payee, whole):
        UserFactory(username=payee)
        payment = payment_create(
            payer=alice, item=PaymentItem(payee=payee, token=usdt, amount=whole * USDT)
        )
        return payment.review

    return _make


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def queue_ids(response) -> list[str]:
    return re.findall(r"/admin/fraud/review/(\d+)/change/", response.content.decode())


class TestQueue:
    def test_it_lists_open_reviews_riskiest_then_oldest_first(self, flagged, reviewer, rule):
        older = flagged("p1", 150)
        newer = flagged("p2", 160)
        rule("new_payee", enabled=True)
        riskier = flagged("p3", 600)  # large amount + new payee: higher score
        Review.objects.filter(pk=older.pk).update(opened_at=timezone.now() - timedelta(hours=2))

        response = logged_in(reviewer).get(QUEUE)

        assert response.status_code == 200
        assert queue_ids(response) == [str(riskier.pk), str(older.pk), str(newer.pk)]

    def test_closed_reviews_leave_the_default_view(self, flagged, reviewer):
        review = flagged("p1", 150)
        Review.objects.filter(pk=review.pk).update(
            state=ReviewState.CLOSED, outcome="rejected", closed_at=timezone.now()
        )

        assert queue_ids(logged_in(reviewer).get(QUEUE)) == []
        assert queue_ids(logged_in(reviewer).get(QUEUE + "?state=closed")) == [str(review.pk)]

    def test_a_payment_decided_in_the_payments_admin_leaves_the_queue(self, flagged, reviewer):
        from wallets.services.payments import payment_approve

        review = flagged("p1", 150)
        payment_approve(payment_id=review.payment_id, by=reviewer, note="elsewhere")

        assert queue_ids(logged_in(reviewer).get(QUEUE)) == []
        assert queue_ids(logged_in(reviewer).get(QUEUE + "?state=closed")) == [str(review.pk)]

    def test_filters_by_rule_amount_band_token_and_age(self, flagged, reviewer, rule, usdt):
        small = flagged("p1", 150)
        rule("new_payee", enabled=True)
        large = flagged("p2", 1_500)
        client = logged_in(reviewer)

        assert queue_ids(client.get(QUEUE + "?rule=new_payee")) == [str(large.pk)]
        assert queue_ids(client.get(QUEUE + "?amount=100-1k")) == [str(small.pk)]
        assert queue_ids(client.get(QUEUE + "?amount=1k-10k")) == [str(large.pk)]
        assert len(queue_ids(client.get(QUEUE + f"?payment__token__id__exact={usdt.pk}"))) == 2
        assert len(queue_ids(client.get(QUEUE + "?age=< 1 h"))) == 2
        assert queue_ids(client.get(QUEUE + "?age=> 24 h")) == []

    def test_search_by_payment_id_or_username(self, flagged, reviewer):
        one = flagged("carol", 150)
        two = flagged("dave", 150)
        client = logged_in(reviewer)

        assert queue_ids(client.get(QUEUE, {"q": str(two.payment_id)})) == [str(two.pk)]
        assert queue_ids(client.get(QUEUE, {"q": "caro"})) == [str(one.pk)]
        assert len(queue_ids(client.get(QUEUE, {"q": "alice"}))) == 2

    def test_a_non_reviewer_cannot_see_the_queue_or_a_review(self, flagged, operator):
        review = flagged("p1", 150)
        client = logged_in(operator)

        assert client.get(QUEUE).status_code == 403
        assert client.get(f"{QUEUE}{review.pk}/change/").status_code == 403
        assert "fraud/review" not in client.get("/admin/").content.decode()


class TestReviewPage:
    def test_it_shows_the_payment_reasons_history_and_balances(self, flagged, reviewer):
        flagged("p1", 120)
        review = flagged("p2", 150)

        page = logged_in(reviewer).get(f"{QUEUE}{review.pk}/change/").content.decode()

        assert "150.000000 USDT" in page
        assert "150 USDT at or above the 100 USDT review threshold" in page
        assert "120.000000 USDT" in page  # the earlier payment, in the payer's history
        assert "9730.000000 USDT" in page  # available: 10,000 - 120 - 150
        assert "270.000000 USDT" in page  # held

    def test_approving_through_the_page_pays_the_payee(self, flagged, reviewer, alice, usdt):
        review = flagged("p1", 150)

        response = logged_in(reviewer).post(
            f"{QUEUE}{review.pk}/change/", {"verdict": "approve", "note": "fine"}
        )

        assert response.status_code == 302
        review.refresh_from_db()
        assert review.payment.state == PaymentState.SUCCESS
        assert user_account(review.payment.payee, usdt).balance == 150 * USDT
        assert user_account(alice, usdt, AccountKind.HELD).balance == 0

    def test_a_missing_note_is_refused_with_a_message(self, flagged, reviewer, usdt, alice):
        review = flagged("p1", 150)
        client = logged_in(reviewer)

        response = client.post(f"{QUEUE}{review.pk}/change/", {"verdict": "reject", "note": ""})

        assert response.status_code == 302
        assert "needs a note" in client.get(response.url).content.decode()
        review.refresh_from_db()
        assert review.state == ReviewState.OPEN
        assert user_account(alice, usdt, AccountKind.HELD).balance == 150 * USDT

    def test_a_non_reviewer_cannot_decide_through_the_page(self, flagged, operator, alice, usdt):
        review = flagged("p1", 150)

        response = logged_in(operator).post(
            f"{QUEUE}{review.pk}/change/", {"verdict": "approve", "note": "sneaky"}
        )

        assert response.status_code == 403
        review.refresh_from_db()
        assert review.state == ReviewState.OPEN


def test_the_dashboard_draws_its_charts(flagged, reviewer):
    review = flagged("p1", 150)
    client = logged_in(reviewer)
    client.post(f"{QUEUE}{review.pk}/change/", {"verdict": "approve", "note": "ok"})
    flagged("p2", 150)

    page = client.get(reverse("admin:fraud_dashboard")).content.decode()

    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" role="img"') == 4
    assert "Rule hits per day" in page
    assert "false-positive rate (approved / decided):\n    <strong>100.0%</strong>" in page
    assert "Open reviews: <strong>1</strong>" in page


class TestThresholdsInAdmin:
    def test_a_change_is_validated_applied_and_audited(self, admin_user):
        config = RuleConfig.objects.get(rule="geofence")
        url = f"/admin/fraud/ruleconfig/{config.pk}/change/"
        client = logged_in(admin_user)

        response = client.post(
            url,
            {
                "enabled": "on",
                "params": '{"max_km": 15, "last_location_max_age_hours": 6, "score": 50}',
                "note": "tighter downtown",
            },
        )

        assert response.status_code == 302
        config.refresh_from_db()
        assert config.params["max_km"] == 15
        entry = AuditLog.objects.get(action=AuditAction.RULE_CHANGED)
        assert (entry.before["params"]["max_km"], entry.after["params"]["max_km"]) == (20, 15)
        assert entry.note == "tighter downtown"
        assert entry.actor == admin_user

    def test_an_invalid_threshold_is_refused(self, admin_user):
        config = RuleConfig.objects.get(rule="geofence")
        url = f"/admin/fraud/ruleconfig/{config.pk}/change/"

        response = logged_in(admin_user).post(
            url, {"enabled": "on", "params": '{"max_km": 2.5, "radius": 3}'}
        )

        assert response.status_code == 200  # the form again, with the error
        assert "unknown key(s) radius" in response.content.decode()
        config.refresh_from_db()
        assert config.params["max_km"] == 20
        assert not AuditLog.objects.exists()

    def test_a_reviewer_can_read_but_not_change_thresholds(self, reviewer):
        config = RuleConfig.objects.get(rule="geofence")
        client = logged_in(reviewer)

        assert client.get(f"/admin/fraud/ruleconfig/{config.pk}/change/").status_code == 200
        client.post(f"/admin/fraud/ruleconfig/{config.pk}/change/", {"params": '{"max_km": 99}'})
        config.refresh_from_db()
        assert config.params["max_km"] == 20

    def test_the_audit_log_is_read_only_in_admin(self, admin_user):
        client = logged_in(admin_user)

        assert client.get("/admin/fraud/auditlog/").status_code == 200
        assert client.get("/admin/fraud/auditlog/add/").status_code == 403
