"""Invoices: the balance path end to end over the API, the additional statuses and their
policies through the one booking function every path uses, expiry, cancel, bad input, and
the ledger invariant (the INVOICE account equals what invoices hold) after each."""

from datetime import timedelta

import pytest
from django.utils import timezone

from merchants.invoices import services
from merchants.models import Invoice, InvoicePolicy, InvoiceReceipt, ReceiptMethod
from tests.wallets.factories import UserFactory
from wallets.models import (
    AccountKind,
    EntryKind,
    JournalEntry,
    LedgerAccount,
    MerchantFee,
    UserRole,
)
from wallets.services.checks import ledger_check_run
from wallets.services.ledger import system_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(db):
    return UserFactory(username="shop", role=UserRole.MERCHANT)


@pytest.fixture
def partner(db):
    return UserFactory(username="partner")


def _available(user, token) -> int:
    account = LedgerAccount.objects.filter(owner=user, token=token, kind=AccountKind.AVAILABLE)
    return account.first().balance if account.exists() else 0


def _fees(token) -> int:
    return system_account(token, AccountKind.FEES).balance


def _clean():
    assert ledger_check_run(record=False).details == []


def _create(client, body, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post("/api/v1/invoices/", body, format="json", **headers)


def test_balance_path_settles_with_fee_and_split(client_for, shop, partner, alice, usdt, fund):
    fund(alice, usdt, 100)
    MerchantFee.objects.create(merchant=shop, token=usdt, bps=100, fixed=10_000, minimum=0)
    body = {
        "token": "USDT",
        "amount": "25.00",
        "order_id": "A-1",
        "splits": [{"payee": "partner", "bps": 2500}],
    }
    created = _create(client_for(shop), body, key="inv-1")
    assert created.status_code == 201, created.json()
    invoice = created.json()
    assert invoice["status"] == "new" and invoice["amount_units"] == 25_000_000
    assert _create(client_for(shop), body, key="inv-1").json()["id"] == invoice["id"]

    paid = client_for(alice).post(f"/api/v1/invoices/{invoice['id']}/pay/")
    assert paid.status_code == 200, paid.json()
    assert paid.json()["status"] == "settled"
    fee = 250_000 + 10_000  # 1% + 0.01
    net = 25_000_000 - fee
    assert paid.json()["fee_units"] == fee
    assert _available(alice, usdt) == 75_000_000
    assert _available(partner, usdt) == net // 4  # 2,500 bps of the net, exact here
    assert _available(shop, usdt) == net - net // 4
    assert _fees(usdt) == fee
    settle = JournalEntry.objects.get(kind=EntryKind.INVOICE_SETTLE, reference=invoice["id"])
    assert sorted(p.amount for p in settle.postings.all()) == sorted(
        [-25_000_000, fee, net // 4, net - net // 4]
    )
    # paid twice (another customer): refused, nothing moved
    fund(partner, usdt, 30)
    again = client_for(partner).post(f"/api/v1/invoices/{invoice['id']}/pay/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invoice_paid"
    _clean()


def test_pay_replay_with_key_moves_money_once(client_for, shop, alice, usdt, fund):
    fund(alice, usdt, 10)
    invoice = _create(client_for(shop), {"token": "USDT", "amount": "4"}).json()
    for _ in range(2):
        response = client_for(alice).post(
            f"/api/v1/invoices/{invoice['id']}/pay/", HTTP_IDEMPOTENCY_KEY="pay-1"
        )
        assert response.status_code == 200
    assert _available(alice, usdt) == 6_000_000
    assert InvoiceReceipt.objects.filter(invoice_id=invoice["id"]).count() == 1


def test_expired_invoice_refuses_payment(client_for, shop, alice, usdt, fund):
    fund(alice, usdt, 10)
    invoice = _create(client_for(shop), {"token": "USDT", "amount": "4"}).json()
    Invoice.objects.filter(pk=invoice["id"]).update(expires_at=timezone.now())
    response = client_for(alice).post(f"/api/v1/invoices/{invoice['id']}/pay/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "invoice_expired"
    assert services.invoices_expire() == 1
    assert Invoice.objects.get(pk=invoice["id"]).status == "expired"
    assert _available(alice, usdt) == 10_000_000


def test_insufficient_funds_and_other_tenants(client_for, shop, alice, bob, usdt, fund):
    fund(alice, usdt, 1)
    invoice = _create(client_for(shop), {"token": "USDT", "amount": "4"}).json()
    short = client_for(alice).post(f"/api/v1/invoices/{invoice['id']}/pay/")
    assert short.status_code == 402 or short.json()["error"]["code"] == "insufficient_funds"
    # a stranger cannot read or cancel it
    assert client_for(bob).get(f"/api/v1/invoices/{invoice['id']}/").status_code == 404
    cancel = client_for(bob).post(f"/api/v1/invoices/{invoice['id']}/cancel/")
    assert cancel.status_code == 404
    # a customer cannot issue invoices
    assert _create(client_for(alice), {"token": "USDT", "amount": "1"}).status_code == 403


def test_cancel_new_invoice_then_no_payment(client_for, shop, alice, usdt, fund):
    fund(alice, usdt, 10)
    invoice = _create(client_for(shop), {"token": "USDT", "amount": "4"}).json()
    cancelled = client_for(shop).post(f"/api/v1/invoices/{invoice['id']}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "invalid"
    pay = client_for(alice).post(f"/api/v1/invoices/{invoice['id']}/pay/")
    assert pay.status_code == 409 and pay.json()["error"]["code"] == "invoice_invalid"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"token": "USDT", "amount": "4", "currency": "XYZ"}, "quote"),
        ({"token": "USDT", "amount": 4}, "amount"),
        ({"token": "USDT", "amount": "0"}, "amount"),
        ({"token": "USDT", "amount": "1", "splits": [{"payee": "partner", "bps": 10001}]}, None),
        ({"token": "USDT", "amount": "1", "splits": [{"payee": "nobody", "bps": 100}]}, None),
        ({"token": "USDT", "amount": "1", "splits": [{"payee": "partner", "amount": "2"}]}, None),
        ({"token": "USDT", "amount": "1", "expiry_seconds": 5}, "expiry_seconds"),
        ({"token": "USDT", "amount": "1", "unknown": 1}, "unknown"),
    ],
)
def test_bad_input_is_a_clear_4xx(client_for, shop, partner, usdt, body, param):
    response = _create(client_for(shop), body)
    assert 400 <= response.status_code < 500, response.content
    error = response.json()["error"]
    assert error["code"]
    if param:
        assert param in (error["param"] or "")
    assert not Invoice.objects.exists()


def test_fee_larger_than_amount_refused(client_for, shop, usdt):
    MerchantFee.objects.create(merchant=shop, token=usdt, bps=0, fixed=2_000_000)
    response = _create(client_for(shop), {"token": "USDT", "amount": "1"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "fee_exceeds_amount"


# ---------------------------------------------------------------- statuses and policies


def _invoice(shop, usdt, *, amount=10_000_000, customer=None, **policy):
    if policy:
        InvoicePolicy.objects.update_or_create(merchant=shop, defaults=policy)
    draft = services.InvoiceDraft(token=usdt, amount=amount)
    invoice, _ = services.invoice_create(merchant=shop, draft=draft)
    if customer is not None:
        Invoice.objects.filter(pk=invoice.pk).update(customer=customer)
    return invoice


def _chain_pays(invoice, units, n=0):
    """Money from an unknown on-chain sender, booked like the watcher does (CUSTODY)."""
    return services.invoice_receive(
        invoice_id=invoice.pk,
        method=ReceiptMethod.CHAIN,
        reference=f"deposit:test:{invoice.pk}:{n}",
        units=units,
        source=system_account(invoice.token, AccountKind.CUSTODY),
    )


def test_partial_then_rest_settles(shop, usdt):
    invoice = _invoice(shop, usdt)
    _chain_pays(invoice, 4_000_000)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.exception) == ("new", "paid_partial")
    _chain_pays(invoice, 6_000_000, 1)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.exception) == ("settled", "")
    assert _available(shop, usdt) == 10_000_000
    _clean()


def test_partial_within_tolerance_accepted(shop, usdt):
    invoice = _invoice(shop, usdt, partial="accept", partial_tolerance_bps=100)
    _chain_pays(invoice, 9_950_000)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.exception) == ("settled", "paid_partial")
    assert invoice.settled_amount == 9_950_000 == _available(shop, usdt)
    _clean()


