"""The back office: actions call services, money stays read-only, groups limit who acts."""

import pytest
from django.test import Client

from tests.wallets.factories import PendingUserFactory
from wallets.models import LedgerAccount, Payment, PaymentState, UserStatus
from wallets.services.payments import PaymentItem, payment_create


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def flagged(alice, bob, usdt, fund, settings):
    settings.FASTPAY_REVIEW_ABOVE_TOKENS = 50
    fund(alice, usdt, 100)
    return payment_create(payer=alice, item=PaymentItem(payee="bob", token=usdt, amount=60_000_000))


def act(client, url, action, pk):
    return client.post(url, {"action": action, "_selected_action": [str(pk)]}, follow=True)


def test_the_payment_admin_cannot_approve_or_reject(flagged, reviewer):
    """Decisions go through the fraud review queue (four eyes, a note): no shortcut here."""
    client = logged_in(reviewer)
    page = client.get("/admin/wallets/payment/").content.decode()
    assert 'value="approve"' not in page and 'value="reject"' not in page

    act(client, "/admin/wallets/payment/", "approve", flagged.pk)

    assert Payment.objects.get(pk=flagged.pk).state == PaymentState.FLAGGED


def test_a_reviewer_may_hold_but_an_operator_may_not(flagged, reviewer, operator):
    assert 'value="hold"' in logged_in(reviewer).get("/admin/wallets/payment/").content.decode()
    assert 'value="hold"' not in logged_in(operator).get("/admin/wallets/payment/").content.decode()


def test_staff_approve_pending_users(operator, db):
    pending = PendingUserFactory(username="newbie")

    act(logged_in(operator), "/admin/wallets/user/", "approve", pending.pk)

    pending.refresh_from_db()
    assert pending.status == UserStatus.APPROVED


def test_ledger_rows_are_read_only(flagged, operator, alice):
    client = logged_in(operator)
    account = LedgerAccount.objects.filter(owner=alice).first()

    page = client.get(f"/admin/wallets/ledgeraccount/{account.pk}/change/")
    assert page.status_code == 200
    assert 'name="balance"' not in page.content.decode()
    client.post(f"/admin/wallets/ledgeraccount/{account.pk}/change/", {"balance": "1"})
    account.refresh_from_db()
    assert account.balance != 1
    assert client.get("/admin/wallets/posting/add/").status_code == 403


def test_the_admin_pages_render(flagged, operator):
    client = logged_in(operator)
    for url in [
        "/admin/",
        "/admin/wallets/payment/",
        "/admin/wallets/journalentry/",
        "/admin/wallets/posting/",
        "/admin/fastpay/outboxevent/",
        f"/admin/wallets/payment/{flagged.pk}/change/",
        "/admin/wallets/payment/?state__exact=flagged",
    ]:
        assert client.get(url).status_code == 200, url
