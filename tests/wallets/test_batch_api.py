"""POST /api/v1/payments/batch/: a result per item, all-or-nothing per item, never per batch."""

import pytest

from wallets.models import AccountKind, LedgerAccount, Payment

URL = "/api/v1/payments/batch/"


@pytest.fixture
def funded(alice, bob, stranger, usdt, fund):
    fund(alice, usdt, 10)
    return alice


def item(payee="bob", amount="1", **extra):
    return {"payee": payee, "token": "USDT", "amount": amount, **extra}


def test_each_item_gets_its_own_result(funded, usdt, client_for):
    payments = [
        item(),
        item("nobody"),
        item(amount="1.0000001"),
        item("stranger", "2"),
        item(amount="100"),
    ]

    response = client_for(funded).post(URL, {"payments": payments}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["succeeded"], body["failed"]) == (2, 3)
    assert [r["status"] for r in body["results"]] == [201, 400, 400, 201, 402]
    assert [r.get("error", {}).get("code") for r in body["results"]] == [
        None,
        "unknown_payee",
        "invalid_amount",
        None,
        "insufficient_funds",
    ]
    assert [r["payment"]["sequence"] for r in body["results"] if "payment" in r] == [0, 1]
    alice_balance = LedgerAccount.objects.get(owner=funded, token=usdt, kind=AccountKind.AVAILABLE)
    assert alice_balance.balance == 7_000_000


def test_the_running_balance_decides_which_items_fit(funded, client_for):
    payments = [item(amount="4"), item(amount="4"), item(amount="4"), item(amount="2")]

    results = client_for(funded).post(URL, {"payments": payments}, format="json").json()

    assert [r["status"] for r in results["results"]] == [201, 201, 402, 201]


def test_item_keys_make_retries_safe(funded, client_for):
    client = client_for(funded)
    first = client.post(URL, {"payments": [item(idempotency_key="a")]}, format="json").json()
    second = client.post(
        URL, {"payments": [item(idempotency_key="a"), item(idempotency_key="b")]}, format="json"
    ).json()

    assert second["results"][0]["replayed"] is True
    assert second["results"][0]["payment"]["id"] == first["results"][0]["payment"]["id"]
    assert Payment.objects.count() == 2


def test_an_item_key_reused_for_another_payment_is_refused(funded, client_for):
    client = client_for(funded)
    client.post(URL, {"payments": [item(idempotency_key="a")]}, format="json")
    body = client.post(
        URL, {"payments": [item(amount="2", idempotency_key="a")]}, format="json"
    ).json()

    assert body["results"][0]["error"]["code"] == "idempotency_error"


def test_a_key_twice_in_one_batch_pays_once(funded, client_for):
    body = (
        client_for(funded)
        .post(
            URL, {"payments": [item(idempotency_key="a"), item(idempotency_key="a")]}, format="json"
        )
        .json()
    )

    assert [r["status"] for r in body["results"]] == [201, 409]
    assert Payment.objects.count() == 1


def test_more_than_500_items_is_a_400(funded, client_for):
    response = client_for(funded).post(URL, {"payments": [item()] * 501}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "payments"
    assert not Payment.objects.exists()


def test_an_empty_or_malformed_batch_is_a_400(funded, client_for):
    client = client_for(funded)
    assert client.post(URL, {"payments": []}, format="json").status_code == 400
    assert client.post(URL, {"payments": "nope"}, format="json").status_code == 400
    assert client.post(URL, {}, format="json").json()["error"]["code"] == "required"


def test_a_replayed_batch_returns_the_first_results(funded, client_for):
    client = client_for(funded)
    first = client.post(URL, {"payments": [item()]}, format="json", HTTP_IDEMPOTENCY_KEY="b1")
    second = client.post(URL, {"payments": [item()]}, format="json", HTTP_IDEMPOTENCY_KEY="b1")

    assert first.json() == second.json()
    assert Payment.objects.count() == 1
