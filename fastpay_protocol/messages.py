"""The authority wire format v1 (docs/protocol.md) as immutable Python values.

Every ``from_json`` takes the decoded JSON (dicts, lists, str, int) and raises
``MessageError`` naming the offending field; every ``to_json`` returns plain JSON values.
Money, stakes, sequences and epochs are JSON integers: floats, bools and numeric strings
are refused. Addresses are accepted in any case and kept checksummed; signatures are
"0x" + 130 hex digits (65 bytes). No Django import: wallets and terminals embed this.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_utils import is_address, to_checksum_address

from fastpay_protocol import signing
from fastpay_protocol import typed_data as td


class MessageError(ValueError):
    """A protocol message that is malformed; ``param`` is the dotted path of the field."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


class InvalidCertificate(ValueError):
    """A well-formed certificate that does not prove a quorum of the committee."""


# ------------------------------------------------------------------ field parsers


def _obj(data: Any, param: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise MessageError(param, f"expected an object, got {type(data).__name__}")
    return data


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
    if isinstance(value, bool) or not isinstance(value, int):
        raise MessageError(param, f"must be a JSON integer, got {value!r}")
    if not 0 <= value <= maximum:
        raise MessageError(param, f"must be in [0, {maximum}], got {value}")
    return int(value)


def parse_address(value: Any, param: str) -> str:
    if not isinstance(value, str) or not value.startswith("0x") or not is_address(value):
        raise MessageError(param, f"must be a 0x-prefixed 20-byte address, got {value!r}")
    return to_checksum_address(value)


def parse_signature(value: Any, param: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 132:
        raise MessageError(param, "must be 0x followed by 130 hex digits (65 bytes)")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise MessageError(param, "must be 0x followed by 130 hex digits (65 bytes)") from None


def parse_str(value: Any, param: str, max_length: int = 200) -> str:
    if not isinstance(value, str) or len(value) > max_length:
        raise MessageError(param, f"must be a string of at most {max_length} characters")
    return value


def parse_list(value: Any, param: str, max_items: int) -> list[Any]:
    if not isinstance(value, list):
        raise MessageError(param, "must be a list")
    if len(value) > max_items:
        raise MessageError(param, f"at most {max_items} items, got {len(value)}")
    return value


def hex_signature(signature: bytes) -> str:
    return "0x" + bytes(signature).hex()


# ------------------------------------------------------------------ orders and votes


def order_from_json(data: Any, param: str = "order") -> td.TransferOrder:
    data = _obj(data, param)
    return td.TransferOrder(
        sender=parse_address(_get(data, "sender", param), _join(param, "sender")),
        recipient=parse_address(_get(data, "recipient", param), _join(param, "recipient")),
        token=parse_address(_get(data, "token", param), _join(param, "token")),
        amount=parse_int(_get(data, "amount", param), _join(param, "amount")),
        sequence=parse_int(_get(data, "sequence", param), _join(param, "sequence"), td.UINT64_MAX),
        epoch=parse_int(_get(data, "epoch", param), _join(param, "epoch"), td.UINT64_MAX),
    )


def order_to_json(order: td.TransferOrder) -> dict[str, Any]:
    return order.as_message()


@dataclass(frozen=True)
class SignedOrder:
    """A transfer order with its sender's EIP-712 signature."""

    order: td.TransferOrder
    signature: bytes

    @classmethod
    def from_json(cls, data: Any, param: str = "") -> SignedOrder:
        data = _obj(data, param or "body")
        return cls(
            order=order_from_json(_get(data, "order", param), _join(param, "order")),
            signature=parse_signature(_get(data, "signature", param), _join(param, "signature")),
        )

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
        data = _obj(data, param)
        return cls(
            authority=parse_address(_get(data, "authority", param), _join(param, "authority")),
            signature=parse_signature(_get(data, "signature", param), _join(param, "signature")),
        )

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
        data = _obj(data, param or "body")
        votes = parse_list(_get(data, "votes", param), _join(param, "votes"), 1000)
        return cls(
            order=order_from_json(_get(data, "order", param), _join(param, "order")),
            signature=parse_signature(_get(data, "signature", param), _join(param, "signature")),
            votes=tuple(
                Vote.from_json(vote, _join(_join(param, "votes"), i))
                for i, vote in enumerate(votes)
            ),
        )

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
            if vote.authority not in committee.stakes:
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
        return self.balances.get(to_checksum_address(token), 0)


@dataclass(frozen=True)
class Member:
    """A committee member: its public address, stake weight and endpoint."""

    name: str
    address: str
    stake: int
    url: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", parse_address(self.address, "address"))
        object.__setattr__(self, "stake", parse_int(self.stake, "stake"))

    @classmethod
    def from_json(cls, data: Any, param: str = "member") -> Member:
        data = _obj(data, param)
        return cls(
            name=parse_str(_get(data, "name", param), _join(param, "name")),
            address=parse_address(_get(data, "address", param), _join(param, "address")),
            stake=parse_int(_get(data, "stake", param), _join(param, "stake")),
            url=parse_str(_get(data, "url", param), _join(param, "url"), 2000),
        )

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address, "stake": self.stake, "url": self.url}


@dataclass(frozen=True)
class Committee:
    """The committee of one epoch on one chain, as ``GET /committee`` describes it.

    Quorum = votes of distinct members whose stake is more than 2/3 of the total.
    """

    epoch: int
    chain_id: int
    verifying_contract: str
    redemption_address: str
    members: tuple[Member, ...]
    self_address: str | None = None  # "self" in a node's answer: which member answered

    def __post_init__(self) -> None:
        for name in ("verifying_contract", "redemption_address"):
            object.__setattr__(self, name, parse_address(getattr(self, name), name))
        members = tuple(self.members)
        if not members:
            raise MessageError("members", "a committee has at least one member")
        addresses = [member.address for member in members]
        if len(set(addresses)) != len(addresses):
            raise MessageError("members", "duplicate member address")
        if sum(member.stake for member in members) <= 0:
            raise MessageError("members", "the total stake must be positive")
        object.__setattr__(self, "members", members)
        object.__setattr__(self, "_stakes", {m.address: m.stake for m in members})
        object.__setattr__(
            self, "_hasher", signing.Hasher(td.Domain(self.chain_id, self.verifying_contract))
        )

    @classmethod
    def from_json(cls, data: Any, param: str = "committee") -> Committee:
        data = _obj(data, param)
        members = parse_list(_get(data, "members", param), _join(param, "members"), 1000)
        own = data.get("self")
        return cls(
            epoch=parse_int(_get(data, "epoch", param), _join(param, "epoch"), td.UINT64_MAX),
            chain_id=parse_int(_get(data, "chain_id", param), _join(param, "chain_id")),
            verifying_contract=parse_address(
                _get(data, "verifying_contract", param), _join(param, "verifying_contract")
            ),
            redemption_address=parse_address(
                _get(data, "redemption_address", param), _join(param, "redemption_address")
            ),
            members=tuple(
                Member.from_json(member, _join(_join(param, "members"), i))
                for i, member in enumerate(members)
            ),
            self_address=None if own is None else parse_address(own, _join(param, "self")),
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "epoch": self.epoch,
            "chain_id": self.chain_id,
            "verifying_contract": self.verifying_contract,
            "redemption_address": self.redemption_address,
            "members": [member.to_json() for member in self.members],
        }
        if self.self_address is not None:
            data["self"] = self.self_address
        return data

    @property
    def domain(self) -> td.Domain:
        return self.hasher.domain

    @property
    def hasher(self) -> signing.Hasher:
        return self._hasher  # type: ignore[attr-defined]

    @property
    def stakes(self) -> Mapping[str, int]:
        return self._stakes  # type: ignore[attr-defined]

    @property
    def total_stake(self) -> int:
        return sum(self.stakes.values())

    def stake_of(self, addresses: Iterable[str]) -> int:
        return sum(self.stakes.get(address, 0) for address in set(addresses))

    def has_quorum(self, addresses: Iterable[str]) -> bool:
        """More than 2/3 of the stake (integers: 3 * signed > 2 * total)."""
        return 3 * self.stake_of(addresses) > 2 * self.total_stake

    def same_as(self, other: Committee) -> bool:
        """Same epoch, domain and members (``self`` aside): two nodes agree on it."""
        return (self.epoch, self.chain_id, self.verifying_contract, self.members) == (
            other.epoch,
            other.chain_id,
            other.verifying_contract,
            other.members,
        )


def is_equivocation(committee: Committee, first: PendingOrder, second: PendingOrder) -> bool:
    """True when one committee member validly voted for two different orders with the same
    (sender, sequence): what AuthorityManager slashes."""
    return (
        first.vote.authority == second.vote.authority
        and first.vote.authority in committee.stakes
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
