import binascii
from base64 import b64decode

from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

from fastpay.errors import InvalidCursor


class CreatedCursorPagination(CursorPagination):
    """Newest first, stable under inserts (cursor, not offset).

    A cursor this list did not give out is a 400 `invalid_cursor`: DRF answers a 404, reads
    base64 leniently (so "%%%" is the first page) and hands an unparseable position to the
    database (a 500 on the created_at filter)."""

    ordering = "-created_at"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200

    def position_valid(self, position: str) -> bool:
        return parse_datetime(position) is not None

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            b64decode(encoded.encode("ascii"), validate=True)
            cursor = super().decode_cursor(request)
            valid = cursor.position is None or self.position_valid(cursor.position)
        except (NotFound, UnicodeEncodeError, binascii.Error, ValueError):
            valid = False
        if not valid:
            raise InvalidCursor(param=self.cursor_query_param)
        return cursor


class IdCursorPagination(CreatedCursorPagination):
    ordering = "-id"

    def position_valid(self, position: str) -> bool:
        return position.isascii() and position.isdigit()


def paginated_response(view, request, queryset, serializer_class, context=None):
    """One cursor page of ``queryset`` rendered by ``serializer_class``, paginated by the
    view's own ``pagination_class`` (the one its schema documents)."""
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    rendered = serializer_class(page, many=True, context=context or {}).data
    return paginator.get_paginated_response(rendered)
