"""POST/GET /api/v1/payments/: the happy path and every way a client can get it wrong."""

import pytest

from fastpay.models import IdempotencyRecord, OutboxEvent
from wallets.models import AccountKind, LedgerAccount, Payment, UserStatus

URL = "/api/v1/payments/"


def balance(user, token, kind=AccountKind.AVAILABLE):
    account = LedgerAccount.objects.filter(owner=user, token=token, kind=kind).first()
    return account.balance if account else 0


@pytest.fixture
def funded(alice, bob, usdt, fund):
    fund(alice, usdt, 100)
    return alice


def pay(client, payee="bob", amount="12.50", token="USDT", key=None, **extra):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    body = {"payee": payee, "token": token, "amount": amount, **extra}
    return client.post(URL, body, format="json", **headers)


class TestCreate:
    def test_it_moves_money_from_payer_to_payee(self, funded, bob, usdt, client_for, units):
        response = pay(client_for(funded), amount="12.50")

        assert response.status_code == 201, response.json()
        body = response.json()
        assert body["state"] == "success"
        assert body["amount"] == "12.500000"
        assert body["amount_units"] == 12_500_000
        assert body["sequence"] == 0
        assert balance(funded, usdt) == units(usdt, "87.5")
        assert balance(bob, usdt) == units(usdt, "12.5")

    def test_it_records_a_payment_succeeded_event_in_the_outbox(self, funded, client_for):
        response = pay(client_for(funded))

        event = OutboxEvent.objects.get(topic="payment.succeeded")
        assert event.aggregate_id == response.json()["id"]
        assert event.payload["amount_units"] == 12_500_000

    def test_sequences_count_each_payers_payments(self, funded, client_for):
        client = client_for(funded)
        sequences = [pay(client, amount="1").json()["sequence"] for _ in range(3)]
        assert sequences == [0, 1, 2]

    @pytest.mark.parametrize(
        ("amount", "code"),
        [
            (12.5, "not_a_string"),
            ("12.1234567", "invalid_amount"),
            ("-1", "invalid_amount"),
            ("0", "invalid_amount"),
            ("twelve", "invalid_amount"),
            ("NaN", "invalid_amount"),
            ("1e30", "invalid_amount"),
        ],
    )
    def test_it_refuses_bad_amounts(self, funded, usdt, client_for, amount, code):
        response = pay(client_for(funded), amount=amount)

        assert response.status_code == 400
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["param"] == "amount"
        assert balance(funded, usdt) == 100_000_000
        assert not Payment.objects.exists()

    def test_it_refuses_an_unknown_token(self, funded, client_for):
        response = pay(client_for(funded), token="DOGE")

        assert response.status_code == 400
        assert response.json()["error"] == {
            **response.json()["error"],
            "code": "unknown_token",
            "param": "token",
        }

    def test_it_refuses_a_disabled_token(self, funded, usdt, client_for):
        usdt.enabled = False
        usdt.save()

        response = pay(client_for(funded))

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "token_disabled"

    def test_it_refuses_an_unknown_payee(self, funded, client_for):
        response = pay(client_for(funded), payee="nobody")

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "unknown_payee"
        assert response.json()["error"]["param"] == "payee"

    def test_it_refuses_paying_yourself(self, funded, client_for):
        response = pay(client_for(funded), payee="alice")

        assert response.json()["error"]["code"] == "self_payment"

    def test_it_refuses_more_than_the_balance(self, funded, usdt, client_for):
        response = pay(client_for(funded), amount="100.000001")

        assert response.status_code == 402
        assert response.json()["error"]["code"] == "insufficient_funds"
        assert balance(funded, usdt) == 100_000_000
        assert not Payment.objects.exists()

    def test_an_unapproved_payer_cannot_pay(self, funded, client_for):
        funded.status = UserStatus.PENDING
        funded.save()

        response = pay(client_for(funded))

        assert response.status_code == 403
        assert response.json()["error"]["code"] == "account_not_approved"

    def test_a_suspended_payee_cannot_be_paid(self, funded, bob, client_for):
        bob.status = UserStatus.SUSPENDED
        bob.save()

        response = pay(client_for(funded))

        assert response.status_code == 403
        assert response.json()["error"] == {
            "code": "account_not_approved",
            "message": "the payee cannot receive payments",
            "param": "payee",
        }

    def test_latitude_needs_longitude(self, funded, client_for):
        response = pay(client_for(funded), latitude="52.5")

        assert response.status_code == 400
        assert response.json()["error"]["param"] == "longitude"

    def test_it_keeps_the_location_and_metadata(self, funded, client_for):
        response = pay(
            client_for(funded),
            latitude="52.520008",
            longitude="13.404954",
            metadata={"order": "A-1"},
        )

        payment = Payment.objects.get()
        assert str(payment.latitude) == "52.520008"
        assert payment.metadata == {"order": "A-1"}
        assert response.json()["metadata"] == {"order": "A-1"}

    def test_metadata_refuses_floats(self, funded, client_for):
        response = pay(client_for(funded), metadata={"price": 1.5})

        assert response.status_code == 400
        assert response.json()["error"]["param"] == "metadata"

    def test_anonymous_requests_get_401(self, client_for):
        response = pay(client_for(None))

        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"

    def test_malformed_json_is_a_400(self, funded, client_for):
        response = client_for(funded).post(URL, "{not json", content_type="application/json")

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "parse_error"

    def test_large_payments_are_flagged_and_held(
        self, alice, bob, usdt, fund, client_for, settings
    ):
        settings.FASTPAY_REVIEW_ABOVE_TOKENS = 50
        fund(alice, usdt, 100)

        response = pay(client_for(alice), amount="60")

        assert response.status_code == 201
        assert response.json()["state"] == "flagged"
        assert balance(alice, usdt) == 40_000_000
        assert balance(alice, usdt, AccountKind.HELD) == 60_000_000
        assert OutboxEvent.objects.filter(topic="payment.flagged").count() == 1


