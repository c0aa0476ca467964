"""Refusals that must happen before a view runs, for /api/ paths only (admin keeps Django's).

- A body larger than DATA_UPLOAD_MAX_MEMORY_SIZE answers 413 `payload_too_large` in the
  error envelope (Django would raise RequestDataTooBig, a 500, at the first body read).
- NUL in a query parameter or a header answers 400 `invalid_string` naming it: PostgreSQL
  refuses NUL in text, so it was a 500 at the first query using it.
- A path without its trailing slash is routed to the view it names (CommonMiddleware's
  APPEND_SLASH would answer a 301 that clients follow with a GET and no body, or, in
  DEBUG, a 500 for a POST); a path that names no view answers a JSON 404 even in DEBUG.

Sits before CommonMiddleware, so APPEND_SLASH never sees an API path.
"""

from django.conf import settings
from django.http import JsonResponse
from django.urls import Resolver404, resolve

from fastpay.errors import error_body, param_clip

API_PREFIX = "/api/"


def _error(status: int, code: str, message: str, param: str | None = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, param), status=status)


def _too_large(request) -> JsonResponse | None:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error(400, "invalid_header", "Content-Length is not a number", "Content-Length")
    if limit is not None and length > limit:
        return _error(
            413, "payload_too_large", f"the body is larger than {limit} bytes", "Content-Length"
        )
    return None


def _nul(request) -> JsonResponse | None:
    for name, values in request.GET.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            return _error(
                400, "invalid_string", "query parameters may not contain NUL", param_clip(name)
            )
    for name, value in request.headers.items():
        if "\x00" in value:
            return _error(400, "invalid_string", "headers may not contain NUL", name)
    return None


def _route(request) -> JsonResponse | None:
    try:
        resolve(request.path_info)
        return None
    except Resolver404:
        pass
    if not request.path_info.endswith("/"):
        try:
            resolve(request.path_info + "/")
        except Resolver404:
            pass
        else:
            request.path_info += "/"
            request.path += "/"
            return None
    return _error(404, "not_found", "No such endpoint.")


class ApiRequestMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith(API_PREFIX):
            refused = _too_large(request) or _nul(request) or _route(request)
            if refused is not None:
                return refused
        return self.get_response(request)
