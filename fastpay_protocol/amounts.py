"""The one parser of amounts typed by people and programs: the API, the CLI and admin forms.

An amount is a plain ASCII decimal string in token units: digits, at most one dot with
digits on both sides ("12.50", "1", "0.000001"). No sign, exponent, underscore, whitespace,
"NaN"/"Infinity" or non-ASCII digits: Python's Decimal() and int() accept "1e3", "1_000",
"+5", " 12.50 ", "1.", ".5", Arabic-Indic and full-width digits, and each of those once
moved money because a client's formatter and ours disagreed on what it meant.

No Django here: the wallet and terminal CLI use it on their own.
"""

import re

MAX_UNITS = 2**63 - 1  # a 64-bit BIGINT column's ceiling
MAX_LENGTH = 40  # characters; longer text is refused before any arithmetic

# [0-9], not \d: \d matches every Unicode decimal digit.
AMOUNT_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
GRAMMAR = 'digits with at most one dot, digits on both sides, e.g. "12.50"'


class AmountError(ValueError):
    """The text is not an exact, positive amount in this token's precision."""


def units_parse(text: object, ledger_decimals: int) -> int:
    """A decimal string in token units ("12.50") to ledger units (12_500_000 at 6 decimals).

    Refuses anything not a str (JSON numbers arrive as floats, already inexact), text
    outside the grammar, more decimals than the ledger keeps, zero, and amounts beyond a
    64-bit column.
    """
    if not isinstance(text, str):
        raise AmountError('send the amount as a decimal string, e.g. "12.50"')
    if len(text) > MAX_LENGTH:
        raise AmountError(f"at most {MAX_LENGTH} characters")
    if AMOUNT_RE.fullmatch(text) is None:
        raise AmountError(f"not a plain decimal amount: {GRAMMAR}")
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0")
    if len(fraction) > ledger_decimals:
        raise AmountError(f"at most {ledger_decimals} decimal places for this token")
    units = int(whole) * 10**ledger_decimals + int(fraction.ljust(ledger_decimals, "0") or "0")
    if units <= 0:
        raise AmountError("the amount must be greater than zero")
    if units > MAX_UNITS:
        raise AmountError("the amount is too large")
    return units


def units_format(units: int, ledger_decimals: int) -> str:
    """Ledger units to a decimal string with the token's full ledger precision."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10**ledger_decimals)
    if ledger_decimals == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:0{ledger_decimals}d}"
