"""Parsing and rendering of the wire objects of docs/protocol.md (Order, SignedOrder, Vote,
Certificate), private to the node and tuned for its hot path: addresses become lower-case
0x-hex text, signatures bytes; anything malformed raises InvalidRequest naming the field.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, NamedTuple

from authorities.node.errors import InvalidRequest
from fastpay_protocol.signing import keccak

UINT64_MAX = 2**64 - 1
UINT256_MAX = 2**256 - 1
_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_HEX_SIGNATURE = re.compile(r"0x[0-9a-fA-F]{130}")


class Order(NamedTuple):
    """A transfer order; addresses lower-case 0x-hex, amount in ledger units."""

    sender: str
    recipient: str
    token: str
    amount: int
    sequence: int
    epoch: int


class SignedOrder(NamedTuple):
    order: Order
    signature: bytes


class WireVote(NamedTuple):
    authority: str  # lower-case
    signature: bytes


class WireCertificate(NamedTuple):
    order: Order
    signature: bytes
    votes: tuple[WireVote, ...]


def _eip55(lower: str) -> str:
    """EIP-55 form of a lower-case 0x address (keccak straight from pycryptodome)."""
    digest = keccak(lower[2:].encode()).hex()
    return "0x" + "".join(
        c.upper() if c > "9" and digest[i] > "7" else c for i, c in enumerate(lower[2:])
    )


@lru_cache(maxsize=65536)
def _checksum_ok(text: str) -> bool:
    return _eip55(text.lower()) == text


def parse_address(value: Any, param: str) -> str:
    if not isinstance(value, str) or not _HEX_ADDRESS.fullmatch(value):
        raise InvalidRequest("expected a 0x-prefixed 20-byte hex address", param=param)
    body = value[2:]
    lower = body.lower()
    # Mixed case is an EIP-55 checksum and must be right; one case only carries none.
    if body != lower and body != body.upper() and not _checksum_ok(value):
        raise InvalidRequest("bad EIP-55 checksum", param=param)
    return "0x" + lower


def parse_uint(value: Any, param: str, maximum: int) -> int:
    if type(value) is not int or not 0 <= value <= maximum:
        raise InvalidRequest(f"expected an integer in [0, {maximum}]", param=param)
    return value


def parse_signature(value: Any, param: str) -> bytes:
    if not isinstance(value, str) or not _HEX_SIGNATURE.fullmatch(value):
        raise InvalidRequest("expected a 0x-prefixed 65-byte hex signature", param=param)
    return bytes.fromhex(value[2:])


def _object(value: Any, param: str | None) -> dict:
    if not isinstance(value, dict):
        raise InvalidRequest("expected a JSON object", param=param)
    return value


def parse_order(value: Any, param: str = "order") -> Order:
    data = _object(value, param)
    return Order(
        parse_address(data.get("sender"), f"{param}.sender"),
        parse_address(data.get("recipient"), f"{param}.recipient"),
        parse_address(data.get("token"), f"{param}.token"),
        parse_uint(data.get("amount"), f"{param}.amount", UINT256_MAX),
        parse_uint(data.get("sequence"), f"{param}.sequence", UINT64_MAX),
        parse_uint(data.get("epoch"), f"{param}.epoch", UINT64_MAX),
    )


def parse_signed_order(value: Any, param: str | None = None) -> SignedOrder:
    data = _object(value, param)
    prefix = f"{param}." if param else ""
    return SignedOrder(
        parse_order(data.get("order"), f"{prefix}order"),
        parse_signature(data.get("signature"), f"{prefix}signature"),
    )


def parse_certificate(value: Any, param: str | None = None) -> WireCertificate:
    data = _object(value, param)
    prefix = f"{param}." if param else ""
    votes = data.get("votes")
    if not isinstance(votes, list) or not votes or len(votes) > 256:
        raise InvalidRequest("expected a list of 1 to 256 votes", param=f"{prefix}votes")
    parsed = []
    for i, vote in enumerate(votes):
        vote = _object(vote, f"{prefix}votes[{i}]")
        parsed.append(
            WireVote(
                parse_address(vote.get("authority"), f"{prefix}votes[{i}].authority"),
                parse_signature(vote.get("signature"), f"{prefix}votes[{i}].signature"),
            )
        )
    return WireCertificate(
        parse_order(data.get("order"), f"{prefix}order"),
        parse_signature(data.get("signature"), f"{prefix}signature"),
        tuple(parsed),
    )


def parse_list(body: Any, key: str, maximum: int) -> list:
    data = _object(body, None)
    items = data.get(key)
    if not isinstance(items, list) or not 1 <= len(items) <= maximum:
        raise InvalidRequest(f"expected a list of 1 to {maximum} items", param=key)
    return items


# ------------------------------------------------------------------ rendering


@lru_cache(maxsize=65536)
def checksum(address: str) -> str:
    return _eip55(address.lower())


def hex0x(data: bytes) -> str:
    return "0x" + data.hex()


def render_order(order: Order) -> dict:
    return {
        "sender": checksum(order.sender),
        "recipient": checksum(order.recipient),
        "token": checksum(order.token),
        "amount": order.amount,
        "sequence": order.sequence,
        "epoch": order.epoch,
    }
