"""The one parser of the authority wire format v1 (docs/protocol.md): fields, orders, signed
orders, votes and certificates, from decoded JSON to light tuples.

The authority node parses requests with it (addresses stay lower-case 0x-hex, its storage
form, signatures bytes: the hot path), and ``messages`` builds its typed values on top of
it for the clients, so the node and the platform accept exactly the same messages.
Anything malformed raises ``MessageError`` naming the field (``param``, a dotted path).

Integers (amounts, sequences, epochs) are JSON integers: floats, bools, numeric strings
and int subclasses are refused. Addresses follow ``fastpay_protocol.addresses`` (one case,
or the right EIP-55 mixed case). Signatures are "0x" + 130 hex digits (65 bytes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from fastpay_protocol.addresses import checksum, lower

UINT64_MAX = 2**64 - 1
UINT256_MAX = 2**256 - 1
#: votes in one certificate: a committee has at most this many members
MAX_VOTES = 256

_HEX_SIGNATURE = re.compile(r"0x[0-9a-fA-F]{130}")


class MessageError(ValueError):
    """A protocol message that is malformed; ``param`` is the dotted path of the field."""

    def __init__(self, param: str | None, message: str):
        super().__init__(f"{param}: {message}" if param else message)
        self.param = param
        self.message = message


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


# ------------------------------------------------------------------ fields


def parse_address(value: Any, param: str | None) -> str:
    """The address, lower-case 0x-hex."""
    address = lower(value)
    if address is None:
        if type(value) is str and _mixed_case_hex(value):
            raise MessageError(param, "bad EIP-55 checksum")
        raise MessageError(param, f"expected a 0x-prefixed 20-byte hex address, got {_show(value)}")
    return address


def _mixed_case_hex(value: str) -> bool:
    return len(value) == 42 and value.startswith("0x") and lower(value.lower()) is not None


def parse_uint(value: Any, param: str | None, maximum: int) -> int:
    if type(value) is not int or not 0 <= value <= maximum:
        raise MessageError(param, f"expected an integer in [0, {maximum}], got {_show(value)}")
    return value


def parse_signature(value: Any, param: str | None) -> bytes:
    if type(value) is not str or not _HEX_SIGNATURE.fullmatch(value):
        raise MessageError(param, "expected a 0x-prefixed 65-byte hex signature")
    return bytes.fromhex(value[2:])


def parse_object(value: Any, param: str | None) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise MessageError(param, f"expected a JSON object, got {type(value).__name__}")
    return value


def parse_list(value: Any, param: str | None, maximum: int, minimum: int = 1) -> list[Any]:
    if not isinstance(value, list) or not minimum <= len(value) <= maximum:
        raise MessageError(param, f"expected a list of {minimum} to {maximum} items")
    return value


def parse_items(body: Any, key: str, maximum: int) -> list[Any]:
    """``body[key]``: the list of a batch request's envelope (1 to ``maximum`` items)."""
    return parse_list(parse_object(body, None).get(key), key, maximum)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _join(param: str | None, key: str) -> str:
    return f"{param}.{key}" if param else key


def _required(data: Mapping[str, Any], param: str | None, error: MessageError) -> None:
    """When ``error`` is about a field missing from ``data``, raise "is required" for it
    instead (called only once parsing failed: the fast path does not look twice)."""
    prefix = f"{param}." if param else ""
    key = (error.param or "").removeprefix(prefix)
    if error.param and error.param.startswith(prefix) and key.isidentifier() and key not in data:
        raise MessageError(error.param, "is required") from None


# ------------------------------------------------------------------ messages


def parse_order(value: Any, param: str = "order") -> Order:
    data = parse_object(value, param)
    try:
        return Order(
            parse_address(data.get("sender"), f"{param}.sender"),
            parse_address(data.get("recipient"), f"{param}.recipient"),
            parse_address(data.get("token"), f"{param}.token"),
            parse_uint(data.get("amount"), f"{param}.amount", UINT256_MAX),
            parse_uint(data.get("sequence"), f"{param}.sequence", UINT64_MAX),
            parse_uint(data.get("epoch"), f"{param}.epoch", UINT64_MAX),
        )
    except MessageError as exc:
        _required(data, param, exc)
        raise


def parse_signed_order(value: Any, param: str | None = None) -> SignedOrder:
    data = parse_object(value, param)
    try:
        return SignedOrder(
            parse_order(data.get("order"), _join(param, "order")),
            parse_signature(data.get("signature"), _join(param, "signature")),
        )
    except MessageError as exc:
        _required(data, param, exc)
        raise


