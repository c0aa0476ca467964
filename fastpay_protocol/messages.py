"""The authority wire format v1 (docs/protocol.md) as immutable Python values.

Every ``from_json`` takes the decoded JSON (dicts, lists, str, int) and raises
``MessageError`` naming the offending field; every ``to_json`` returns plain JSON values.
Money, stakes, sequences and epochs are JSON integers: floats, bools and numeric strings
are refused. Addresses are accepted in any case and kept checksummed; signatures are
"0x" + 130 hex digits (65 bytes). No Django import: wallets and terminals embed this.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fastpay_protocol import signing, wire
from fastpay_protocol import typed_data as td
from fastpay_protocol.addresses import checksum
from fastpay_protocol.membership import Committee, Member
from fastpay_protocol.wire import MessageError

__all__ = [
    "AccountInfo",
    "Certificate",
    "Committee",
    "ErrorBody",
    "InvalidCertificate",
    "Member",
    "MessageError",
    "PendingOrder",
    "SignedOrder",
    "Vote",
    "is_equivocation",
    "order_from_json",
    "order_to_json",
]


class InvalidCertificate(ValueError):
    """A well-formed certificate that does not prove a quorum of the committee."""


# ------------------------------------------------------------------ field parsers
# The fields go through ``wire``, the one parser the nodes use too; these return the
# clients' forms (EIP-55 addresses).


def _obj(data: Any, param: str) -> Mapping[str, Any]:
    return wire.parse_object(data, param)


def _get(data: Mapping[str, Any], key: str, param: str) -> Any:
    if key not in data:
        raise MessageError(_join(param, key), "is required")
    return data[key]


def _join(param: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{param}[{key}]"
    return f"{param}.{key}" if param else key


def parse_int(value: Any, param: str, maximum: int = td.UINT256_MAX) -> int:
    # bool is an int subclass and a float may have lost precision: neither is money
    return wire.parse_uint(value, param, maximum)


def parse_address(value: Any, param: str) -> str:
    return checksum(wire.parse_address(value, param))


def parse_signature(value: Any, param: str) -> bytes:
    return wire.parse_signature(value, param)


def parse_str(value: Any, param: str, max_length: int = 200) -> str:
    if not isinstance(value, str) or len(value) > max_length:
        raise MessageError(param, f"must be a string of at most {max_length} characters")
    return value


def hex_signature(signature: bytes) -> str:
    return "0x" + bytes(signature).hex()


def _order(order: wire.Order) -> td.TransferOrder:
    """A wire order (lower-case addresses, checked) as a TransferOrder (EIP-55)."""
    return td.TransferOrder(
        checksum(order.sender),
        checksum(order.recipient),
        checksum(order.token),
        order.amount,
        order.sequence,
        order.epoch,
    )


# ------------------------------------------------------------------ orders and votes


def order_from_json(data: Any, param: str = "order") -> td.TransferOrder:
    return _order(wire.parse_order(data, param))


def order_to_json(order: td.TransferOrder) -> dict[str, Any]:
    return order.as_message()


@dataclass(frozen=True)
class SignedOrder:
    """A transfer order with its sender's EIP-712 signature."""

    order: td.TransferOrder
    signature: bytes

    @classmethod
    def from_json(cls, data: Any, param: str = "") -> SignedOrder:
        order, signature = wire.parse_signed_order(data, param or None)
        return cls(_order(order), signature)

    def to_json(self) -> dict[str, Any]:
        return {"order": order_to_json(self.order), "signature": hex_signature(self.signature)}

    def verify(self, hasher: signing.Hasher) -> bool:
        """True when the signature is the sender's (low s, on this domain)."""
        return signing.signed_by(hasher.order_digest(self.order), self.signature, self.order.sender)


@dataclass(frozen=True)
class Vote:
    """One authority's EIP-712 Vote(order) signature."""

    authority: str
    signature: bytes

    @classmethod
    def from_json(cls, data: Any, param: str = "vote") -> Vote:
        authority, signature = wire.parse_vote(data, param)
        return cls(checksum(authority), signature)

    def to_json(self) -> dict[str, Any]:
        return {"authority": self.authority, "signature": hex_signature(self.signature)}

    def verify(self, hasher: signing.Hasher, order: td.TransferOrder) -> bool:
        """True when this is ``authority``'s valid low-s vote for ``order``."""
        return signing.signed_by(hasher.vote_digest(order), self.signature, self.authority)


