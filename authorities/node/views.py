"""The node's HTTP API (docs/protocol.md): plain Django views, JSON in and out, stable
error codes, never a 500 on bad input. Views parse, call a service or selector, render."""

from __future__ import annotations

import json
import logging
import sys

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from authorities.node import errors, selectors
from authorities.node.runtime import node
from authorities.node.services.batches import batch_sign
from authorities.node.services.certificates import certificates_apply
from authorities.node.services.handover_feed import handover_page, parse_limit
from authorities.node.services.orders import orders_handle
from fastpay_protocol import wire
from fastpay_protocol.wire import MessageError

log = logging.getLogger(__name__)


def _json(data, status: int = 200) -> HttpResponse:
    return HttpResponse(
        json.dumps(data, separators=(",", ":")), status=status, content_type="application/json"
    )


def _error(error: errors.NodeError) -> HttpResponse:
    return _json(error.as_body(), status=error.status_code)


class TooLarge(errors.NodeError):
    code = "too_large"
    status_code = 413
    default_message = "The body is larger than this node accepts."


#: py_ecc (imported through eth-account) raises the recursion limit to 100,000, deep enough
#: for json's C decoder to overflow a thread's C stack on a body like "[[[[…" and kill the
#: worker (SIGSEGV). Nothing in the node recurses deeply: keep the default order of size.
RECURSION_LIMIT = 3000


def _body(request):
    if sys.getrecursionlimit() > RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)
    try:
        return json.loads(request.body)
    except RequestDataTooBig:
        raise TooLarge() from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise errors.InvalidRequest("the body is not JSON") from None


class MethodNotAllowed(errors.NodeError):
    code = "method_not_allowed"
    status_code = 405
    default_message = "Method not allowed."


def api(*methods):
    """Allow ``methods``; render NodeErrors; anything unexpected is logged and answered as
    a JSON 500 (a bug: bad input never gets there)."""
    return lambda view: _wrap(view, methods)


def _wrap(view, methods):
    def wrapped(request, *args, **kwargs):
        try:
            if request.method not in methods:
                raise MethodNotAllowed(f"use {' or '.join(methods)}")
            return view(request, *args, **kwargs)
        except errors.NodeError as error:
            return _error(error)
        except MessageError as error:
            return _error(_invalid(error))
        except Exception:
            log.exception("unhandled error in %s", view.__name__)
            return _json(
                {"error": {"code": "internal_error", "message": "logged", "param": None}}, 500
            )

    wrapped.__name__ = view.__name__
    return csrf_exempt(wrapped)


def _invalid(error: MessageError) -> errors.InvalidRequest:
    """A malformed message as the node's 400 ``invalid_request``."""
    return errors.InvalidRequest(error.message, param=error.param)


def _one(result) -> HttpResponse:
    return _error(result) if isinstance(result, errors.NodeError) else _json(result)


def _many(results) -> HttpResponse:
    return _json(
        {"results": [r.as_body() if isinstance(r, errors.NodeError) else r for r in results]}
    )


def _parse_items(items, parse):
    """Parse each item; a malformed one becomes its own error result."""
    parsed, results = [], [None] * len(items)
    for i, item in enumerate(items):
        try:
            parsed.append((i, parse(item)))
        except MessageError as error:
            results[i] = _invalid(error)
    return parsed, results


@api("POST")
def orders(request):
    signed = wire.parse_signed_order(_body(request))
    return _one(orders_handle(signed_orders=[signed])[0])


@api("POST")
def orders_batch(request):
    items = wire.parse_items(_body(request), "orders", node().max_batch)
    parsed, results = _parse_items(items, wire.parse_signed_order)
    for (i, _), result in zip(
        parsed, orders_handle(signed_orders=[s for _, s in parsed]), strict=True
    ):
        results[i] = result
    return _many(results)


@api("POST")
def certificates(request):
    cert = wire.parse_certificate(_body(request))
    result = certificates_apply(certificates=[cert])[0]
    if isinstance(result, errors.NodeError):
        return _error(result)
    return _json(
        {"applied": result["applied"], "account": selectors.account_info(cert.order.sender)}
    )


@api("POST")
def certificates_batch(request):
    items = wire.parse_items(_body(request), "certificates", node().max_batch)
    parsed, results = _parse_items(items, wire.parse_certificate)
    for (i, _), result in zip(
        parsed, certificates_apply(certificates=[c for _, c in parsed]), strict=True
    ):
        results[i] = result
    return _many(results)


@api("GET")
def account(request, address):
    return _json(selectors.account_info(wire.parse_address(address, "address")))


@api("GET")
def account_certificates(request, address):
    address = wire.parse_address(address, "address")
    raw = request.GET.get("from_sequence", "0")
    if not raw.isdigit() or int(raw) > wire.UINT64_MAX:
        raise errors.InvalidRequest("expected a non-negative integer", param="from_sequence")
    return _json({"certificates": selectors.certificates_from(address, int(raw))})


@api("GET")
def committee(request):
    return _json(selectors.committee_info())


@api("POST")
def batches(request):
    body = _body(request)
    if not isinstance(body, dict):
        raise errors.InvalidRequest("expected a JSON object")
    epoch = wire.parse_uint(body.get("epoch"), "epoch", wire.UINT64_MAX)
    batch_id = wire.parse_uint(body.get("batch_id"), "batch_id", wire.UINT64_MAX)
    items = wire.parse_items(body, "certificates", node().max_batch)
    certs = [wire.parse_certificate(c, f"certificates[{i}]") for i, c in enumerate(items)]
    return _json(batch_sign(epoch=epoch, batch_id=batch_id, certificates=certs))


@api("GET")
def handover(request):
    raw = request.GET.get("epoch")
    if raw is None or not raw.isdigit() or int(raw) > wire.UINT64_MAX:
        raise errors.InvalidRequest("expected a non-negative integer", param="epoch")
    return _json(
        handover_page(
            epoch=int(raw),
            after=request.GET.get("after"),
            limit=parse_limit(request.GET.get("limit")),
        )
    )


@api("GET")
def health(request):
    return _json(selectors.health())


@api("GET", "POST", "PUT", "PATCH", "DELETE")
def not_found(request, *args, **kwargs):
    raise errors.NotFound()
