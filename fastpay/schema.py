"""The OpenAPI schema (drf-spectacular), made to tell the truth in one place.

Views declare what is theirs with @extend_schema (summary, request, success responses,
examples, the statuses of their domain errors through `error()`). Everything the
framework does the same way for every view is added here, from what the view really has:

- every 4xx the operation can return, with the error envelope of fastpay/errors.py:
  400 (always: fastpay/api_middleware.py refuses a NUL in any query parameter or header
  before the view runs), 401/403 (credentials and permissions), 404 (a path parameter),
  409 (Idempotency-Key reuse or still in flight), 413/415 (a request body), 429
  (throttles, with Retry-After), and Idempotent-Replayed on a replayed 2xx;
- one tag per area of the API (SPECTACULAR_SETTINGS["TAGS"] describes them);
- the plain Django endpoints (the ping and the probes), which drf-spectacular cannot see.

Paginated lists declare `pagination_class` on the view: drf-spectacular then documents the
cursor page ({"next", "previous", "results"}) and its `cursor`/`limit` parameters.
"""

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers

# The rule of fastpay/idempotency_keys.py as a client should follow it: printable ASCII,
# no surrounding whitespace (HTTP strips it from a header anyway). A batch item's key.
IDEMPOTENCY_KEY_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": 255,
    "pattern": r"^[!-~]([ -~]*[!-~])?$",
}
# The header's: no comma either, since servers join repeated headers with commas
# (fastpay/idempotency.py refuses one as duplicate_idempotency_key).
IDEMPOTENCY_HEADER_SCHEMA = IDEMPOTENCY_KEY_SCHEMA | {
    "pattern": r"^[!-+\--~]([ -+\--~]*[!-+\--~])?$"
}

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    IDEMPOTENCY_HEADER_SCHEMA,
    OpenApiParameter.HEADER,
    description="1-255 printable ASCII characters, no comma, spaces only inside; unique per "
    "request you mean to make once, e.g. a UUID. Retrying with the same key and body replays the "
    "first response (header Idempotent-Replayed: true); the same key with a different body "
    "is refused with 409 idempotency_error, and while its first request still runs with 409 "
    "idempotency_in_progress. Keys are kept FASTPAY_IDEMPOTENCY_TTL_HOURS.",
    examples=[OpenApiExample("uuid", value="7c4f9d1e-3b8a-4f0e-9a61-2d5b8c7e1f03")],
)


REPLAYED = {
    "Idempotent-Replayed": {
        "schema": {"type": "string", "enum": ["true"]},
        "description": "Present on a replay: this is the stored answer to the first request "
        "with this Idempotency-Key, nothing was done again.",
    }
}


class ApiErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code (docs/api.md).")
    message = serializers.CharField(help_text="For humans; may change.")
    param = serializers.CharField(
        allow_null=True, help_text="The offending field, parameter or header, if any."
    )
    details = serializers.JSONField(
        required=False, help_text="400 validation errors only: every field's messages."
    )


class ErrorResponseSerializer(serializers.Serializer):
    error = ApiErrorSerializer()


def _example(code: str, message: str, param: str | None = None) -> OpenApiExample:
    return OpenApiExample(code, value={"error": {"code": code, "message": message, "param": param}})


def error(description: str, *examples: tuple) -> OpenApiResponse:
    """An error response for @extend_schema(responses={402: error("...")}); each example is
    (code, message[, param])."""
    return OpenApiResponse(
        ErrorResponseSerializer,
        description=description,
        examples=[_example(*example) for example in examples],
    )


def _response(description: str, *examples: tuple, headers: dict | None = None) -> dict:
    """A components/responses entry with the error envelope and (code, message) examples."""
    content = {
        "schema": {"$ref": "#/components/schemas/ErrorResponse"},
        "examples": {
            code: {"value": {"error": {"code": code, "message": message, "param": param}}}
            for code, message, param in examples
        },
    }
    response = {"description": description, "content": {"application/json": content}}
    if headers:
        response["headers"] = headers
    return response


