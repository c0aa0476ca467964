"""The base of every API input serializer: what the client sent is exactly what was read.

- An unknown field is refused (`unknown_field`), never ignored: a client that believes it
  set `payer` or `state` must learn that it did not.
- An identifier (a username, a token symbol) with surrounding whitespace is refused
  (`whitespace`), as an amount is: nothing is trimmed behind the client's back, so
  " USDT" is refused by the body and by a filter alike.
"""

from collections.abc import Mapping

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from fastpay.errors import text_clip

# Query parameters that belong to pagination, not to a filter serializer.
PAGINATION_PARAMS = frozenset({"cursor", "limit"})


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not declare (Meta-less: set `extra_allowed` for more)."""

    extra_allowed: frozenset[str] = frozenset()

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            known = {field.field_name for field in self._writable_fields} | self.extra_allowed
            unknown = [key for key in data if key not in known]
            if unknown:
                name = text_clip(str(unknown[0]))
                raise serializers.ValidationError(
                    {name: [ErrorDetail(f"unknown field {name!r}", code="unknown_field")]}
                )
        return super().to_internal_value(data)


class StrictFilterSerializer(StrictSerializer):
    """Query-string filters: unknown parameters refused, pagination's allowed."""

    extra_allowed = PAGINATION_PARAMS


class IdentifierField(serializers.CharField):
    """A name that selects a row: refused, not trimmed, when it has surrounding spaces."""

    default_error_messages = {"whitespace": "remove the surrounding whitespace"}

    def __init__(self, **kwargs):
        kwargs["trim_whitespace"] = False
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value != value.strip():
            self.fail("whitespace")
        return value
