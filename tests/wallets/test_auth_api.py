"""Sign-up, JWT, API keys (shown once, hashed, scoped, revocable) and rate limits."""

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from fastpay.api_keys import api_key_create
from fastpay.models import ApiKey
from wallets.models import User, UserStatus


def key_client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


class TestSignup:
    def test_it_creates_a_pending_user_who_cannot_pay(self, db, usdt):
        body = {
            "username": "dave",
            "email": "d@example.test",
            "password": "a long passphrase",
            "role": "vendor",
        }
        response = APIClient().post("/api/v1/auth/signup/", body, format="json")

        assert response.status_code == 201
        assert response.json()["status"] == "pending"
        assert "password" not in response.json()
        token = (
            APIClient()
            .post("/api/v1/auth/token/", {"username": "dave", "password": "a long passphrase"})
            .json()["access"]
        )
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert client.get("/api/v1/me/").json()["status"] == "pending"
        response = client.post(
            "/api/v1/payments/", {"payee": "x", "token": "USDT", "amount": "1"}, format="json"
        )
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "account_not_approved"

    def test_a_taken_username_is_a_409(self, alice):
        body = {
            "username": "alice",
            "email": "a@example.test",
            "password": "a long passphrase",
            "role": "customer",
        }
        response = APIClient().post("/api/v1/auth/signup/", body, format="json")

        assert response.status_code == 409
        assert response.json()["error"]["code"] == "username_taken"

    @pytest.mark.parametrize(
        ("field", "value", "code"),
        [
            ("password", "password1", "weak_password"),
            ("password", "short", "min_length"),
            ("role", "admin", "invalid_choice"),
            ("role", "staff", "invalid_choice"),
            ("email", "nope", "invalid"),
            ("username", "a b", "invalid"),
        ],
    )
    def test_bad_fields_name_the_field(self, db, field, value, code):
        body = {
            "username": "erin",
            "email": "e@example.test",
            "password": "a long passphrase",
            "role": "customer",
            field: value,
        }
        response = APIClient().post("/api/v1/auth/signup/", body, format="json")

        assert response.status_code == 400
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["param"] == field
        assert not User.objects.filter(username="erin").exists()

    def test_signups_are_rate_limited(self, db, monkeypatch):
        # DRF copies the rates onto the throttle class at import; patch them there.
        monkeypatch.setattr(
            SimpleRateThrottle, "THROTTLE_RATES", {"signup": "2/hour", "anon": "1000/min"}
        )
        statuses = [APIClient().post("/api/v1/auth/signup/", {}, format="json") for _ in range(3)]

        assert [r.status_code for r in statuses] == [400, 400, 429]
        assert statuses[2].json()["error"]["code"] == "rate_limited"
        assert int(statuses[2]["Retry-After"]) > 0


class TestApiKeys:
    def test_the_secret_is_shown_once_and_stored_hashed(self, alice, client_for):
        client = client_for(alice)
        created = client.post(
            "/api/v1/api-keys/", {"name": "till 1", "scopes": ["payments:read"]}, format="json"
        ).json()

        assert created["key"].startswith("fpk_")
        listed = client.get("/api/v1/api-keys/").json()["results"]
        assert "key" not in listed[0]
        stored = ApiKey.objects.get()
        assert created["key"].split("_", 2)[2] not in (stored.secret_hash, stored.prefix)

    def test_a_key_authenticates_its_owner(self, alice):
        _, raw = api_key_create(user=alice, name="k", scopes=["balances:read"])

        response = key_client(raw).get("/api/v1/balances/")

        assert response.status_code == 200
        assert {row["token"] for row in response.json()} == {"USDT", "USDC"}

    def test_a_key_without_the_scope_is_refused(self, alice, bob, usdt, fund):
        fund(alice, usdt, 5)
        _, raw = api_key_create(user=alice, name="k", scopes=["payments:read"])

        response = key_client(raw).post(
            "/api/v1/payments/", {"payee": "bob", "token": "USDT", "amount": "1"}, format="json"
        )

        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
        assert key_client(raw).get("/api/v1/payments/").status_code == 200

    def test_a_revoked_key_is_a_401(self, alice, client_for):
        key, raw = api_key_create(user=alice, name="k", scopes=["payments:read"])

        assert client_for(alice).delete(f"/api/v1/api-keys/{key.pk}/").status_code == 200

        response = key_client(raw).get("/api/v1/payments/")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "authentication_failed"

    def test_a_forged_key_is_a_401(self, alice):
        _, raw = api_key_create(user=alice, name="k", scopes=["payments:read"])
        forged = raw[:-4] + "AAAA"

        assert key_client(forged).get("/api/v1/payments/").status_code == 401

    def test_nobody_revokes_someone_elses_key(self, alice, bob, client_for):
        key, _ = api_key_create(user=alice, name="k", scopes=["payments:read"])

        response = client_for(bob).delete(f"/api/v1/api-keys/{key.pk}/")

        assert response.status_code == 404
        assert ApiKey.objects.get().revoked_at is None

    def test_an_api_key_cannot_mint_api_keys(self, alice):
        _, raw = api_key_create(user=alice, name="k", scopes=["payments:write"])

        response = key_client(raw).post(
            "/api/v1/api-keys/", {"name": "x", "scopes": ["payments:write"]}, format="json"
        )

        assert response.status_code == 403

    def test_unknown_scopes_are_a_400(self, alice, client_for):
        response = client_for(alice).post(
            "/api/v1/api-keys/", {"name": "x", "scopes": ["everything"]}, format="json"
        )

        assert response.status_code == 400
        assert response.json()["error"]["param"] == "scopes[0]"

    def test_a_suspended_users_key_stops_working(self, alice):
        _, raw = api_key_create(user=alice, name="k", scopes=["payments:read"])
        alice.status = UserStatus.SUSPENDED
        alice.save()

        response = key_client(raw).get("/api/v1/payments/")

        assert response.status_code == 403
        assert response.json()["error"]["code"] == "account_suspended"


def test_a_garbage_jwt_is_a_401(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")

    response = client.get("/api/v1/me/")

    assert response.status_code == 401
    assert "error" in response.json()


def test_unknown_api_paths_are_json_404s(db):
    response = APIClient().get("/api/v1/nothing-here/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