# The 4xx every view gets from the framework, by status: (component name, response).
GENERIC_ERRORS = {
    "400": (
        "BadRequest",
        _response(
            "Invalid input: `code` names the rule, `param` the field, parameter or header; "
            "`details` lists every field's errors. A NUL character in any query parameter "
            "or header is refused too (invalid_string).",
            ("invalid_amount", 'send the amount as a decimal string, e.g. "12.50"', "amount"),
            ("required", "This field is required.", "token"),
        ),
    ),
    "401": (
        "Unauthenticated",
        _response(
            "No credentials, or invalid or expired ones.",
            ("not_authenticated", "Authentication credentials were not provided.", None),
            ("authentication_failed", "invalid or revoked API key", None),
        ),
    ),
    "403": (
        "Forbidden",
        _response(
            "These credentials may not do this: account not approved or suspended, an API "
            "key without the scope or where a login is required, a CSRF failure (session).",
            ("permission_denied", "this API key lacks the payments:write scope", None),
            ("account_not_approved", "your account is not approved yet", None),
            ("account_suspended", "your account is suspended; contact support", None),
        ),
    ),
    "404": (
        "NotFound",
        _response("No such object (or not yours).", ("not_found", "no such payment", "payment_id")),
    ),
    "409": (
        "IdempotencyConflict",
        _response(
            "This Idempotency-Key was used with a different request (idempotency_error), or "
            "its first request is still running (idempotency_in_progress: retry later).",
            (
                "idempotency_error",
                "This Idempotency-Key was already used with a different request.",
                "Idempotency-Key",
            ),
            (
                "idempotency_in_progress",
                "A request with this Idempotency-Key is still in progress; retry later.",
                "Idempotency-Key",
            ),
        ),
    ),
    "413": (
        "PayloadTooLarge",
        _response(
            "The request body is larger than the platform accepts.",
            ("payload_too_large", "the body is larger than 2621440 bytes", "Content-Length"),
        ),
    ),
    "415": (
        "UnsupportedMediaType",
        _response(
            "The body is not application/json.",
            ("unsupported_media_type", 'Unsupported media type "text/plain" in request.', None),
        ),
    ),
    "429": (
        "RateLimited",
        _response(
            "Rate limited: retry after the number of seconds in Retry-After.",
            ("rate_limited", "Request was throttled. Expected available in 3 seconds.", None),
            headers={
                "Retry-After": {
                    "schema": {"type": "integer", "minimum": 1},
                    "description": "Seconds to wait before retrying.",
                }
            },
        ),
    ),
}

# (path prefix under /api/v1/, tag): the first match wins.
TAG_PREFIXES = [
    ("auth/", "auth"),
    ("me/", "auth"),
    ("tokens/", "tokens"),
    ("balances/", "balances"),
    ("payments/", "payments"),
    ("ledger/", "ledger"),
    ("api-keys/", "api-keys"),
    ("deposit-addresses/", "deposits"),
    ("holds/", "escrow"),
    ("rates/", "rates"),
    ("invoices/", "invoices"),
    ("chain-redemptions/", "settlement"),
    ("payouts/", "payouts"),
    ("offline/vouchers/", "vouchers"),
    ("offline/redemptions/", "terminals"),
    ("offline/terminal/", "terminals"),
    ("offline/", "offline"),
    ("events/", "events"),
    ("webhook-endpoints/", "webhooks"),
    ("stream-tickets/", "streams"),
    ("notification-preferences/", "notifications"),
    ("ping/", "health"),
]


def tag_for(path: str) -> str | None:
    rest = path.removeprefix("/api/v1/")
    return next((tag for prefix, tag in TAG_PREFIXES if rest.startswith(prefix)), None)


