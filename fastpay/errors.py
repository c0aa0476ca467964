"""Domain errors and the one DRF exception handler that renders every API error.

Every error leaves the API as {"error": {"code", "message", "param"}} with a 4xx status;
`code` is stable and documented (docs/api.md), `param` names the offending field when
there is one. A 5xx is a bug.
"""

import logging
import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A business rule refused the operation. Services raise; one handler renders."""

    code = "domain_error"
    status_code = status.HTTP_400_BAD_REQUEST
    default_message = "The request was refused."

    def __init__(self, message: str | None = None, *, param: str | None = None, code=None):
        self.message = message or self.default_message
        self.param = param
        if code:
            self.code = code
        super().__init__(self.message)

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "param": self.param}


class NotFound(DomainError):
    code = "not_found"
    status_code = status.HTTP_404_NOT_FOUND
    default_message = "No such object."


class Conflict(DomainError):
    code = "conflict"
    status_code = status.HTTP_409_CONFLICT


class IdempotencyError(Conflict):
    code = "idempotency_error"
    default_message = "This Idempotency-Key was already used with a different request."


class InvalidIdempotencyKey(DomainError):
    code = "invalid_idempotency_key"


class IdempotencyInProgress(Conflict):
    """A request with this Idempotency-Key is still being processed: retry later."""

    code = "idempotency_in_progress"
    default_message = (
        "A request with this Idempotency-Key is still in progress; retry after it completes."
    )


class InvalidScope(DomainError):
    code = "invalid_scope"


class InvalidString(DomainError):
    code = "invalid_string"
    default_message = "Strings may not contain NUL or unpaired surrogate characters."


class DuplicateKey(DomainError):
    code = "duplicate_key"


class InvalidCursor(DomainError):
    code = "invalid_cursor"
    default_message = "The cursor is not one this list gave out; start again without it."


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_message = "The request body is too large."


# A message or param may quote the client's input (DRF's '"x" is not a valid choice.'):
# never more than this many characters of it go back, so an error cannot be made to echo
# megabytes, and a log line stays a line.
MAX_ECHO = 200


def text_clip(text: str, limit: int = MAX_ECHO) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def param_clip(param: str | None) -> str | None:
    return None if param is None else text_clip(param)


def _details_clip(detail):
    if isinstance(detail, dict):
        return {text_clip(str(k)): _details_clip(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_details_clip(v) for v in detail]
    if isinstance(detail, str):
        return exceptions.ErrorDetail(text_clip(detail), getattr(detail, "code", None))
    return detail


def error_body(code: str, message: str, param: str | None = None, **extra) -> dict:
    body = {"code": code, "message": text_clip(str(message)), "param": param_clip(param)}
    body.update(extra)
    return {"error": body}


def first_field_error(detail, prefix: str = "") -> tuple[str | None, exceptions.ErrorDetail]:
    """Walk DRF's nested validation detail to the first leaf; return (dotted path, error)."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):  # ListField/ListSerializer errors are keyed by index
                return first_field_error(value, f"{prefix}[{key}]")
            name = "" if key == "non_field_errors" else str(key)
            path = f"{prefix}.{name}" if prefix and name else (name or prefix)
            return first_field_error(value, path)
    if isinstance(detail, list) and detail:
        for index, value in enumerate(detail):
            if value in ({}, [], None):
                continue
            path = prefix
            if isinstance(value, dict | list):
                path = f"{prefix}[{index}]"
            return first_field_error(value, path)
    return (prefix or None), detail


# DRF's own codes are stable API codes, except "throttled", which we call "rate_limited".
_RENAMED_CODES = {"throttled": "rate_limited"}


def _plain_message(exc: exceptions.APIException) -> str:
    """One sentence for the client, never the repr of a dict or list (simplejwt's errors
    carry {"detail", "code", "messages"})."""
    detail = exc.detail
    if getattr(exc, "default_code", None) == "token_not_valid":
        return "The access token is invalid or expired; log in again for a new one."
    if isinstance(detail, dict):
        detail = detail.get("detail") or first_field_error(detail)[1]
    if isinstance(detail, list):
        detail = first_field_error(detail)[1]
    return str(detail)


def api_exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    if isinstance(exc, DomainError):
        return Response(error_body(**exc.as_dict()), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, exceptions.ValidationError):
        param, leaf = first_field_error(exc.detail)
        # DRF's error codes ("required", "invalid", "max_value", our own "invalid_amount")
        # are stable, so they are the API's codes; `details` carries every field's errors.
        code = getattr(leaf, "code", None) or "invalid"
        body = error_body(code, str(leaf), param, details=_details_clip(exc.detail))
        return Response(body, status=status.HTTP_400_BAD_REQUEST)

    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        code = _RENAMED_CODES.get(code, code)
        response = Response(error_body(code, _plain_message(exc)), status=exc.status_code)
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            response["Retry-After"] = str(max(1, math.ceil(exc.wait)))
        if getattr(exc, "auth_header", None):
            response["WWW-Authenticate"] = exc.auth_header
        return response

    log.exception("unhandled API error", exc_info=exc)
    return Response(
        error_body("internal_error", "Something went wrong on our side; it has been logged."),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
