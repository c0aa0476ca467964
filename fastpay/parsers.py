"""The API's JSON parser: strict JSON, and strings every database can store.

- A body nested too deeply is a 400, not a 500.
- A duplicate key is refused (`duplicate_key`): Python's json keeps the last one, another
  client's library the first, and the two would disagree on what was asked.
- NaN and Infinity, which Python's json accepts and JSON does not, are refused.
- A string anywhere in the body, key or value, holding NUL or a lone surrogate is refused
  (`invalid_string`): PostgreSQL stores neither in text (NUL is a DataError, a surrogate
  cannot be encoded as UTF-8), so each was a 500 the moment it reached a query.
"""

import json
import re

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from fastpay.errors import DuplicateKey, InvalidString, PayloadTooLarge, param_clip

# NUL, and the UTF-16 surrogate range (only lone ones survive decoding: JSON "\ud800").
FORBIDDEN_CHARS = re.compile("[\x00\ud800-\udfff]")


def string_check(value: str, param: str | None) -> None:
    """Raise InvalidString if `value` holds a character PostgreSQL cannot store."""
    if FORBIDDEN_CHARS.search(value):
        raise InvalidString(param=param_clip(param))


def _pairs(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            string_check(key, None)
            raise DuplicateKey(f"the key {key[:100]!r} appears twice", param=param_clip(key))
        seen[key] = value
    return seen


def _no_constant(name):
    raise ParseError(f"JSON parse error - {name} is not JSON")


def _walk(value, path: str) -> None:
    # Iterative: the recursion limit already bounds depth in json.loads.
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            string_check(item, where or None)
        elif isinstance(item, dict):
            for key, child in item.items():
                string_check(key, where or None)
                stack.append((child, f"{where}.{key}" if where else key))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            raise ParseError(f"JSON parse error - the body is not {encoding}") from None
        try:
            data = json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constant)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        _walk(data, "")
        return data
