"""The committee: its members, the one quorum rule, and the one committee-file loader.

The authority node, the platform, wallets and terminals all use these: a member is an
address with a stake (and a name and an endpoint URL), a committee is one epoch's members
on one chain (domain: chain id + CertificateVerifier) with the redemption address.

**Quorum** = distinct members holding more than 2/3 of the total stake, in exact integer
arithmetic: ``stake >= quorum_stake(total)`` where ``quorum_stake(total) = 2 * total // 3
+ 1`` (the smallest integer ``s`` with ``3 * s > 2 * total``). With 3f+1 equal stakes that
is 2f+1 members; exactly 2/3 is not a quorum. Two quorums always share more than 1/3 of
the stake, so at least one honest member when less than 1/3 is faulty.

**The committee file** (docs/authorities.md, "The committee file") is read by
``committee_load`` only, with the rule of docs/protocol.md ("The committee file"):
stakes are positive integers (a JSON integer, or a string of ASCII digits for values a
JSON writer cannot hold exactly; never a float such as 1e19 or 10.5), addresses are
unique, every member has a ``url`` and may have a ``name``; in a committee of 4 or more
members nobody holds a third of the stake or more. Each epoch has its ``activates_at``
(unix seconds; the first listed defaults to 0): ``CommitteeFile.schedule()`` is the
``fastpay_protocol.handoff.Schedule`` nodes and the platform follow (docs/protocol.md,
"Epochs and the handover").
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastpay_protocol import typed_data as td
from fastpay_protocol.addresses import canonical
from fastpay_protocol.wire import MessageError, parse_list, parse_object, parse_uint

if TYPE_CHECKING:
    from fastpay_protocol import handoff, signing

log = logging.getLogger("fastpay_protocol.committee")

#: members in one committee (the voucher format carries at most 255 votes)
MAX_MEMBERS = 255
#: from this size on, a member holding a third of the stake or more is refused (with 3f+1
#: members, f faulty are tolerated only if no single member can stop every quorum)
CONCENTRATION_REFUSED_FROM = 4

_DIGITS = re.compile(r"[0-9]+")


def quorum_stake(total: int) -> int:
    """The least stake that is more than 2/3 of ``total`` (exact integers)."""
    return 2 * total // 3 + 1


class CommitteeFileError(MessageError):
    """A committee file that breaks the rule; ``param`` names the field (None: the file)."""


# ------------------------------------------------------------------ members


def _address(value: Any, param: str) -> str:
    address = canonical(value)
    if address is None:
        raise MessageError(param, f"expected a 0x-prefixed 20-byte hex address, got {value!r}")
    return address


def _stake(value: Any, param: str) -> int:
    """A positive integer: a JSON integer, or a string of ASCII digits (big values)."""
    if type(value) is str and _DIGITS.fullmatch(value):
        value = int(value)
    if type(value) is not int or not 0 < value <= td.UINT256_MAX:
        raise MessageError(
            param,
            "must be a positive integer (wei: a JSON integer, or a string of digits), "
            f"got {value!r}",
        )
    return value


def _text(value: Any, param: str, max_length: int) -> str:
    if type(value) is not str or len(value) > max_length:
        raise MessageError(param, f"must be a string of at most {max_length} characters")
    return value


def _url(value: Any, param: str) -> str:
    url = _text(value, param, 2000)
    if not url.startswith(("http://", "https://")):
        raise MessageError(param, f"must be an http:// or https:// URL, got {url!r}")
    return url


@dataclass(frozen=True)
class Member:
    """A committee member: its public address (EIP-55), stake weight (wei of the chain's
    native coin, > 0) and node endpoint."""

    name: str
    address: str
    stake: int
    url: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", _address(self.address, "address"))
        object.__setattr__(self, "stake", _stake(self.stake, "stake"))
        object.__setattr__(self, "name", _text(self.name, "name", 200))
        object.__setattr__(self, "url", _url(self.url, "url"))

    @classmethod
    def from_json(cls, data: Any, param: str = "member") -> Member:
        data = parse_object(data, param)
        for key in ("address", "stake", "url"):
            if key not in data:
                raise MessageError(f"{param}.{key}", "is required")
        return cls(
            name=_text(data.get("name", ""), f"{param}.name", 200),
            address=_address(data["address"], f"{param}.address"),
            stake=_stake(data["stake"], f"{param}.stake"),
            url=_url(data["url"], f"{param}.url"),
        )

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address, "stake": self.stake, "url": self.url}


# ------------------------------------------------------------------ the committee


@dataclass(frozen=True)
class Committee:
    """The committee of one epoch on one chain, as ``GET /committee`` describes it.

    Validated on construction: at least one member, no address twice, every stake > 0.
    Membership and stake lookups take an address in any case."""

    epoch: int
    chain_id: int
    verifying_contract: str
    redemption_address: str
    members: tuple[Member, ...]
    self_address: str | None = None  # "self" in a node's answer: which member answered
    # the TokenVault the redemption address (the processor) credits: committee batches
    # name both (EIP-712 Batch); optional ("vault_address"), None when not known
    vault_address: str | None = None

    def __post_init__(self) -> None:
        for name in ("verifying_contract", "redemption_address"):
            object.__setattr__(self, name, _address(getattr(self, name), name))
        if self.self_address is not None:
            object.__setattr__(self, "self_address", _address(self.self_address, "self"))
        if self.vault_address is not None:
            object.__setattr__(self, "vault_address", _address(self.vault_address, "vault_address"))
        members = tuple(self.members)
        self.validate(members)
        object.__setattr__(self, "members", members)
        object.__setattr__(self, "_by_lower", {m.address.lower(): m.stake for m in members})
        # the lower-case key of each member's usual forms (the node's lower-case, the
        # clients' EIP-55): lookups on the hot paths need no .lower()
        keys = {m.address.lower(): m.address.lower() for m in members}
        object.__setattr__(
            self, "_keys", {**keys, **{m.address: k for m, k in zip(members, keys, strict=True)}}
        )
        object.__setattr__(self, "_stakes", {m.address: m.stake for m in members})
        object.__setattr__(self, "_total", sum(m.stake for m in members))
        object.__setattr__(self, "_quorum", quorum_stake(self._total))  # type: ignore[attr-defined]
        # imported here: the quorum rule (quorum_stake) is also what typed_data uses, where
        # the fast signer's libsecp256k1 bindings may be absent (the contracts' venv)
        from fastpay_protocol.signing import Hasher

        object.__setattr__(
            self, "_hasher", Hasher(td.Domain(self.chain_id, self.verifying_contract))
        )

    @staticmethod
    def validate(members: tuple[Member, ...], param: str = "members") -> None:
        """Raise MessageError unless ``members`` is a valid committee: 1 to MAX_MEMBERS
        members, each a Member (stake > 0 integer: Member checks it), no address twice,
        and, with CONCENTRATION_REFUSED_FROM members or more, none holding a third of the
        total stake or more (smaller committees get a warning at load instead)."""
        if not 1 <= len(members) <= MAX_MEMBERS:
            raise MessageError(param, f"a committee has 1 to {MAX_MEMBERS} members")
        seen: set[str] = set()
        for i, member in enumerate(members):
            if not isinstance(member, Member):
                raise MessageError(f"{param}[{i}]", "must be a Member")
            if member.address in seen:
                raise MessageError(
                    f"{param}[{i}].address", f"duplicate member address {member.address}"
                )
            seen.add(member.address)
        if len(members) >= CONCENTRATION_REFUSED_FROM:
            total = sum(m.stake for m in members)
            for i, member in enumerate(members):
                if 3 * member.stake >= total:
                    raise MessageError(
                        f"{param}[{i}].stake",
                        f"{member.name or member.address} holds {member.stake} of {total} "
                        "stake, a third or more: alone it could stop every quorum (refused "
                        f"in committees of {CONCENTRATION_REFUSED_FROM} members or more)",
                    )

    @classmethod
    def from_json(cls, data: Any, param: str = "committee") -> Committee:
        data = parse_object(data, param)
        prefix = f"{param}." if param else ""
        for key in ("epoch", "chain_id", "verifying_contract", "redemption_address", "members"):
            if key not in data:
                raise MessageError(prefix + key, "is required")
        members = parse_list(data["members"], prefix + "members", MAX_MEMBERS)
        own = data.get("self")
        committee = cls(
            epoch=parse_uint(data["epoch"], prefix + "epoch", td.UINT64_MAX),
            chain_id=parse_uint(data["chain_id"], prefix + "chain_id", td.UINT256_MAX),
            verifying_contract=_address(data["verifying_contract"], prefix + "verifying_contract"),
            redemption_address=_address(data["redemption_address"], prefix + "redemption_address"),
            members=tuple(
                Member.from_json(member, f"{prefix}members[{i}]")
                for i, member in enumerate(members)
            ),
            self_address=None if own is None else _address(own, prefix + "self"),
            vault_address=None
            if data.get("vault_address") is None
            else _address(data["vault_address"], prefix + "vault_address"),
        )
        return committee

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "epoch": self.epoch,
            "chain_id": self.chain_id,
            "verifying_contract": self.verifying_contract,
            "redemption_address": self.redemption_address,
            "members": [member.to_json() for member in self.members],
        }
        if self.vault_address is not None:
            data["vault_address"] = self.vault_address
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
        """EIP-55 address -> stake."""
        return self._stakes  # type: ignore[attr-defined]

    @property
    def total_stake(self) -> int:
        return self._total  # type: ignore[attr-defined]

    @property
    def quorum_stake(self) -> int:
        """The least stake that is a quorum (more than 2/3 of the total)."""
        return self._quorum  # type: ignore[attr-defined]

    def is_member(self, address: str) -> bool:
        """``address`` (any case) is a member."""
        return address in self._keys or address.lower() in self._by_lower  # type: ignore[attr-defined]

    def stake_of(self, addresses: Iterable[str]) -> int:
        """The stake of the distinct members among ``addresses`` (any case); others
        count 0."""
        keys, by_lower = self._keys, self._by_lower  # type: ignore[attr-defined]
        return sum(by_lower.get(k, 0) for k in {keys.get(a) or a.lower() for a in addresses})

    def has_quorum(self, signers: Iterable[str]) -> bool:
        """Distinct members among ``signers`` hold more than 2/3 of the stake."""
        keys, by_lower = self._keys, self._by_lower  # type: ignore[attr-defined]
        stake = 0
        for key in {keys.get(a) or a.lower() for a in signers}:
            stake += by_lower.get(key, 0)
        return stake >= self._quorum  # type: ignore[attr-defined]

    def more_than_a_third(self, signers: Iterable[str]) -> bool:
        """Distinct members among ``signers`` hold more than 1/3 of the stake: at least
        one honest member among them (what a lagging view needs to be trusted)."""
        return 3 * self.stake_of(signers) > self.total_stake

    def concentrated(self) -> list[Member]:
        """Members holding a third of the stake or more: with f faulty, one such member
        alone can stop every quorum (and two can make one)."""
        return [m for m in self.members if 3 * m.stake >= self.total_stake]

    def same_as(self, other: Committee) -> bool:
        """Same epoch, domain and members (``self`` aside): two nodes agree on it."""
        return (self.epoch, self.chain_id, self.verifying_contract, self.members) == (
            other.epoch,
            other.chain_id,
            other.verifying_contract,
            other.members,
        )


# ------------------------------------------------------------------ the committee file


@dataclass(frozen=True)
class CommitteeFile:
    """What ``committee_load`` reads: the latest listed committee (it may be announced and
    not active yet), those of the earlier epochs (same chain, contracts and redemption
    address), when each epoch activates (unix seconds) and the vault's token ids (EIP-55
    token -> id)."""

    committee: Committee
    previous: Mapping[int, Committee] = field(default_factory=dict)
    activates_at: Mapping[int, int] = field(default_factory=dict)
    token_ids: Mapping[str, int] = field(default_factory=dict)

    @property
    def committees(self) -> dict[int, Committee]:
        """Every epoch the file knows -> its committee (the latest one included)."""
        return {**self.previous, self.committee.epoch: self.committee}

    def schedule(self) -> handoff.Schedule:
        """The epochs in order with their activation times: what nodes and clients follow
        (``fastpay_protocol.handoff``; validated there too)."""
        from fastpay_protocol import handoff

        committees = self.committees
        return handoff.Schedule(
            handoff.EpochInfo(epoch, committees[epoch], self.activates_at.get(epoch, 0))
            for epoch in sorted(committees)
        )


VOTING_UNTIL_REMOVED = (
    "voting_until is no longer supported (epochs do not overlap): use activates_at, the "
    "unix second at which each epoch replaces the previous one (docs/authorities.md, "
    '"Changing the committee")'
)


def committee_load(source: str | os.PathLike[str] | Mapping[str, Any]) -> CommitteeFile:
    """Read and validate a committee file (a path, or the decoded JSON). Raises
    CommitteeFileError naming the field; logs a warning for every member holding a third
    of an epoch's stake or more in a committee of 1 to 3 members (allowed for small test
    committees, unsafe in production; refused in larger ones).
    """
    if not isinstance(source, (str, os.PathLike)):
        data: Any = source  # the decoded JSON (_load refuses anything but an object)
    else:
        try:
            data = json.loads(Path(source).read_text())
        except OSError as exc:
            raise CommitteeFileError(None, f"cannot read {source}: {exc.strerror}") from None
        except ValueError as exc:
            raise CommitteeFileError(None, f"{source} is not JSON: {exc}") from None
    try:
        loaded = _load(data)
        loaded.schedule()  # the schedule's own rule (consecutive, increasing)
    except CommitteeFileError:
        raise
    except MessageError as exc:
        raise CommitteeFileError(exc.param, exc.message) from None
    for committee in loaded.committees.values():
        for member in committee.concentrated():
            log.warning(
                "committee epoch %s: %s (%s) holds %s of %s stake, a third or more: it can "
                "stop every quorum on its own",
                committee.epoch,
                member.name or member.address,
                member.address,
                member.stake,
                committee.total_stake,
            )
    return loaded


def _activates_at(data: Mapping[str, Any], param: str) -> int | None:
    prefix = f"{param}." if param else ""
    if "voting_until" in data:
        raise MessageError(prefix + "voting_until", VOTING_UNTIL_REMOVED)
    if data.get("activates_at") is None:
        return None
    return parse_uint(data["activates_at"], prefix + "activates_at", td.UINT64_MAX)


def _load(data: Any) -> CommitteeFile:
    data = parse_object(data, None)
    latest = _activates_at(data, "")
    committee = Committee.from_json({k: v for k, v in data.items() if k != "self"}, "")
    previous: dict[int, Committee] = {}
    activates_at: dict[int, int | None] = {committee.epoch: latest}
    olds = data.get("previous_epochs") or []
    if not isinstance(olds, list):
        raise MessageError("previous_epochs", "must be a list")
    for i, old in enumerate(olds):
        param = f"previous_epochs[{i}]"
        old = parse_object(old, param)
        if "epoch" not in old:
            raise MessageError(f"{param}.epoch", "is required")
        epoch = parse_uint(old["epoch"], f"{param}.epoch", td.UINT64_MAX)
        if epoch >= committee.epoch:
            raise MessageError(f"{param}.epoch", f"must be below {committee.epoch}")
        if epoch in previous:
            raise MessageError(f"{param}.epoch", f"epoch {epoch} is listed twice")
        activates_at[epoch] = _activates_at(old, param)
        members = parse_list(old.get("members"), f"{param}.members", MAX_MEMBERS)
        previous[epoch] = Committee(
            epoch=epoch,
            chain_id=committee.chain_id,
            verifying_contract=committee.verifying_contract,
            redemption_address=committee.redemption_address,
            vault_address=committee.vault_address,
            members=tuple(
                Member.from_json(m, f"{param}.members[{j}]") for j, m in enumerate(members)
            ),
        )
    token_ids: dict[str, int] = {}
    tokens = data.get("tokens") or []
    if not isinstance(tokens, list):
        raise MessageError("tokens", "must be a list")
    for i, token in enumerate(tokens):
        token = parse_object(token, f"tokens[{i}]")
        address = _address(token.get("address"), f"tokens[{i}].address")
        token_ids[address] = parse_uint(token.get("id"), f"tokens[{i}].id", td.UINT32_MAX)
    return CommitteeFile(committee, previous, _schedule_times(activates_at, olds), token_ids)


def _schedule_times(activates_at: dict[int, int | None], olds: list) -> dict[int, int]:
    """Every epoch's activation time: the first listed defaults to 0 (genesis), every later
    one must have one; epochs are consecutive and activate in order."""
    epochs = sorted(activates_at)
    index = {old["epoch"]: i for i, old in enumerate(olds)}

    def param(epoch: int) -> str:
        return f"previous_epochs[{index[epoch]}]" if epoch in index else "epoch"

    times: dict[int, int] = {}
    for n, epoch in enumerate(epochs):
        at = activates_at[epoch]
        where = param(epoch)
        field_name = "activates_at" if where == "epoch" else f"{where}.activates_at"
        if n and epoch != epochs[n - 1] + 1:
            raise MessageError(
                where if where != "epoch" else "previous_epochs",
                f"epochs must be consecutive: epoch {epochs[n - 1] + 1} is missing",
            )
        if at is None:
            if n:
                raise MessageError(
                    field_name, f"is required for epoch {epoch} (unix seconds it activates at)"
                )
            at = 0
        if n and at <= times[epochs[n - 1]]:
            raise MessageError(
                field_name,
                f"epoch {epoch} must activate after epoch {epochs[n - 1]} "
                f"({times[epochs[n - 1]]}), got {at}",
            )
        times[epoch] = at
    return times


__all__ = [
    "CONCENTRATION_REFUSED_FROM",
    "MAX_MEMBERS",
    "VOTING_UNTIL_REMOVED",
    "Committee",
    "CommitteeFile",
    "CommitteeFileError",
    "Member",
    "committee_load",
    "quorum_stake",
]
