"""Real threads against PostgreSQL: customers paying one invoice at the same time, and a
payment racing the merchant's cancel. The invoice row lock decides: exactly one wins,
nobody is charged twice, the INVOICE account equals what invoices hold."""

from functools import partial

import pytest
from django.db import connection

from fastpay.errors import DomainError
from merchants.invoices import services
from merchants.models import Invoice, InvoiceReceipt
from tests.threads import run_threads
from tests.wallets.factories import UserFactory
from wallets.models import AccountKind, LedgerAccount, Token, UserRole
from wallets.services.checks import ledger_check_run

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row-lock concurrency needs PostgreSQL"
    ),
]


def _available(user, token) -> int:
    row = LedgerAccount.objects.filter(owner=user, token=token, kind=AccountKind.AVAILABLE)
    return row.first().balance if row.exists() else 0


def _outcome(call):
    try:
        call()
        return "paid"
    except DomainError as exc:
        return exc.code


def test_customers_paying_one_invoice_at_once_exactly_one_wins(fund):
    usdt = Token.objects.get(symbol="USDT")
    shop = UserFactory(username="shop", role=UserRole.MERCHANT)
    customers = [UserFactory(username=f"c{i}") for i in range(6)]
    for customer in customers:
        fund(customer, usdt, 20)
    invoice, _ = services.invoice_create(
        merchant=shop, draft=services.InvoiceDraft(token=usdt, amount=10_000_000)
    )
    outcomes = run_threads(
        [
            partial(
                _outcome,
                partial(services.invoice_pay_from_balance, invoice_id=invoice.pk, payer=c),
            )
            for c in customers
        ]
    )
    assert sorted(outcomes) == ["invoice_paid"] * 5 + ["paid"]
    assert InvoiceReceipt.objects.filter(invoice=invoice).count() == 1
    assert Invoice.objects.get(pk=invoice.pk).status == "settled"
    assert _available(shop, usdt) == 10_000_000
    assert sum(_available(c, usdt) for c in customers) == 6 * 20_000_000 - 10_000_000
    assert ledger_check_run(record=False).details == []


def test_pay_racing_cancel_one_of_them_wins(fund):
    usdt = Token.objects.get(symbol="USDT")
    shop = UserFactory(username="shop", role=UserRole.MERCHANT)
    customer = UserFactory(username="buyer")
    fund(customer, usdt, 20)
    for _ in range(5):
        invoice, _ = services.invoice_create(
            merchant=shop, draft=services.InvoiceDraft(token=usdt, amount=1_000_000)
        )
        pay, cancel = run_threads(
            [
                partial(
                    _outcome,
                    partial(
                        services.invoice_pay_from_balance, invoice_id=invoice.pk, payer=customer
                    ),
                ),
                partial(
                    _outcome,
                    partial(services.invoice_cancel, invoice_id=invoice.pk, merchant=shop),
                ),
            ]
        )
        status = Invoice.objects.get(pk=invoice.pk).status
        if pay == "paid":
            assert cancel == "invoice_not_cancellable" and status == "settled"
        else:
            assert pay == "invoice_invalid" and cancel == "paid" and status == "invalid"
    settled = Invoice.objects.filter(merchant=shop, status="settled").count()
    assert _available(shop, usdt) == settled * 1_000_000
    assert _available(customer, usdt) == 20_000_000 - settled * 1_000_000
    assert ledger_check_run(record=False).details == []
