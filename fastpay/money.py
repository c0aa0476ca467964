"""Money: integers in ledger units, a value type that refuses to mix tokens, and the only
conversions to and from decimal strings (the API edge) and chain base units.

1 USDT = 10**ledger_decimals ledger units (default 6) whatever the chain's decimals.
No float ever touches money.
"""

from dataclasses import dataclass

from fastpay_protocol.amounts import MAX_UNITS, AmountError, units_format, units_parse

__all__ = [
    "MAX_UNITS",
    "AmountError",
    "Money",
    "format_amount",
    "format_units",
    "onchain_to_units",
    "parse_units",
    "units_to_onchain",
]


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

    The grammar and its refusals are fastpay_protocol.amounts' (the one parser of the API,
    the CLI and admin forms): plain ASCII digits, at most one dot with digits on both sides.
    """
    return units_parse(text, ledger_decimals)


def format_units(units: int, ledger_decimals: int) -> str:
    """Ledger units to a decimal string with the token's full ledger precision."""
    return units_format(units, ledger_decimals)


def format_amount(units: int, token) -> str:
    """Ledger units of ``token`` as "12.500000 USDT" (its full ledger precision)."""
    return f"{format_units(units, token.ledger_decimals)} {token.symbol}"


def units_to_onchain(units: int, *, decimals: int, ledger_decimals: int) -> int:
    return units * 10 ** (decimals - ledger_decimals)


def onchain_to_units(amount: int, *, decimals: int, ledger_decimals: int) -> tuple[int, int]:
    """Chain base units to (ledger units, dust in base units). Dust is never dropped silently:
    the caller records it."""
    return divmod(amount, 10 ** (decimals - ledger_decimals))
