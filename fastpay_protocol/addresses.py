"""Ethereum addresses: the one EIP-55 checksum helper and the one rule for accepting an
address (docs/protocol.md, "Objects").

An address is "0x" + 40 hex digits, in one case (all lower or all upper hex digits: no
checksum) or in its EIP-55 mixed case, which must then be right. Nothing else: no missing
"0x", no whitespace, no trailing newline.

EIP-55 costs one keccak256 of the lower-case hex; ``checksum`` caches it on that lower-case
form (payers, tokens, authorities and vendors repeat across messages), with the keccak of
``fastpay_protocol.keccak`` (~5x faster than eth_utils.to_checksum_address uncached).
"""

from __future__ import annotations

import re
from functools import lru_cache

from fastpay_protocol.keccak import keccak

_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


@lru_cache(maxsize=65536)
def _eip55(lower: str) -> str:
    """EIP-55 form of ``lower``: "0x" + 40 lower-case hex digits (not checked)."""
    body = lower[2:]
    digest = keccak(body.encode()).hex()
    return "0x" + "".join(
        c.upper() if c > "9" and digest[i] > "7" else c for i, c in enumerate(body)
    )


@lru_cache(maxsize=65536)
def checksum(address: str | bytes) -> str:
    """EIP-55 form of an address already known to be well formed: "0x" + 40 hex digits in
    any case, or its 20 raw bytes. Use ``canonical`` for input from outside. Cached on the
    form given too (a hit is one C-level lookup: renderers call it per field)."""
    if isinstance(address, bytes):
        if len(address) != 20:
            raise ValueError(f"an address is 20 bytes, got {len(address)}")
        return _eip55("0x" + address.hex())
    return _eip55(address.lower())


def lower(value: object) -> str | None:
    """``value`` as "0x" + 40 lower-case hex digits when it is an acceptable address (one
    case, or the right EIP-55 mixed case); None otherwise."""
    if type(value) is not str or not _HEX_ADDRESS.fullmatch(value):
        return None
    body = value[2:]
    folded = body.lower()
    # mixed case is an EIP-55 checksum and must be right; one case carries none
    if body != folded and body != body.upper() and _eip55("0x" + folded) != value:
        return None
    return "0x" + folded


def canonical(value: object) -> str | None:
    """The EIP-55 form of ``value`` when it is an acceptable address; None otherwise."""
    folded = lower(value)
    return None if folded is None else _eip55(folded)


__all__ = ["canonical", "checksum", "lower"]
