"""Idempotency-Key handling for money-moving POSTs, with Stripe's semantics.

- The same key with the same request replays the first response and status.
- The same key with a different request (method, path or body) is a 409 idempotency_error.
- A concurrent duplicate waits on the first request's row lock and then replays it, so it
  can never make a second payment.
- Requests that fail validation (400 before any work) are not saved; domain refusals
  (insufficient funds, ...) are, like Stripe's declines. A 5xx (e.g. 503 while the
  committee is unreachable) rolls everything back and is not saved: a retry runs again.
- Keys are scoped per user and kept FASTPAY_IDEMPOTENCY_TTL_HOURS (purged by a beat task).
"""

import functools
import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from fastpay.errors import DomainError, IdempotencyError, api_exception_handler
from fastpay.idempotency_keys import idempotency_key_validate
from fastpay.models import IdempotencyRecord

HEADER = "Idempotency-Key"  # its rule (1-255 printable characters): fastpay/idempotency_keys.py


def request_fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    raw = f"{request.method}\n{request.path}\n{body}"
    return hashlib.sha256(raw.encode()).hexdigest()


def idempotent(view_method):
    """Wrap a DRF view method: one transaction for the whole request, keyed replay."""

    @functools.wraps(view_method)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            with transaction.atomic():
                return view_method(view, request, *args, **kwargs)
        idempotency_key_validate(key, HEADER)
        fingerprint = request_fingerprint(request)
        with transaction.atomic():
            # INSERT ... ON CONFLICT DO NOTHING blocks on a concurrent uncommitted insert of
            # the same key until that transaction ends; the lock below then sees its result.
            IdempotencyRecord.objects.bulk_create(
                [IdempotencyRecord(user=request.user, key=key, request_hash=fingerprint)],
                ignore_conflicts=True,
            )
            record = IdempotencyRecord.objects.select_for_update(no_key=True).get(
                user=request.user, key=key
            )
            if record.request_hash != fingerprint:
                raise IdempotencyError(param=HEADER)
            if record.response_status is not None:
                replay = Response(record.response_body, status=record.response_status)
                replay["Idempotent-Replayed"] = "true"
                return replay
            try:
                response = view_method(view, request, *args, **kwargs)
            except exceptions.ValidationError:
                raise  # not saved: the transaction rolls the record back
            except (DomainError, exceptions.APIException) as exc:
                response = api_exception_handler(exc, {"view": view, "request": request})
            if response.status_code >= 500:
                # A temporary failure (503: no quorum, no committee): store nothing and
                # roll back, so a retry with the same key runs the request again.
                transaction.set_rollback(True)
                return response
            record.response_status = response.status_code
            record.response_body = json.loads(JSONRenderer().render(response.data) or b"null")
            record.save(update_fields=["response_status", "response_body"])
            return response

    return wrapper


def idempotency_purge(*, now=None) -> int:
    """Delete keys older than the retention window; return how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.FASTPAY_IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
