"""Each class of input the API must refuse: a 4xx with a stable code and param, never a 500,
and nothing moved, through the single and the batch endpoint alike."""

import json

import pytest

from tests.api.conftest import BATCH, SINGLE, good_item
from wallets.models import AccountKind, LedgerAccount, Payment

# Raw JSON items: json.dumps cannot write a lone surrogate or a duplicate key.
NUL = "\\u0000"
SURROGATE = "\\ud800"


def raw_item(**fields) -> str:
    """JSON text of an item whose values are given as raw JSON fragments."""
    fields = {k: json.dumps(v) for k, v in good_item().items()} | fields
    return "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"


STRING_FIELDS = [
    ("payee", {"payee": f'"bob{NUL}"'}, "payee"),
    ("token", {"token": f'"USDT{NUL}"'}, "token"),
    ("description", {"description": f'"hi{NUL}there"'}, "description"),
    ("metadata value", {"metadata": f'{{"order": "A{NUL}1"}}'}, "metadata.order"),
    ("metadata key", {"metadata": f'{{"or{NUL}der": "A1"}}'}, "metadata"),
    ("amount", {"amount": f'"1{NUL}"'}, "amount"),
    ("unknown key", {f"pay{NUL}er": '"alice"'}, None),
]


@pytest.mark.parametrize(
    ("bad", "fields", "param"), STRING_FIELDS, ids=[s[0] for s in STRING_FIELDS]
)
@pytest.mark.parametrize("char", [NUL, SURROGATE], ids=["nul", "lone-surrogate"])
def test_a_string_postgresql_cannot_store_is_refused(
    bad, fields, param, char, endpoint, payer, client_for, money_snapshot
):
    fields = {k.replace(NUL, char): v.replace(NUL, char) for k, v in fields.items()}
    before = money_snapshot()

    response = endpoint.send(client_for(payer), raw_item(**fields))

    status, code, got_param = endpoint.outcome(response)
    assert (status, code) == (400, "invalid_string")
    if param is not None:
        assert got_param == param
    assert money_snapshot() == before


def test_a_batch_item_key_with_nul_is_refused(payer, client_for, money_snapshot):
    before = money_snapshot()
    body = '{"payments": [' + raw_item(idempotency_key=f'"k{NUL}"') + "]}"

    response = client_for(payer).post(BATCH, data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_string"
    assert response.json()["error"]["param"] == "payments[0].idempotency_key"
    assert money_snapshot() == before


def test_an_idempotency_key_header_with_nul_is_refused(endpoint, payer, client_for, money_snapshot):
    before = money_snapshot()

    response = endpoint.send(client_for(payer), good_item(), HTTP_IDEMPOTENCY_KEY="k\x00")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_string"
    assert response.json()["error"]["param"] == "Idempotency-Key"
    assert money_snapshot() == before


@pytest.mark.parametrize(
    "url", ["/api/v1/payments/", "/api/v1/ledger/statement/", "/api/v1/offline/redemptions/"]
)
def test_nul_in_a_query_parameter_is_a_400(url, payer, client_for):
    response = client_for(payer).get(url, {"token": "US\x00DT"})

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid_string",
        "message": "query parameters may not contain NUL",
        "param": "token",
    }


WRONG_TYPES = [
    (field, value)
    for field in ["payee", "token", "amount", "description", "metadata", "latitude"]
    for value in [{}, [], {"a": 1}, ["USDT"]]
    if not (field == "metadata" and isinstance(value, dict))
] + [("metadata", "a string"), ("metadata", 5), ("payee", 5.5), ("token", True)]


@pytest.mark.parametrize(("field", "value"), WRONG_TYPES)
def test_a_wrong_json_type_is_a_400_naming_the_field(
    field, value, endpoint, payer, client_for, money_snapshot
):
    before = money_snapshot()
    item = good_item(**{field: value})
    if field == "latitude":
        item["longitude"] = "1.0"

    response = endpoint.send(client_for(payer), item)

    status, code, param = endpoint.outcome(response)
    assert (status, param) == (400, field)
    assert code is not None and code != "internal_error"
    assert money_snapshot() == before


@pytest.mark.parametrize("value", [{}, [], 5, True, None, ""])
def test_a_batch_items_idempotency_key_of_the_wrong_type_is_refused(
    value, payer, client_for, money_snapshot
):
    before = money_snapshot()

    response = client_for(payer).post(
        BATCH, {"payments": [good_item(idempotency_key=value)]}, format="json"
    )

    (result,) = response.json()["results"]
    assert result["status"] == 400
    assert result["error"]["param"] == "idempotency_key"
    assert money_snapshot() == before


@pytest.mark.parametrize("length", [1, 128, 129, 255])
def test_a_batch_item_key_of_1_to_255_characters_is_stored(length, payer, client_for):
    key = "k" * length
    body = {"payments": [good_item(idempotency_key=key)]}

    first = client_for(payer).post(BATCH, body, format="json").json()["results"][0]
    again = client_for(payer).post(BATCH, body, format="json").json()["results"][0]

    assert (first["status"], again["status"], again["replayed"]) == (201, 200, True)
    assert Payment.objects.get().idempotency_key == key


