"""GET/PATCH /api/v1/notification-preferences/: defaults, changes, strict input."""

import pytest

URL = "/api/v1/notification-preferences/"


def test_the_defaults_are_email_on_and_sms_off(alice, client_for):
    response = client_for(alice).get(URL)

    assert response.status_code == 200
    assert response.json() == {
        "email_account": True,
        "email_payments": True,
        "email_webhooks": True,
        "sms_account": False,
        "sms_payments": False,
        "sms_webhooks": False,
        "phone_number": "",
        "email": alice.email,
    }


def test_a_patch_changes_only_the_fields_given(alice, client_for):
    client = client_for(alice)
    response = client.patch(
        URL, {"email_payments": False, "sms_payments": True, "phone_number": "+41791234567"}
    )

    assert response.status_code == 200, response.json()
    body = client.get(URL).json()
    assert (body["email_payments"], body["sms_payments"], body["email_account"]) == (
        False,
        True,
        True,
    )
    assert body["phone_number"] == "+41791234567"


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"email_payments": "false"}, "invalid", "email_payments"),
        ({"email_payments": 0}, "invalid", "email_payments"),
        ({"sms_account": True}, "sms_needs_phone", "sms_account"),
        ({"phone_number": "0791234567"}, "invalid", "phone_number"),
        ({"phone_number": " +41791234567"}, "invalid", "phone_number"),
        ({"push": True}, "unknown_field", "push"),
        ({"email": "x@example.test"}, "unknown_field", "email"),
    ],
)
def test_bad_input_is_refused_with_the_field(alice, client_for, body, code, param):
    response = client_for(alice).patch(URL, body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)


def test_clearing_the_number_while_sms_is_on_is_refused(alice, client_for):
    client = client_for(alice)
    client.patch(URL, {"sms_payments": True, "phone_number": "+41791234567"}, format="json")

    response = client.patch(URL, {"phone_number": ""}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "sms_needs_phone"
    assert client.get(URL).json()["phone_number"] == "+41791234567"


def test_each_user_sees_their_own(alice, bob, client_for):
    client_for(alice).patch(URL, {"email_account": False}, format="json")

    assert client_for(bob).get(URL).json()["email_account"] is True


def test_anonymous_and_api_keys_are_refused(alice, client_for):
    from rest_framework.test import APIClient

    from fastpay.api_keys import api_key_create

    assert APIClient().get(URL).status_code == 401
    _, key = api_key_create(user=alice, name="till", scopes=["events:read"])
    keyed = APIClient()
    keyed.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert keyed.get(URL).status_code == 403
