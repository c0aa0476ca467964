"""The one rule for an idempotency key, whether it comes in the Idempotency-Key header or
as a batch item's `idempotency_key`: 1-255 printable characters, not only spaces.

Every column that stores one is 255 characters wide, so a valid key always fits.
"""

from fastpay.errors import InvalidIdempotencyKey

MAX_KEY_LENGTH = 255


def idempotency_key_validate(value: object, param: str) -> str:
    """Return `value` if it is a valid key; raise InvalidIdempotencyKey naming `param`."""
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_KEY_LENGTH
        or not value.isprintable()
    ):
        raise InvalidIdempotencyKey(
            f"{param} must be 1-{MAX_KEY_LENGTH} printable characters", param=param
        )
    return value
