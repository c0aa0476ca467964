from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

from fastpay.errors import DomainError


class InvalidCursor(DomainError):
    code = "invalid_cursor"
    default_message = "The cursor is not one this list gave out; start again without it."


class CreatedCursorPagination(CursorPagination):
    """Newest first, stable under inserts (cursor, not offset)."""

    ordering = "-created_at"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200

    def decode_cursor(self, request):
        # DRF answers a bad cursor with 404 "Invalid cursor": it is bad input, a 400.
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise InvalidCursor(param=self.cursor_query_param) from None


class IdCursorPagination(CreatedCursorPagination):
    ordering = "-id"
