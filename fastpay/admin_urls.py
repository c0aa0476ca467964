"""Malformed admin object URLs are 404s, for every ModelAdmin at once.

Django's ModelAdmin.get_object turns a primary key that does not parse into "no such
object", but not one the database refuses (an integer out of the column's range: an
OverflowError on SQLite, a DataError on PostgreSQL; a NUL in a text key), and custom
change views that look the object up themselves (`get_object_or_404(pk=object_id)`) do not
even get that far: a ValueError, a 500. This middleware checks the `object_id` of every
admin view against its model's primary key before the view runs, so no admin view, now
or later, sees a key that cannot exist.
"""

from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import Http404


def pk_text_valid(model, text: str) -> bool:
    """True when `text` can be a primary key of `model` in this database."""
    field = model._meta.pk
    while field.is_relation:  # e.g. a OneToOne primary key: the target's type decides
        field = field.target_field
    if "\x00" in text:
        return False
    try:
        value = field.to_python(text)
    except (ValidationError, ValueError, TypeError, OverflowError):
        return False
    if isinstance(value, int) and not isinstance(value, bool):
        low, high = connection.ops.integer_field_range(field.get_internal_type())
        if (low is not None and value < low) or (high is not None and value > high):
            return False
    return True


class AdminObjectIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        model_admin = getattr(view_func, "model_admin", None)  # set by ModelAdmin.get_urls
        object_id = view_kwargs.get("object_id")
        if model_admin is None or object_id is None:
            return None
        if not pk_text_valid(model_admin.model, unquote(object_id)):
            raise Http404(f"no {model_admin.model._meta.verbose_name} with that id")
        return None
