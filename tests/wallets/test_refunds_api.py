"""POST /api/v1/payments/{id}/refunds/: full, partial, too much, wrong owner, replay."""

import pytest

from wallets.models import AccountKind, LedgerAccount, Payment, PaymentState
from wallets.services.payments import PaymentItem, payment_create


def available(user, token):
    return LedgerAccount.objects.get(owner=user, token=token, kind=AccountKind.AVAILABLE).balance


@pytest.fixture
def payment(alice, bob, usdt, fund):
    fund(alice, usdt, 100)
    return payment_create(payer=alice, item=PaymentItem(payee="bob", token=usdt, amount=40_000_000))


def refund(client, payment, amount=None, key=None, reason="customer asked"):
    body = {"reason": reason} | ({"amount": amount} if amount is not None else {})
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(f"/api/v1/payments/{payment.pk}/refunds/", body, format="json", **headers)


def test_the_payee_refunds_everything_by_default(payment, alice, bob, usdt, client_for):
    response = refund(client_for(bob), payment)

    assert response.status_code == 201, response.json()
    assert response.json()["amount"] == "40.000000"
    assert available(alice, usdt) == 100_000_000
    assert available(bob, usdt) == 0
    payment.refresh_from_db()
    assert payment.refunded_amount == 40_000_000
    assert payment.state == PaymentState.SUCCESS


def test_partial_refunds_add_up_to_the_amount_and_no_further(payment, bob, client_for):
    client = client_for(bob)
    assert refund(client, payment, "15").status_code == 201
    assert refund(client, payment, "25").status_code == 201

    response = refund(client, payment, "0.000001")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "refund_exceeds_payment"


def test_a_refund_larger_than_what_is_left_is_refused(payment, bob, client_for):
    response = refund(client_for(bob), payment, "40.000001")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "refund_exceeds_payment"
    assert response.json()["error"]["param"] == "amount"


def test_the_payer_cannot_refund_to_themselves(payment, alice, client_for):
    response = refund(client_for(alice), payment)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_payee"


def test_a_stranger_gets_404(payment, stranger, client_for):
    assert refund(client_for(stranger), payment).status_code == 404


def test_a_replayed_refund_refunds_once(payment, alice, usdt, bob, client_for):
    client = client_for(bob)
    first = refund(client, payment, "10", key="r1")
    second = refund(client, payment, "10", key="r1")

    assert first.json() == second.json()
    assert available(alice, usdt) == 70_000_000


def test_a_payee_who_spent_the_money_cannot_refund(payment, bob, stranger, usdt, client_for):
    payment_create(payer=bob, item=PaymentItem(payee="stranger", token=usdt, amount=39_000_000))

    response = refund(client_for(bob), payment)

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "insufficient_funds"
    assert Payment.objects.get(pk=payment.pk).refunded_amount == 0


def test_a_bad_amount_is_a_400(payment, bob, client_for):
    response = refund(client_for(bob), payment, "1.0000001")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_amount"