class AutoSchema(openapi.AutoSchema):
    def get_tags(self) -> list[str]:
        tag = tag_for(self.path)
        return [tag] if tag else super().get_tags()

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation["responses"]
        statuses = [status for status in self._error_statuses(operation) if status not in responses]
        if statuses:
            self.resolve_serializer(ErrorResponseSerializer, "response")  # registers it
        for status in statuses:
            name, _ = GENERIC_ERRORS[status]
            responses[status] = {"$ref": f"#/components/responses/{name}"}
        if _takes_idempotency_key(operation):
            for status, response in responses.items():
                if status.startswith("2"):
                    response.setdefault("headers", {}).update(REPLAYED)
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _error_statuses(self, operation: dict) -> list[str]:
        parameters = operation.get("parameters", [])
        where = {parameter["in"] for parameter in parameters}
        body = "requestBody" in operation
        authenticated = bool(operation.get("security")) or _is_token_view(self.view)
        statuses = ["400"]
        if authenticated:
            statuses.append("401")
        if operation.get("security"):
            statuses.append("403")
        if "path" in where:
            statuses.append("404")
        if _takes_idempotency_key(operation):
            statuses.append("409")
        if body:
            statuses += ["413", "415"]
        if self.view.get_throttles():
            statuses.append("429")
        return statuses


def _takes_idempotency_key(operation: dict) -> bool:
    return any(p["name"] == IDEMPOTENCY_KEY.name for p in operation.get("parameters", []))


def _is_token_view(view) -> bool:
    from rest_framework_simplejwt.views import TokenViewBase

    return isinstance(view, TokenViewBase)


_CREDENTIALS = {"username": "alice", "password": "correct horse battery"}


class TokenObtainPairViewSchema(OpenApiViewExtension):
    target_class = "rest_framework_simplejwt.views.TokenObtainPairView"

    def view_replacement(self):
        @extend_schema_view(
            post=extend_schema(
                summary="Log in: a JWT access and refresh token pair",
                description="The access token (15 minutes) goes in `Authorization: Bearer "
                "<access>`; the refresh token (7 days) buys new access tokens.",
                examples=[OpenApiExample("login", value=_CREDENTIALS, request_only=True)],
            )
        )
        class Fixed(self.target_class):
            pass

        return Fixed


class TokenRefreshViewSchema(OpenApiViewExtension):
    target_class = "rest_framework_simplejwt.views.TokenRefreshView"

    def view_replacement(self):
        @extend_schema_view(post=extend_schema(summary="A new access token for a refresh token"))
        class Fixed(self.target_class):
            pass

        return Fixed


def _plain(name: str, summary: str, description: str, properties: dict, statuses=("200",)):
    schema = {"type": "object", "properties": properties, "required": list(properties)}
    content = {"application/json": {"schema": schema}}
    return {
        "get": {
            "operationId": name,
            "summary": summary,
            "description": description,
            "tags": ["health"],
            "responses": {status: {"description": "", "content": content} for status in statuses},
        }
    }


PING = _plain(
    "ping",
    "Ping",
    "Answers without touching the database or credentials: the framework's own "
    "latency (bench/payments.py).",
    {"pong": {"type": "boolean"}},
)
# under /api/: fastpay/api_middleware.py refuses a NUL in a query parameter or header
PING["get"]["responses"]["400"] = {"$ref": "#/components/responses/BadRequest"}


PLAIN_PATHS = {
    "/api/v1/ping/": PING,
    "/healthz": _plain(
        "healthz",
        "Liveness probe",
        "The process answers.",
        {"status": {"type": "string", "enum": ["ok"]}},
    ),
    "/readyz": _plain(
        "readyz",
        "Readiness probe",
        "The database answers, and the cache when REDIS_URL is set: 200, or 503 with "
        "the failing checks.",
        {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "checks": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        statuses=("200", "503"),
    ),
}


def postprocess(result, generator, request, public):
    """SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]: the shared error responses the
    operations refer to, and the plain Django endpoints."""
    responses = result.setdefault("components", {}).setdefault("responses", {})
    responses.update(dict(GENERIC_ERRORS.values()))
    for path, item in PLAIN_PATHS.items():
        result["paths"].setdefault(path, item)
    return result
