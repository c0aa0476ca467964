"""Money: integers in ledger units, a value type that refuses to mix tokens, and the only
conversions to and from decimal strings (the API edge) and chain base units.

1 USDT = 10**ledger_decimals ledger units (default 6) whatever the chain's decimals.
No float ever touches money.
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

MAX_UNITS = 2**63 - 1  # BigIntegerField's ceiling


class AmountError(ValueError):
    """The text is not an exact, positive amount in this token's precision."""


@dataclass(frozen=True, slots=True)
class Money:
    units: int  # ledger units
    token: str  # token symbol

    def __post_init__(self):
        if not isinstance(self.units, int) or isinstance(self.units, bool):
            raise TypeError("Money.units must be an int (ledger units)")

    def _same(self, other: "Money") -> None:
        if not isinstance(other, Money):
            raise TypeError("can only combine Money with Money")
        if other.token != self.token:
            raise ValueError(f"cannot mix {self.token} and {other.token}")

    def __add__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.units + other.units, self.token)

    def __sub__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.units - other.units, self.token)

    def __neg__(self) -> "Money":
        return Money(-self.units, self.token)

    def __lt__(self, other: "Money") -> bool:
        self._same(other)
        return self.units < other.units

    def __le__(self, other: "Money") -> bool:
        self._same(other)
        return self.units <= other.units


def parse_units(text, ledger_decimals: int) -> int:
    """Parse a decimal string ("12.50") in token units into ledger units, exactly.

    Refuses floats (already inexact), more decimals than the ledger keeps, non-positive
    amounts and amounts beyond a 64-bit column.
    """
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise AmountError('send the amount as a decimal string, e.g. "12.50"')
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise AmountError(f"{text!r} is not a decimal number") from None
    if not value.is_finite():
        raise AmountError("the amount must be a finite number")
    scaled = value.scaleb(ledger_decimals)
    if scaled != scaled.to_integral_value():
        raise AmountError(f"at most {ledger_decimals} decimal places for this token")
    units = int(scaled)
    if units <= 0:
        raise AmountError("the amount must be greater than zero")
    if units > MAX_UNITS:
        raise AmountError("the amount is too large")
    return units


def format_units(units: int, ledger_decimals: int) -> str:
    """Ledger units to a decimal string with the token's full ledger precision."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10**ledger_decimals)
    if ledger_decimals == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:0{ledger_decimals}d}"


def format_amount(units: int, token) -> str:
    """Ledger units of ``token`` as "12.500000 USDT" (its full ledger precision)."""
    return f"{format_units(units, token.ledger_decimals)} {token.symbol}"


def units_to_onchain(units: int, *, decimals: int, ledger_decimals: int) -> int:
    return units * 10 ** (decimals - ledger_decimals)


def onchain_to_units(amount: int, *, decimals: int, ledger_decimals: int) -> tuple[int, int]:
    """Chain base units to (ledger units, dust in base units). Dust is never dropped silently:
    the caller records it."""
    return divmod(amount, 10 ** (decimals - ledger_decimals))