@dataclass(frozen=True)
class Certificate:
    """An order, its sender's signature and votes of committee members; valid when the
    voters are distinct members of ``order.epoch``'s committee with more than 2/3 stake."""

    order: td.TransferOrder
    signature: bytes
    votes: tuple[Vote, ...]

    def __post_init__(self) -> None:
        # ascending voter address: the order the contracts' packed signatures use, and one
        # canonical JSON form for a given set of votes
        ordered = tuple(sorted(self.votes, key=lambda vote: int(vote.authority, 16)))
        object.__setattr__(self, "votes", ordered)

    @classmethod
    def from_json(cls, data: Any, param: str = "") -> Certificate:
        order, signature, votes = wire.parse_certificate(data, param or None)
        return cls(_order(order), signature, tuple(Vote(checksum(a), s) for a, s in votes))

    def to_json(self) -> dict[str, Any]:
        return {
            "order": order_to_json(self.order),
            "signature": hex_signature(self.signature),
            "votes": [vote.to_json() for vote in self.votes],
        }

    @property
    def signed_order(self) -> SignedOrder:
        return SignedOrder(self.order, self.signature)

    def packed_signatures(self) -> bytes:
        """The votes packed for the contracts (ascending signer address)."""
        return b"".join(vote.signature for vote in self.votes)

    def verify(self, committee: Committee, hasher: signing.Hasher | None = None) -> None:
        """Raise InvalidCertificate unless this certificate proves a quorum of
        ``committee`` (which must be the committee of ``order.epoch``)."""
        if self.order.epoch != committee.epoch:
            raise InvalidCertificate(
                f"order epoch {self.order.epoch} is not the committee's epoch {committee.epoch}"
            )
        hasher = hasher or committee.hasher
        if not signing.signed_by(
            hasher.order_digest(self.order), self.signature, self.order.sender
        ):
            raise InvalidCertificate("the order is not signed by its sender")
        seen: set[str] = set()
        vote_digest = hasher.vote_digest(self.order)
        for vote in self.votes:
            if vote.authority in seen:
                raise InvalidCertificate(f"two votes from {vote.authority}")
            if not committee.is_member(vote.authority):
                raise InvalidCertificate(f"{vote.authority} is not a committee member")
            if not signing.signed_by(vote_digest, vote.signature, vote.authority):
                raise InvalidCertificate(f"invalid vote signature from {vote.authority}")
            seen.add(vote.authority)
        if not committee.has_quorum(seen):
            raise InvalidCertificate("the votes' stake is not more than 2/3 of the committee")

    def is_valid(self, committee: Committee) -> bool:
        try:
            self.verify(committee)
        except InvalidCertificate:
            return False
        return True


# ------------------------------------------------------------------ accounts and committee


@dataclass(frozen=True)
class PendingOrder:
    """The order an authority has locked for an account's next sequence, with its vote."""

    order: td.TransferOrder
    vote: Vote

    @classmethod
    def from_json(cls, data: Any, param: str = "pending") -> PendingOrder:
        data = _obj(data, param)
        return cls(
            order=order_from_json(_get(data, "order", param), _join(param, "order")),
            vote=Vote.from_json(_get(data, "vote", param), _join(param, "vote")),
        )

    def to_json(self) -> dict[str, Any]:
        return {"order": order_to_json(self.order), "vote": self.vote.to_json()}


@dataclass(frozen=True)
class AccountInfo:
    """One authority's view of a FastPay account. ``balances``: token -> ledger units."""

    address: str
    next_sequence: int
    balances: Mapping[str, int] = field(default_factory=dict)
    pending: PendingOrder | None = None

    @classmethod
    def from_json(cls, data: Any, param: str = "account") -> AccountInfo:
        data = _obj(data, param)
        balances = _obj(_get(data, "balances", param), _join(param, "balances"))
        pending = data.get("pending")
        return cls(
            address=parse_address(_get(data, "address", param), _join(param, "address")),
            next_sequence=parse_int(
                _get(data, "next_sequence", param),
                _join(param, "next_sequence"),
                td.UINT64_MAX,
            ),
            balances={
                parse_address(token, _join(param, "balances")): parse_int(
                    units, _join(_join(param, "balances"), token)
                )
                for token, units in balances.items()
            },
            pending=None
            if pending is None
            else PendingOrder.from_json(pending, param + ".pending"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "next_sequence": self.next_sequence,
            "balances": dict(self.balances),
            "pending": None if self.pending is None else self.pending.to_json(),
        }

    def balance(self, token: str) -> int:
        return self.balances.get(td._address(token, "token"), 0)


def is_equivocation(committee: Committee, first: PendingOrder, second: PendingOrder) -> bool:
    """True when one committee member validly voted for two different orders with the same
    (sender, sequence): what AuthorityManager slashes."""
    return (
        first.vote.authority == second.vote.authority
        and committee.is_member(first.vote.authority)
        and first.order != second.order
        and (first.order.sender, first.order.sequence)
        == (second.order.sender, second.order.sequence)
        and first.vote.verify(committee.hasher, first.order)
        and second.vote.verify(committee.hasher, second.order)
    )


# ------------------------------------------------------------------ errors on the wire


@dataclass(frozen=True)
class ErrorBody:
    """``{"error": {"code", "message", "param"}, …extra}`` as the nodes answer it."""

    code: str
    message: str
    param: str | None
    extra: Mapping[str, Any]

    @classmethod
    def from_json(cls, data: Any, param: str = "body") -> ErrorBody:
        data = _obj(data, param)
        error = _obj(_get(data, "error", param), _join(param, "error"))
        return cls(
            code=parse_str(_get(error, "code", "error"), "error.code"),
            message=str(error.get("message", "")),
            param=error.get("param"),
            extra={key: value for key, value in data.items() if key != "error"},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "error": {"code": self.code, "message": self.message, "param": self.param},
            **self.extra,
        }
