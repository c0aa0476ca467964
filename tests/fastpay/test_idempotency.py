"""fastpay/idempotency.py: the key reserved in its own short transaction, the use case in
its own, the response stored after; what is stored and what is not; key rules."""

from datetime import timedelta

import pytest
from django.utils import timezone

from fastpay import idempotency
from fastpay.models import IdempotencyRecord
from wallets.models import AccountKind, LedgerAccount, Payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def payer(alice, bob, usdt, fund):
    fund(alice, usdt, 100)
    return alice


def pay(client, key, payee="bob", amount="5", **headers):
    return client.post(
        "/api/v1/payments/",
        {"payee": payee, "token": "USDT", "amount": amount},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
        **headers,
    )


def available(user, token):
    return LedgerAccount.objects.get(owner=user, token=token, kind=AccountKind.AVAILABLE).balance


def test_a_key_in_flight_is_a_409_in_progress_and_runs_nothing(payer, usdt, client_for):
    client = client_for(payer)
    body = {"payee": "bob", "token": "USDT", "amount": "5"}
    fingerprint = pay_fingerprint(client, body)
    IdempotencyRecord.objects.create(
        user=payer, key="k1", request_hash=fingerprint, locked_at=timezone.now()
    )

    response = pay(client, "k1")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_in_progress"
    assert not Payment.objects.exists()


def test_a_key_whose_lease_expired_is_taken_over_and_stored(payer, usdt, client_for, settings):
    client = client_for(payer)
    fingerprint = pay_fingerprint(client, {"payee": "bob", "token": "USDT", "amount": "5"})
    crashed_at = timezone.now() - timedelta(seconds=settings.FASTPAY_IDEMPOTENCY_LEASE_S + 1)
    IdempotencyRecord.objects.create(
        user=payer, key="k1", request_hash=fingerprint, locked_at=crashed_at
    )

    response = pay(client, "k1")
    replay = pay(client, "k1")

    assert response.status_code == replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert Payment.objects.count() == 1
    assert IdempotencyRecord.objects.get().response_status == 201


def test_a_payment_made_by_a_request_that_crashed_before_storing_is_not_made_twice(
    payer, usdt, client_for, monkeypatch, settings
):
    """The use case committed, then the process died before step 3: the key's lease
    expires, the retry runs the view again and the payment's own key replays it."""
    client = client_for(payer)
    real_store = idempotency._store

    def crash(record, response):
        raise SystemExit("killed between the payment and the stored response")

    monkeypatch.setattr(idempotency, "_store", crash)
    with pytest.raises(SystemExit):
        pay(client, "k1")
    monkeypatch.setattr(idempotency, "_store", real_store)
    # in the atomic mode the payment and its response commit together: nothing was kept
    assert not Payment.objects.exists()
    assert not IdempotencyRecord.objects.exists()  # released: the retry runs again

    assert pay(client, "k1").status_code == 201
    assert Payment.objects.count() == 1
    assert available(payer, usdt) == 95_000_000


def test_a_server_error_is_not_stored_and_leaves_no_effect(payer, usdt, client_for, monkeypatch):
    client = client_for(payer)

    def broken(**kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr("wallets.api.views.payment_create", broken)
    client.raise_request_exception = False
    assert pay(client, "k1").status_code == 500
    assert not IdempotencyRecord.objects.exists()


def test_an_unknown_payee_is_not_stored_so_the_corrected_retry_pays(payer, usdt, client_for):
    client = client_for(payer)

    refused = pay(client, "k1", payee="nobody")
    corrected = pay(client, "k1", payee="bob")

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "unknown_payee"
    assert corrected.status_code == 201
    assert Payment.objects.count() == 1


def test_a_paused_token_is_not_stored(payer, usdt, client_for, monkeypatch):
    from fraud.errors import PaymentsPaused

    client = client_for(payer)

    def paused(drafts):
        return [PaymentsPaused("USDT payments are paused") for _ in drafts]

    monkeypatch.setattr("wallets.services.payments.payment_risk_assess_many", paused)
    assert pay(client, "k1").status_code == 409
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize("length", [1, 128, 129, 255])
def test_keys_of_1_to_255_characters_are_stored(length, payer, usdt, client_for):
    assert pay(client_for(payer), "k" * length).status_code == 201
    assert IdempotencyRecord.objects.get().key == "k" * length


def test_a_key_of_256_characters_is_refused(payer, client_for):
    response = pay(client_for(payer), "k" * 256)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert not Payment.objects.exists()


@pytest.mark.parametrize("key", [" k", "k ", "clé", "k\tk", " "])
def test_a_key_outside_the_documented_pattern_is_refused(key, payer, client_for):
    # the schema documents printable ASCII with no space at either end: the validator agrees
    response = pay(client_for(payer), key)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert not Payment.objects.exists()


def test_two_idempotency_key_headers_are_a_400_not_merged(payer, client_for):
    # WSGI and ASGI servers hand two headers of one name to Django joined by a comma
    response = pay(client_for(payer), "first,second")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "duplicate_idempotency_key"
    assert response.json()["error"]["param"] == "Idempotency-Key"
    assert not Payment.objects.exists() and not IdempotencyRecord.objects.exists()


def test_without_a_key_nothing_is_stored(payer, client_for):
    response = client_for(payer).post(
        "/api/v1/payments/", {"payee": "bob", "token": "USDT", "amount": "5"}, format="json"
    )

    assert response.status_code == 201
    assert not IdempotencyRecord.objects.exists()


def pay_fingerprint(client, body) -> str:
    """The fingerprint the wrapper computes for POST /api/v1/payments/ with ``body``."""
    request = type("Request", (), {"method": "POST", "path": "/api/v1/payments/", "data": body})
    return idempotency.request_fingerprint(request)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_headers_sent_over_http_are_refused_not_merged(live_server, alice, bob, usdt, fund):
    """Over a real HTTP server: the WSGI layer joins the two headers; the API refuses."""
    import http.client
    import json
    from urllib.parse import urlsplit

    from rest_framework_simplejwt.tokens import RefreshToken

    fund(alice, usdt, 10)
    url = urlsplit(live_server.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    body = json.dumps({"payee": "bob", "token": "USDT", "amount": "1"}).encode()
    connection.putrequest("POST", "/api/v1/payments/")
    connection.putheader("Authorization", f"Bearer {RefreshToken.for_user(alice).access_token}")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(len(body)))
    connection.putheader("Idempotency-Key", "first")
    connection.putheader("Idempotency-Key", "second")
    connection.endheaders(body)
    response = connection.getresponse()

    assert response.status == 400
    assert json.loads(response.read())["error"]["code"] == "duplicate_idempotency_key"
    assert not Payment.objects.exists()
