"""The OpenAPI schema says what the code does (fastpay/schema.py, @extend_schema): every
endpoint is in it, every operation has a tag and a summary, and the 4xx an operation can
return are documented with the error envelope. tests/api/test_schemathesis.py checks the
responses themselves."""

import re

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

NOT_IN_THE_SCHEMA = {"/admin/", "/api/schema/", "/api/docs/", "/metrics", "/live/"}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _routes(patterns, prefix=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_every_endpoint_is_in_the_schema(schema):
    routes = {
        route
        for route in _routes(get_resolver().url_patterns)
        if not any(route.startswith(skipped) for skipped in NOT_IN_THE_SCHEMA)
    }

    assert routes - set(schema["paths"]) == set()
    assert "/api/v1/ping/" in schema["paths"]


def test_every_operation_has_a_known_tag_and_a_summary(schema):
    tags = {tag["name"] for tag in settings.SPECTACULAR_SETTINGS["TAGS"]}
    for name, operation in _operations(schema):
        assert operation.get("summary"), name
        assert len(operation["tags"]) == 1 and operation["tags"][0] in tags, name


def test_every_api_error_is_the_envelope(schema):
    envelope = {"$ref": "#/components/schemas/ErrorResponse"}
    shared = schema["components"]["responses"]
    for name, operation in _operations(schema):
        if not name.split()[1].startswith("/api/"):
            continue
        errors = {s: r for s, r in operation["responses"].items() if s.startswith("4")}
        assert "400" in errors, name
        if operation.get("security"):
            assert {"401", "403", "429"} <= set(errors), name
        for status, response in errors.items():
            if "$ref" in response:
                response = shared[response["$ref"].rsplit("/", 1)[1]]
            assert response["content"]["application/json"]["schema"] == envelope, (name, status)


def test_money_moving_posts_document_the_idempotency_key(schema):
    moving = [
        "POST /api/v1/payments/",
        "POST /api/v1/payments/batch/",
        "POST /api/v1/payments/{payment_id}/refunds/",
        "POST /api/v1/offline/fund/",
        "POST /api/v1/offline/defund/",
    ]
    operations = dict(_operations(schema))
    for name in moving:
        (key,) = [p for p in operations[name]["parameters"] if p["name"] == "Idempotency-Key"]
        assert key["in"] == "header"
        assert key["schema"]["minLength"] == 1 and key["schema"]["maxLength"] == 255
        assert re.fullmatch(key["schema"]["pattern"], "7c4f9d1e-3b8a-4f0e-9a61-2d5b8c7e1f03")
        assert not re.fullmatch(key["schema"]["pattern"], " padded ")
        assert not re.fullmatch(key["schema"]["pattern"], "two,keys")  # joined headers
        assert "409" in operations[name]["responses"], name


def test_lists_are_documented_as_cursor_pages(schema):
    lists = [
        "GET /api/v1/payments/",
        "GET /api/v1/ledger/statement/",
        "GET /api/v1/api-keys/",
        "GET /api/v1/offline/transfers/",
        "GET /api/v1/offline/vouchers/",
        "GET /api/v1/offline/redemptions/",
    ]
    operations = dict(_operations(schema))
    for name in lists:
        ref = operations[name]["responses"]["200"]["content"]["application/json"]["schema"]
        page = schema["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
        assert {"next", "previous", "results"} <= set(page["properties"]), name
        assert {"cursor", "limit"} <= {p["name"] for p in operations[name]["parameters"]}


def test_revoking_an_api_key_is_documented_as_the_200_it_answers(schema):
    responses = schema["paths"]["/api/v1/api-keys/{key_id}/"]["delete"]["responses"]

    assert "204" not in responses
    assert responses["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ApiKey"
    }