def test_partial_expired_is_credited_to_the_customer(shop, alice, usdt):
    invoice = _invoice(shop, usdt, customer=alice, partial="credit")
    _chain_pays(invoice, 3_000_000)
    Invoice.objects.filter(pk=invoice.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.invoices_expire() == 1
    invoice.refresh_from_db()
    assert (invoice.status, invoice.exception) == ("expired", "paid_partial")
    assert invoice.returned == 3_000_000 == _available(alice, usdt)
    assert _available(shop, usdt) == 0
    _clean()


def test_partial_expired_unknown_sender_is_refund_due(shop, usdt):
    invoice = _invoice(shop, usdt, partial="refund")
    _chain_pays(invoice, 3_000_000)
    Invoice.objects.filter(pk=invoice.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    services.invoices_expire()
    invoice.refresh_from_db()
    assert invoice.refund_due == 3_000_000 == _available(shop, usdt)
    _clean()


def test_overpaid_excess_credited_beyond_tolerance(shop, alice, usdt, fund):
    invoice = _invoice(shop, usdt, customer=alice, over="accept", over_tolerance_bps=50)
    _chain_pays(invoice, 10_040_000)  # 40 bps over: within the tolerance, kept
    invoice.refresh_from_db()
    assert (invoice.status, invoice.exception, invoice.settled_amount) == (
        "settled",
        "paid_over",
        10_040_000,
    )
    second = _invoice(shop, usdt, customer=alice, over="accept", over_tolerance_bps=50)
    _chain_pays(second, 12_000_000)  # beyond: the excess goes to the customer
    second.refresh_from_db()
    assert second.settled_amount == 10_000_000 and second.returned == 2_000_000
    assert _available(alice, usdt) == 2_000_000
    _clean()


def test_paid_twice_on_chain_is_returned(shop, alice, usdt):
    invoice = _invoice(shop, usdt, customer=alice)
    _chain_pays(invoice, 10_000_000)
    _chain_pays(invoice, 10_000_000, 1)
    invoice.refresh_from_db()
    assert invoice.status == "settled" and invoice.returned == 10_000_000
    assert _available(alice, usdt) == 10_000_000 and _available(shop, usdt) == 10_000_000
    _clean()


@pytest.mark.parametrize(("late", "settles"), [("accept", True), ("credit", False)])
def test_late_payment_by_policy(shop, alice, usdt, late, settles):
    invoice = _invoice(shop, usdt, customer=alice, late=late)
    Invoice.objects.filter(pk=invoice.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    services.invoices_expire()
    _chain_pays(invoice, 10_000_000)
    invoice.refresh_from_db()
    assert invoice.exception == "paid_late"
    assert (invoice.status == "settled") is settles
    assert _available(shop, usdt) == (10_000_000 if settles else 0)
    assert _available(alice, usdt) == (0 if settles else 10_000_000)
    _clean()


def test_pending_makes_processing_and_reorg_takes_it_back(shop, usdt):
    invoice = _invoice(shop, usdt)
    services.invoice_pending_add(invoice_id=invoice.pk, units=10_000_000)
    invoice.refresh_from_db()
    assert invoice.status == "processing"
    services.invoice_pending_add(invoice_id=invoice.pk, units=-10_000_000)
    invoice.refresh_from_db()
    assert invoice.status == "new"


def test_same_receipt_reference_books_once(shop, usdt):
    invoice = _invoice(shop, usdt)
    _chain_pays(invoice, 4_000_000)
    _chain_pays(invoice, 4_000_000)
    invoice.refresh_from_db()
    assert invoice.received == 4_000_000
    _clean()


def test_admin_shows_an_invoice_read_only(client, shop, usdt):
    from django.contrib.auth import get_user_model

    invoice = _invoice(shop, usdt)
    _chain_pays(invoice, 4_000_000)
    admin_user = get_user_model().objects.create_superuser("root", "root@example.test", "pw")
    client.force_login(admin_user)
    listing = client.get("/admin/merchants/invoice/")
    assert listing.status_code == 200 and str(invoice.pk) in listing.content.decode()
    page = client.get(f"/admin/merchants/invoice/{invoice.pk}/change/")
    assert page.status_code == 200 and "deposit:test:" in page.content.decode()
    assert client.get("/admin/merchants/invoice/add/").status_code == 403
