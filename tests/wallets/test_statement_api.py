"""GET /api/v1/balances/, /ledger/statement/, /tokens/ and /me/."""

import pytest

from wallets.services.payments import PaymentItem, payment_create


@pytest.fixture
def history(alice, bob, usdt, usdc, fund):
    fund(alice, usdt, 10)
    fund(alice, usdc, 5)
    for amount in (1_000_000, 2_000_000, 3_000_000):
        payment_create(payer=alice, item=PaymentItem(payee="bob", token=usdt, amount=amount))
    return alice


def test_balances_show_available_and_held_per_token(history, client_for):
    rows = {row["token"]: row for row in client_for(history).get("/api/v1/balances/").json()}

    assert rows["USDT"]["available"] == "4.000000"
    assert rows["USDT"]["available_units"] == 4_000_000
    assert rows["USDC"]["held"] == "0.000000"


def test_the_statement_lists_my_postings_newest_first(history, bob, client_for):
    lines = client_for(history).get("/api/v1/ledger/statement/").json()["results"]

    assert [line["amount"] for line in lines[:3]] == ["-3.000000", "-2.000000", "-1.000000"]
    assert {line["kind"] for line in lines} == {"payment", "adjustment"}
    bobs = client_for(bob).get("/api/v1/ledger/statement/").json()["results"]
    assert sorted(line["amount_units"] for line in bobs) == [1_000_000, 2_000_000, 3_000_000]


def test_the_statement_filters_and_pages(history, client_for):
    client = client_for(history)
    page = client.get("/api/v1/ledger/statement/", {"token": "USDT", "limit": 2}).json()
    rest = client.get(page["next"]).json()

    assert len(page["results"]) == 2
    assert [line["token"] for line in page["results"] + rest["results"]] == ["USDT"] * 4
    kinds = client.get("/api/v1/ledger/statement/", {"kind": "adjustment"}).json()["results"]
    assert len(kinds) == 2


def test_a_bad_statement_filter_is_a_400(history, client_for):
    response = client_for(history).get("/api/v1/ledger/statement/", {"account": "custody"})

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "account"


def test_tokens_lists_the_enabled_tokens(alice, usdc, client_for):
    usdc.enabled = False
    usdc.save()

    tokens = client_for(alice).get("/api/v1/tokens/").json()

    assert [t["symbol"] for t in tokens] == ["USDT"]
    assert tokens[0]["ledger_decimals"] == 6


def test_me_describes_the_caller(alice, client_for):
    me = client_for(alice).get("/api/v1/me/").json()
    assert (me["username"], me["status"], me["role"]) == ("alice", "approved", "customer")
