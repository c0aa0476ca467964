"""Idempotency-Key handling for money-moving POSTs, with Stripe's semantics, and no
database transaction held across the request's work.

A keyed request goes through three steps:

1. **Reserve** (one short transaction): the (user, key) row is inserted or locked. The
   same key with a different request (method, path, body) is a 409 idempotency_error; a
   stored response is replayed (`Idempotent-Replayed: true`); a key still in flight under
   an unexpired lease is a 409 idempotency_in_progress (retry later). A key whose lease
   expired (its request crashed) is taken over and the request runs again.
2. **Run** the view. Its use case runs its own transaction(s).
3. **Store** the response, when it is a decision (2xx, or a refusal such as
   insufficient_funds) — or **release** the key when it is not: validation and lookup
   errors (400, 404) so the corrected request can use the key, temporary refusals (429,
   payments_paused) and 5xx (a retry runs again).

A crash between the use case's commit and step 3 must not allow a second effect when the
lease expires, so each view says how its effect is made safe:

- ``@idempotent`` (the default, for views that do no network I/O): step 2 and the storing
  of step 3 share one transaction, so the effect and its stored response commit together
  or not at all. It is short: a view of this kind only touches the database.
- ``@idempotent(atomic=False)`` (views that call the committee or a chain): the view runs
  outside any transaction and its use case must be idempotent by itself under the key
  (the effect row carries it under a unique constraint, e.g. OfflineTransfer's), so a
  re-run after a crash finds the effect and answers with it.

Keys are scoped per user, 1-255 printable ASCII characters (one Idempotency-Key header: a
repeated header arrives joined by commas and is refused), and kept
FASTPAY_IDEMPOTENCY_TTL_HOURS (purged by a beat task).
"""

import functools
import hashlib
import json
import uuid
from contextlib import nullcontext
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from fastpay.errors import (
    DomainError,
    IdempotencyError,
    IdempotencyInProgress,
    InvalidIdempotencyKey,
    api_exception_handler,
)
from fastpay.idempotency_keys import MAX_KEY_LENGTH, idempotency_key_validate
from fastpay.locks import for_update
from fastpay.models import IdempotencyRecord

HEADER = "Idempotency-Key"
# Refusals that are not stored: the client fixes the request (400, 404) or waits (429,
# a paused token) and retries with the same key. 5xx are never stored either.
NOT_STORED_STATUSES = frozenset({400, 401, 404, 413, 429})
NOT_STORED_CODES = frozenset({"payments_paused"})

__all__ = ["HEADER", "MAX_KEY_LENGTH", "idempotency_purge", "idempotent", "request_fingerprint"]


def request_fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    raw = f"{request.method}\n{request.path}\n{body}"
    return hashlib.sha256(raw.encode()).hexdigest()


def idempotency_header_key(request) -> str | None:
    """The request's Idempotency-Key, validated; None without the header."""
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    if "," in raw:
        # WSGI and ASGI servers join repeated headers with commas: two keys, not one
        raise InvalidIdempotencyKey(
            f"send one {HEADER} header (a key cannot contain a comma)",
            param=HEADER,
            code="duplicate_idempotency_key",
        )
    return idempotency_key_validate(raw, HEADER)


def idempotent(view_method=None, *, atomic: bool = True):
    """Wrap a DRF view method with keyed replay (see the module docstring). ``atomic=False``
    for views that do network I/O and whose use case is idempotent under the key."""
    if view_method is None:
        return functools.partial(idempotent, atomic=atomic)

    @functools.wraps(view_method)
    def wrapper(view, request, *args, **kwargs):
        key = idempotency_header_key(request)
        if key is None:
            return view_method(view, request, *args, **kwargs)
        record, replay = _reserve(request.user, key, request_fingerprint(request))
        if replay is not None:
            return replay
        try:
            response, error, stored = _run(view_method, view, request, args, kwargs, record, atomic)
        except BaseException:
            _release(record)
            raise
        if not stored:
            _release(record)
            if error is not None:
                raise error  # rendered by DRF's handler, as without a key
        return response

    return wrapper


def _reserve(user, key: str, fingerprint: str) -> tuple[IdempotencyRecord, Response | None]:
    """Step 1: take the key (a fresh lease) or answer from it. Short: no I/O."""
    now = timezone.now()
    lease = uuid.uuid4()
    with transaction.atomic():
        # INSERT ... ON CONFLICT DO NOTHING waits only for a concurrent reservation of the
        # same key (this same short transaction), never for a request's work.
        IdempotencyRecord.objects.bulk_create(
            [
                IdempotencyRecord(
                    user=user, key=key, request_hash=fingerprint, lease_id=lease, locked_at=now
                )
            ],
            ignore_conflicts=True,
        )
        record = for_update(IdempotencyRecord.objects).get(user=user, key=key)
        if record.request_hash != fingerprint:
            raise IdempotencyError(param=HEADER)
        if record.response_status is not None:
            replay = Response(record.response_body, status=record.response_status)
            replay["Idempotent-Replayed"] = "true"
            return record, replay
        if record.lease_id != lease:
            lease_s = timedelta(seconds=settings.FASTPAY_IDEMPOTENCY_LEASE_S)
            if record.locked_at is not None and record.locked_at + lease_s > now:
                raise IdempotencyInProgress(param=HEADER)
            # the request holding it crashed (or outlived its lease): take it over
            record.lease_id, record.locked_at = lease, now
            record.save(update_fields=["lease_id", "locked_at"])
    return record, None


def _run(view_method, view, request, args, kwargs, record, atomic: bool):
    """Step 2 and 3: (response, the domain error it renders or None, stored?)."""
    with transaction.atomic() if atomic else nullcontext():
        error = None
        try:
            response = view_method(view, request, *args, **kwargs)
        except exceptions.ValidationError:
            raise
        except (DomainError, exceptions.APIException) as exc:
            error = exc
            response = api_exception_handler(exc, {"view": view, "request": request})
        if not _storable(response):
            if atomic:
                transaction.set_rollback(True)  # nothing it did is kept: a retry runs again
            return response, error, False
        if atomic:
            _store(record, response)  # commits with the effect, or not at all
    if not atomic:
        _store(record, response)
    return response, error, True


def _storable(response) -> bool:
    if response.status_code >= 500 or response.status_code in NOT_STORED_STATUSES:
        return False
    error = response.data.get("error") if isinstance(response.data, dict) else None
    return not (isinstance(error, dict) and error.get("code") in NOT_STORED_CODES)


def _store(record: IdempotencyRecord, response) -> None:
    body = json.loads(JSONRenderer().render(response.data) or b"null")
    # compare-and-set on our lease: a request that took the key over after our lease
    # expired answers for it (its use case found our effect), ours is not written over it
    IdempotencyRecord.objects.filter(
        pk=record.pk, lease_id=record.lease_id, response_status__isnull=True
    ).update(response_status=response.status_code, response_body=body)


def _release(record: IdempotencyRecord) -> None:
    IdempotencyRecord.objects.filter(
        pk=record.pk, lease_id=record.lease_id, response_status__isnull=True
    ).delete()


def idempotency_purge(*, now=None) -> int:
    """Delete keys older than the retention window; return how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.FASTPAY_IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
