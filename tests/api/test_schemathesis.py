"""schemathesis over the whole OpenAPI schema, in process against the Django WSGI app.

Every operation the schema documents is called with generated requests, valid and
invalid (NUL characters, wrong types, missing and extra fields, odd headers), once with a
merchant's API key (every scope) and once with a customer's JWT. Every response must be
one the schema documents: no 5xx, a documented status code, content type and headers,
and a body that matches the schema of that status.

The data the requests need is seeded first (a funded merchant and customer, payments
between them, an API key), and generated path parameters are swapped for the seeded ids
half of the time, so happy paths are reached as well as 404s. On PostgreSQL too (CI sets
DATABASE_URL): NUL characters only fail there.

Bounded for CI: EXAMPLES per operation and credential (SCHEMATHESIS_EXAMPLES to go
deeper locally), derandomized so a failure reproduces.
"""

import copy
import hashlib
import os
from contextlib import contextmanager

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

RAW = SchemaGenerator().get_schema(request=None, public=True)


def _load(raw: dict):
    loaded = schemathesis.openapi.from_dict(
        copy.deepcopy(raw),
        config=schemathesis.Config.from_dict(
            {"generation": {"max-examples": EXAMPLES, "deterministic": True}}
        ),
    )
    loaded.app = WSGIHandler()
    return loaded


schema = _load(RAW)

# ids of the seeded rows, by path parameter name; filled by the `seeded` fixture
KNOWN: dict[str, list] = {}


@pytest.fixture
def committee(monkeypatch):
    """The platform's gateway with a committee of four test authorities that certifies
    with their keys instead of over the network: the offline operations get past
    committee_unavailable (a 503 only a real outage should cause)."""
    from eth_account import Account

    from authorities import gateway as gateway_module
    from fastpay_protocol import typed_data as td
    from fastpay_protocol.membership import Committee, Member
    from fastpay_protocol.messages import Certificate, Vote

    authorities = [Account.create() for _ in range(4)]
    platform = Account.create()
    domain = td.Domain(chain_id=31337, verifying_contract="0x" + "42" * 20)
    members = tuple(
        Member(name=f"a{i}", address=a.address, stake=10, url=f"http://127.0.0.1:{9 + i}")
        for i, a in enumerate(authorities)
    )
    committee = Committee(
        epoch=0,
        chain_id=domain.chain_id,
        verifying_contract=domain.verifying_contract,
        redemption_address="0x" + "43" * 20,
        members=members,
    )

    class OfflineGateway(gateway_module.Gateway):
        def certify_and_confirm(self, order):
            votes = tuple(
                Vote(a.address, td.sign_vote(domain, order, a.key)) for a in authorities[:3]
            )
            return Certificate(order, td.sign_order(domain, order, platform.key), votes).to_json()

        def confirm(self, certificate_json):
            pass

        def account_state(self, address):
            return {"address": address, "next_sequence": 0, "balances": {}, "pending": None}

    gateway = OfflineGateway(committee, platform.key, timeout_s=1)
    monkeypatch.setattr(gateway_module, "_load", lambda *args: gateway)
    return gateway


@pytest.fixture
def seeded(db, fund, usdt, usdc, client_for, committee):
    """A merchant and a customer, funded, with payments both ways, an API key each and a
    linked FastPay address each."""
    from eth_account import Account

    from fastpay.api_keys import api_key_create
    from fastpay.models import ApiKeyScope
    from offline.models import FastPayAccount
    from tests.wallets.factories import UserFactory
    from wallets.models import UserRole

    merchant = UserFactory(username="shop", role=UserRole.MERCHANT)
    customer = UserFactory(username="alice")
    for user in (merchant, customer):
        for token in (usdt, usdc):
            fund(user, token, 1_000_000)
        FastPayAccount.objects.create(user=user, address=Account.create().address)
    payments = []
    for payer, payee in ((customer, merchant), (merchant, customer)):
        response = client_for(payer).post(
            "/api/v1/payments/",
            {"payee": payee.username, "token": "USDT", "amount": "12.50"},
            format="json",
        )
        assert response.status_code == 201, response.content
        payments.append(response.json()["id"])
    _, merchant_secret = api_key_create(
        user=merchant, name="shop's till", scopes=list(ApiKeyScope.values)
    )
    customer_key, _ = api_key_create(user=customer, name="alice's", scopes=list(ApiKeyScope.values))
    KNOWN.clear()
    KNOWN.update(payment_id=payments, key_id=[customer_key.pk])
    return {"merchant_key": merchant_secret, "customer": customer}


@pytest.fixture(params=["merchant_api_key", "customer_jwt"])
def authorization(request, seeded):
    if request.param == "merchant_api_key":
        return f"Bearer {seeded['merchant_key']}"
    return f"Bearer {RefreshToken.for_user(seeded['customer']).access_token}"


def _with_known_ids(case) -> None:
    """Half of the generated path parameters (chosen by a hash: reproducible) become the
    ids of seeded rows, so the operation gets past its 404."""
    for name, value in (case.path_parameters or {}).items():
        known = KNOWN.get(name)
        if not known:
            continue
        digest = hashlib.sha256(repr(value).encode()).digest()
        if digest[0] % 2:
            case.path_parameters[name] = known[digest[1] % len(known)]


@contextmanager
def _test_connection_kept():
    """The WSGI handler closes the database connection after each request, which would
    end the test's transaction: keep it, as Django's test client does."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_response_is_documented_and_never_a_server_error(case, authorization):
    _with_known_ids(case)
    with _test_connection_kept():
        case.call_and_validate(headers={"Authorization": authorization}, checks=CHECKS)


def test_a_schema_that_lies_is_caught(seeded):
    """The harness can fail: with the API key list documented as a bare array (as it was
    before its pagination was declared), the real cursor page violates it."""
    lying = copy.deepcopy(RAW)
    content = lying["paths"]["/api/v1/api-keys/"]["get"]["responses"]["200"]["content"]
    content["application/json"]["schema"] = {"type": "array"}
    case = _load(lying)["/api/v1/api-keys/"]["GET"].Case()
    token = RefreshToken.for_user(seeded["customer"]).access_token

    with _test_connection_kept(), pytest.raises(FailureGroup, match="not of type"):
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