class TestIdempotency:
    def test_a_replay_returns_the_first_response_and_pays_once(self, funded, usdt, client_for):
        client = client_for(funded)
        first = pay(client, key="order-1")
        second = pay(client, key="order-1")

        assert second.status_code == first.status_code == 201
        assert second.json() == first.json()
        assert second["Idempotent-Replayed"] == "true"
        assert Payment.objects.count() == 1
        assert balance(funded, usdt) == 87_500_000

    def test_the_same_key_with_another_body_is_a_409(self, funded, client_for):
        client = client_for(funded)
        pay(client, key="order-1", amount="1")
        response = pay(client, key="order-1", amount="2")

        assert response.status_code == 409
        assert response.json()["error"]["code"] == "idempotency_error"
        assert response.json()["error"]["param"] == "Idempotency-Key"
        assert Payment.objects.count() == 1

    def test_a_refusal_is_replayed_too(self, funded, client_for, fund, usdt):
        client = client_for(funded)
        first = pay(client, key="big", amount="500")
        fund(funded, usdt, 1000)
        second = pay(client, key="big", amount="500")

        assert first.status_code == second.status_code == 402
        assert not Payment.objects.exists()

    def test_validation_errors_are_not_stored(self, funded, client_for):
        client = client_for(funded)
        assert pay(client, key="k", amount="oops").status_code == 400
        assert not IdempotencyRecord.objects.exists()
        assert pay(client, key="k", amount="1").status_code == 201

    def test_keys_are_scoped_per_user(self, funded, bob, usdt, fund, client_for):
        fund(bob, usdt, 10)
        assert pay(client_for(funded), key="shared").status_code == 201
        assert pay(client_for(bob), payee="alice", amount="1", key="shared").status_code == 201
        assert Payment.objects.count() == 2

    def test_an_oversized_key_is_refused(self, funded, client_for):
        response = pay(client_for(funded), key="k" * 256)

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_idempotency_key"


class TestListAndDetail:
    def test_lists_show_only_my_payments(self, funded, bob, stranger, usdt, fund, client_for):
        fund(stranger, usdt, 10)
        pay(client_for(funded))
        pay(client_for(stranger), payee="bob", amount="1")

        mine = client_for(funded).get(URL).json()["results"]
        bobs = client_for(bob).get(URL).json()["results"]

        assert [p["payer"] for p in mine] == ["alice"]
        assert sorted(p["payer"] for p in bobs) == ["alice", "stranger"]

    def test_lists_filter_and_paginate_with_a_cursor(self, funded, client_for):
        client = client_for(funded)
        for _ in range(5):
            pay(client, amount="1")

        page = client.get(URL, {"limit": 2, "state": "success"}).json()
        assert len(page["results"]) == 2
        rest = client.get(page["next"]).json()
        assert len(rest["results"]) == 2
        ids = {p["id"] for p in page["results"]} | {p["id"] for p in rest["results"]}
        assert len(ids) == 4

    def test_a_bad_filter_is_a_400(self, funded, client_for):
        response = client_for(funded).get(URL, {"state": "lost"})

        assert response.status_code == 400
        assert response.json()["error"]["param"] == "state"

    def test_a_stranger_gets_404_for_my_payment(self, funded, stranger, client_for):
        payment_id = pay(client_for(funded)).json()["id"]

        assert client_for(funded).get(f"{URL}{payment_id}/").status_code == 200
        response = client_for(stranger).get(f"{URL}{payment_id}/")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_a_deeply_nested_body_is_a_400_not_a_crash(alice, client_for):
    body = "[" * 200_000 + "]" * 200_000

    response = client_for(alice).post(URL, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