def parse_vote(value: Any, param: str = "vote") -> WireVote:
    data = parse_object(value, param)
    try:
        return WireVote(
            parse_address(data.get("authority"), f"{param}.authority"),
            parse_signature(data.get("signature"), f"{param}.signature"),
        )
    except MessageError as exc:
        _required(data, param, exc)
        raise


def parse_certificate(value: Any, param: str | None = None) -> WireCertificate:
    data = parse_object(value, param)
    try:
        votes_param = _join(param, "votes")
        votes = parse_list(data.get("votes"), votes_param, MAX_VOTES)
        return WireCertificate(
            parse_order(data.get("order"), _join(param, "order")),
            parse_signature(data.get("signature"), _join(param, "signature")),
            tuple(parse_vote(vote, f"{votes_param}[{i}]") for i, vote in enumerate(votes)),
        )
    except MessageError as exc:
        _required(data, param, exc)
        raise


@dataclass(frozen=True)
class PendingEntry:
    """A pending (locked) order of a handover source, with the source's vote for it."""

    signed: SignedOrder
    vote: WireVote


@dataclass(frozen=True)
class HandoverPage:
    """One page of ``GET /authority/v1/handover`` (docs/protocol.md)."""

    epoch: int
    frozen: bool
    certificates: tuple[WireCertificate, ...]
    pending: tuple[PendingEntry, ...]
    next: str | None


#: items per handover page at most
HANDOVER_PAGE_MAX = 500


def parse_handover_page(value: Any, param: str | None = None) -> HandoverPage:
    data = parse_object(value, param)
    frozen = data.get("frozen")
    if type(frozen) is not bool:
        raise MessageError(_join(param, "frozen"), "expected true or false")
    cursor = data.get("next")
    if cursor is not None and (type(cursor) is not str or not 0 < len(cursor) <= 200):
        raise MessageError(_join(param, "next"), "expected a cursor string or null")
    certs = data.get("certificates")
    pending = data.get("pending")
    for key, items in (("certificates", certs), ("pending", pending)):
        if not isinstance(items, list) or len(items) > HANDOVER_PAGE_MAX:
            raise MessageError(_join(param, key), f"expected a list of at most {HANDOVER_PAGE_MAX}")
    entries = []
    for i, entry in enumerate(pending):
        where = f"{_join(param, 'pending')}[{i}]"
        entries.append(
            PendingEntry(
                parse_signed_order(entry, where),
                parse_vote(parse_object(entry, where).get("vote"), f"{where}.vote"),
            )
        )
    return HandoverPage(
        epoch=parse_uint(data.get("epoch"), _join(param, "epoch"), UINT64_MAX),
        frozen=frozen,
        certificates=tuple(
            parse_certificate(c, f"{_join(param, 'certificates')}[{i}]")
            for i, c in enumerate(certs)
        ),
        pending=tuple(entries),
        next=cursor,
    )


# ------------------------------------------------------------------ rendering


def hex0x(data: bytes) -> str:
    return "0x" + data.hex()


def render_order(order: Order) -> dict[str, Any]:
    """An order as JSON, addresses checksummed (what nodes answer)."""
    return {
        "sender": checksum(order.sender),
        "recipient": checksum(order.recipient),
        "token": checksum(order.token),
        "amount": order.amount,
        "sequence": order.sequence,
        "epoch": order.epoch,
    }


def render_vote(vote: WireVote) -> dict[str, str]:
    return {"authority": checksum(vote.authority), "signature": hex0x(vote.signature)}


def render_certificate(certificate: WireCertificate) -> dict[str, Any]:
    return {
        "order": render_order(certificate.order),
        "signature": hex0x(certificate.signature),
        "votes": [render_vote(vote) for vote in certificate.votes],
    }


__all__ = [
    "HANDOVER_PAGE_MAX",
    "MAX_VOTES",
    "UINT64_MAX",
    "UINT256_MAX",
    "HandoverPage",
    "MessageError",
    "Order",
    "PendingEntry",
    "SignedOrder",
    "WireCertificate",
    "WireVote",
    "checksum",
    "hex0x",
    "parse_address",
    "parse_certificate",
    "parse_handover_page",
    "parse_items",
    "parse_list",
    "parse_object",
    "parse_order",
    "parse_signature",
    "parse_signed_order",
    "parse_uint",
    "parse_vote",
    "render_certificate",
    "render_order",
    "render_vote",
]
