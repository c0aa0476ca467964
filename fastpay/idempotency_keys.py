"""The one rule for an idempotency key, whether it comes in the Idempotency-Key header or
as a batch item's `idempotency_key`: 1-255 printable ASCII characters, with no space at
either end (the pattern the OpenAPI schema documents; HTTP headers carry ASCII reliably).

Every column that stores one is 255 characters wide, so a valid key always fits.
"""

import re

from fastpay.errors import InvalidIdempotencyKey

MAX_KEY_LENGTH = 255
_KEY = re.compile(r"[!-~]([ -~]*[!-~])?")  # fastpay.schema.IDEMPOTENCY_KEY_SCHEMA's pattern


def idempotency_key_validate(value: object, param: str) -> str:
    """Return `value` if it is a valid key; raise InvalidIdempotencyKey naming `param`."""
    if not isinstance(value, str) or len(value) > MAX_KEY_LENGTH or not _KEY.fullmatch(value):
        raise InvalidIdempotencyKey(
            f"{param} must be 1-{MAX_KEY_LENGTH} printable ASCII characters, "
            "with no space at either end",
            param=param,
        )
    return value