@pytest.mark.parametrize("key", ["k" * 256, "   ", "tab\there"])
def test_a_batch_item_key_outside_the_rule_is_refused(key, payer, client_for, money_snapshot):
    before = money_snapshot()

    response = client_for(payer).post(
        BATCH, {"payments": [good_item(idempotency_key=key)]}, format="json"
    )

    (result,) = response.json()["results"]
    assert (result["status"], result["error"]["code"]) == (400, "invalid_idempotency_key")
    assert result["error"]["param"] == "idempotency_key"
    assert money_snapshot() == before


@pytest.mark.parametrize("length", [129, 255])
def test_an_idempotency_key_header_up_to_255_characters_works(length, payer, client_for):
    key = "h" * length

    first = client_for(payer).post(SINGLE, good_item(), format="json", HTTP_IDEMPOTENCY_KEY=key)
    again = client_for(payer).post(SINGLE, good_item(), format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert Payment.objects.count() == 1


@pytest.mark.parametrize("field", ["payee", "amount", "token"])
def test_a_duplicate_key_is_refused(field, endpoint, payer, client_for, money_snapshot):
    before = money_snapshot()
    item = raw_item()[:-1] + f', "{field}": "whatever"}}'

    response = endpoint.send(client_for(payer), item)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "duplicate_key"
    assert response.json()["error"]["param"] == field
    assert money_snapshot() == before


def test_a_duplicate_key_at_the_top_of_a_batch_is_refused(payer, client_for, money_snapshot):
    before = money_snapshot()
    item = json.dumps(good_item())
    body = f'{{"payments": [{item}], "payments": [{item}, {item}]}}'

    response = client_for(payer).post(BATCH, data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "duplicate_key"
    assert money_snapshot() == before


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_constants_that_are_not_json_are_refused(constant, endpoint, payer, client_for):
    response = endpoint.send(client_for(payer), raw_item(latitude=constant, longitude="1"))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


@pytest.mark.parametrize(
    ("field", "value"), [("payer", "carol"), ("state", "success"), ("fee", "0"), ("Amount", "9")]
)
def test_an_unknown_field_is_refused_not_ignored(
    field, value, endpoint, payer, client_for, money_snapshot
):
    before = money_snapshot()

    response = endpoint.send(client_for(payer), good_item(**{field: value}))

    assert endpoint.outcome(response) == (400, "unknown_field", field)
    assert money_snapshot() == before


def test_an_unknown_field_beside_a_batchs_payments_is_refused(payer, client_for, money_snapshot):
    before = money_snapshot()

    response = client_for(payer).post(
        BATCH, {"payments": [good_item()], "dry_run": True}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_field"
    assert response.json()["error"]["param"] == "dry_run"
    assert money_snapshot() == before


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/auth/signup/", {"username": "newbie", "is_staff": True}),
        ("/api/v1/api-keys/", {"name": "k", "scopes": ["payments:read"], "owner": "bob"}),
        ("/api/v1/offline/vouchers/", {"certificate": {}, "validity_s": 60, "payer": "x"}),
        ("/api/v1/offline/redemptions/sync/", {"items": [{"payment": "FP1", "extra": 1}]}),
    ],
)
def test_every_endpoint_refuses_unknown_fields(url, body, payer, client_for):
    response = client_for(payer).post(url, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_field"


def test_an_unknown_query_parameter_is_refused(payer, client_for):
    response = client_for(payer).get(SINGLE, {"status": "failed"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_field"
    assert response.json()["error"]["param"] == "status"


def test_an_oversized_body_is_a_413_in_the_envelope(
    endpoint, payer, client_for, money_snapshot, settings
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000
    before = money_snapshot()

    response = endpoint.send(
        client_for(payer),
        good_item(description="x" * 250, metadata={f"k{i}": "v" * 100 for i in range(20)}),
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert money_snapshot() == before


@pytest.mark.parametrize("debug", [True, False])
def test_a_post_without_the_trailing_slash_is_routed(debug, payer, bob, usdt, client_for, settings):
    settings.DEBUG = debug

    single = client_for(payer).post("/api/v1/payments", good_item(), format="json")
    batch = client_for(payer).post(
        "/api/v1/payments/batch", {"payments": [good_item()]}, format="json"
    )

    assert single.status_code == 201
    assert batch.status_code == 200 and batch.json()["succeeded"] == 1
    received = LedgerAccount.objects.get(owner=bob, token=usdt, kind=AccountKind.AVAILABLE)
    assert received.balance == 3_000_000


@pytest.mark.parametrize("debug", [True, False])
def test_a_path_that_names_no_endpoint_is_a_json_404(debug, payer, client_for, settings):
    settings.DEBUG = debug

    response = client_for(payer).post("/api/v1/paymentz", good_item(), format="json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/auth/token/", {"username": "alice", "password": "x", "otp": "1"}),
        ("/api/v1/auth/token/refresh/", {"refresh": "x", "access": "y"}),
    ],
)
def test_the_token_endpoints_refuse_unknown_fields(url, body, alice, client_for):
    response = client_for().post(url, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_field"
