"""The same input is read the same way everywhere, and errors say plainly what was wrong."""

import json
from datetime import timedelta

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from fastpay.api_keys import api_key_create
from tests.api.conftest import SINGLE, good_item
from wallets.models import UserStatus


@pytest.mark.parametrize("token", ["usdt", "Usdt", "USDT"])
def test_a_token_symbol_is_read_in_any_case(token, endpoint, payer, client_for):
    response = endpoint.send(client_for(payer), good_item(token=token))

    assert endpoint.outcome(response)[:2] == (201, None)


@pytest.mark.parametrize("token", [" USDT", "USDT ", "\tUSDT"])
def test_a_token_with_surrounding_whitespace_is_refused_in_a_body(
    token, endpoint, payer, client_for, money_snapshot
):
    before = money_snapshot()

    response = endpoint.send(client_for(payer), good_item(token=token))

    assert endpoint.outcome(response) == (400, "whitespace", "token")
    assert money_snapshot() == before


@pytest.mark.parametrize("url", [SINGLE, "/api/v1/ledger/statement/"])
def test_a_token_filter_reads_the_symbol_like_a_body_does(url, payer, client_for):
    client = client_for(payer)
    client.post(SINGLE, good_item(), format="json")

    lower = client.get(url, {"token": "usdt"})
    upper = client.get(url, {"token": "USDT"})
    spaced = client.get(url, {"token": " USDT"})
    unknown = client.get(url, {"token": "XYZ"})

    assert lower.status_code == upper.status_code == 200
    assert lower.json()["results"] == upper.json()["results"] != []
    assert (spaced.status_code, spaced.json()["error"]["code"]) == (400, "whitespace")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, "unknown_token")


def test_a_payer_refunding_its_own_payment_is_told_not_payee(payer, client_for, money_snapshot):
    paid = client_for(payer).post(SINGLE, good_item(), format="json").json()
    before = money_snapshot()

    response = client_for(payer).post(f"/api/v1/payments/{paid['id']}/refunds/", {}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_payee"
    assert money_snapshot() == before


def test_a_suspended_user_is_told_so(endpoint, payer, client_for, money_snapshot):
    payer.status = UserStatus.SUSPENDED
    payer.save()
    before = money_snapshot()

    response = endpoint.send(client_for(payer), good_item())

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "account_suspended"
    assert money_snapshot() == before


def _bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _expired(user) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(minutes=1))
    return str(token)


@pytest.mark.parametrize("kind", ["expired", "forged", "garbage"])
def test_a_bad_jwt_gets_a_plain_message(kind, payer, client_for):
    token = {
        "expired": lambda: _expired(payer),
        "forged": lambda: str(AccessToken.for_user(payer))[:-4] + "AAAA",
        "garbage": lambda: "eyJhbGciOi.not.a.jwt",
    }[kind]()

    response = _bearer(token).get(SINGLE)

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "token_not_valid"
    assert error["message"] == "The access token is invalid or expired; log in again for a new one."


def test_a_bad_refresh_token_gets_a_plain_message(db):
    response = APIClient().post("/api/v1/auth/token/refresh/", {"refresh": "x.y.z"}, format="json")

    assert response.status_code == 401
    message = response.json()["error"]["message"]
    assert "{" not in message and "ErrorDetail" not in message


def test_a_scope_error_names_the_scope_as_the_docs_write_it(endpoint, payer, money_snapshot):
    _, raw = api_key_create(user=payer, name="reader", scopes=["payments:read"])
    before = money_snapshot()

    response = endpoint.send(_bearer(raw), good_item())

    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "permission_denied",
        "message": "this API key lacks the payments:write scope",
        "param": None,
    }
    assert money_snapshot() == before


@pytest.mark.parametrize(
    "url",
    [SINGLE, "/api/v1/ledger/statement/", "/api/v1/api-keys/", "/api/v1/offline/redemptions/"],
)
@pytest.mark.parametrize("cursor", ["garbage", "cD1ub3RhZGF0ZQ==", "%%%"])
def test_an_invalid_cursor_is_a_400(url, cursor, payer, client_for):
    response = client_for(payer).get(url, {"cursor": cursor})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"
    assert response.json()["error"]["param"] == "cursor"


def _echo_bound(response, sent: str) -> None:
    """No part of the answer carries more than 200 characters of what was sent."""
    text = json.dumps(response.json(), ensure_ascii=False)
    assert sent[:201] not in text
    for value in _strings(response.json()):
        assert len(value) <= 200


def _strings(body):
    if isinstance(body, dict):
        for key, value in body.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(body, list):
        for value in body:
            yield from _strings(value)
    elif isinstance(body, str):
        yield body


def test_a_long_filter_value_is_not_echoed(payer, client_for):
    sent = "x" * 5_000

    response = client_for(payer).get(SINGLE, {"state": sent})

    assert response.status_code == 400
    _echo_bound(response, sent)


@pytest.mark.parametrize("field", ["token", "payee", "description", "unknown" * 100])
def test_a_long_field_is_not_echoed(field, endpoint, payer, client_for, money_snapshot):
    sent = "y" * 5_000
    before = money_snapshot()

    response = endpoint.send(client_for(payer), good_item(**{field: sent}))

    assert endpoint.outcome(response)[0] == 400
    _echo_bound(response, sent)
    assert money_snapshot() == before


def test_a_long_metadata_key_is_not_echoed(endpoint, payer, client_for):
    sent = "z" * 5_000

    response = endpoint.send(client_for(payer), good_item(metadata={sent: "v"}))

    assert endpoint.outcome(response)[0] == 400
    _echo_bound(response, sent)
