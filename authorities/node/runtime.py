"""The node's identity and committee, loaded once per process from the settings.

``node()`` opens the sealed key with the KEK and reads the committee file; a problem raises
ImproperlyConfigured naming the variable (run_authority calls it before serving).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from fastpay import keyvault
from fastpay_protocol.signing import Hasher, Signer
from fastpay_protocol.typed_data import Domain


@dataclass(frozen=True)
class Member:
    name: str
    address: str  # lower-case 0x-hex
    stake: int  # wei of the chain's native coin
    url: str


@dataclass(frozen=True)
class Committee:
    epoch: int
    members: tuple[Member, ...]
    stakes: dict[str, int] = field(hash=False)  # lower-case address -> stake
    total_stake: int = 0

    def quorum(self, signers: set[str]) -> bool:
        """More than 2/3 of the stake (integer arithmetic)."""
        return 3 * sum(self.stakes.get(s, 0) for s in signers) > 2 * self.total_stake


@dataclass(frozen=True)
class NodeRuntime:
    name: str
    signer: Signer
    address: str  # lower-case
    domain: Domain
    digests: Hasher
    committee: Committee  # the current epoch's
    committees: dict[int, Committee] = field(hash=False)  # every epoch it knows
    # previous epochs it still votes in, until these unix seconds (docs/authorities.md)
    voting_until: dict[int, int] = field(default_factory=dict, hash=False)
    redemption_address: str = ""  # lower-case; "" when unknown
    token_ids: dict[str, int] = field(default_factory=dict, hash=False)  # vault token ids
    byzantine: bool = False
    max_batch: int = 1000

    @property
    def epoch(self) -> int:
        return self.committee.epoch

    def votes_in(self, epoch: int, now: float) -> bool:
        """Whether this node votes for an order of ``epoch`` at ``now`` (unix seconds)."""
        if epoch == self.committee.epoch:
            return True
        until = self.voting_until.get(epoch)
        return until is not None and now <= until


_lock = threading.Lock()
_runtime: NodeRuntime | None = None


def node() -> NodeRuntime:
    global _runtime
    if _runtime is None:
        with _lock:
            if _runtime is None:
                _runtime = load()
    return _runtime


def _read(name: str) -> str:
    raw = getattr(settings, name, "")
    if not raw:
        raise ImproperlyConfigured(f"{name}: must be set (path to a file)")
    try:
        return Path(raw).read_text()
    except OSError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r}: cannot read it ({exc.strerror})") from None


def _address(value, where: str) -> str:
    from eth_utils import is_address

    if not isinstance(value, str) or not is_address(value):
        raise ImproperlyConfigured(f"AUTHORITY_COMMITTEE_FILE: {where} is not an address")
    return value.lower()


def _members(entries, where: str) -> tuple[Member, ...]:
    if not isinstance(entries, list) or not entries:
        raise ImproperlyConfigured(f"AUTHORITY_COMMITTEE_FILE: {where} must be a non-empty list")
    members = []
    for i, entry in enumerate(entries):
        try:
            stake = int(entry["stake"])
        except (KeyError, TypeError, ValueError):
            raise ImproperlyConfigured(
                f"AUTHORITY_COMMITTEE_FILE: {where}[{i}].stake must be an integer"
            ) from None
        if stake <= 0:
            raise ImproperlyConfigured(f"AUTHORITY_COMMITTEE_FILE: {where}[{i}].stake must be > 0")
        members.append(
            Member(
                name=str(entry.get("name", "")),
                address=_address(entry.get("address"), f"{where}[{i}].address"),
                stake=stake,
                url=str(entry.get("url", "")),
            )
        )
    if len({m.address for m in members}) != len(members):
        raise ImproperlyConfigured(f"AUTHORITY_COMMITTEE_FILE: {where} repeats an address")
    return tuple(members)


def committee_of(epoch: int, members: tuple[Member, ...]) -> Committee:
    stakes = {m.address: m.stake for m in members}
    return Committee(epoch, members, stakes, sum(stakes.values()))


def parse_committee_file(text: str) -> dict:
    """The committee file as a validated dict (see docs/authorities.md for its format)."""
    try:
        data = json.loads(text)
        epoch = int(data["epoch"])
        chain_id = int(data["chain_id"])
        verifying_contract = _address(data["verifying_contract"], "verifying_contract")
    except ImproperlyConfigured:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise ImproperlyConfigured(
            f"AUTHORITY_COMMITTEE_FILE: needs epoch, chain_id, verifying_contract, members "
            f"({exc.__class__.__name__}: {exc})"
        ) from None
    committees = {epoch: committee_of(epoch, _members(data.get("members"), "members"))}
    voting_until = {}
    for i, old in enumerate(data.get("previous_epochs", [])):
        try:
            old_epoch = int(old["epoch"])
            until = old.get("voting_until")
            if until is not None:
                voting_until[old_epoch] = int(until)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ImproperlyConfigured(
                f"AUTHORITY_COMMITTEE_FILE: previous_epochs[{i}].epoch and .voting_until "
                f"must be integers (voting_until: unix seconds, optional)"
            ) from None
        if old_epoch >= epoch:
            raise ImproperlyConfigured(
                f"AUTHORITY_COMMITTEE_FILE: previous_epochs[{i}].epoch must be below {epoch}"
            )
        committees[old_epoch] = committee_of(
            old_epoch, _members(old.get("members"), f"previous_epochs[{i}].members")
        )
    redemption = data.get("redemption_address") or ""
    token_ids = {}
    for i, token in enumerate(data.get("tokens", [])):
        token_ids[_address(token.get("address"), f"tokens[{i}].address")] = int(token["id"])
    return {
        "epoch": epoch,
        "domain": Domain(chain_id=chain_id, verifying_contract=verifying_contract),
        "committees": committees,
        "voting_until": voting_until,
        "redemption_address": _address(redemption, "redemption_address") if redemption else "",
        "token_ids": token_ids,
    }


def load() -> NodeRuntime:
    if not settings.AUTHORITY_NAME:
        raise ImproperlyConfigured("AUTHORITY_NAME: must be set (e.g. authority-1)")
    envelope = _read("AUTHORITY_KEY_FILE")
    if not settings.AUTHORITY_KEK:
        raise ImproperlyConfigured("AUTHORITY_KEK: must be set (base64 or hex, 32 bytes)")
    try:
        secret = keyvault.unseal(envelope, keyvault.kek_from_text(settings.AUTHORITY_KEK))
    except keyvault.KeyVaultError as exc:
        raise ImproperlyConfigured(f"AUTHORITY_KEY_FILE / AUTHORITY_KEK: {exc}") from None
    signer = Signer(secret)
    parsed = parse_committee_file(_read("AUTHORITY_COMMITTEE_FILE"))
    committee = parsed["committees"][parsed["epoch"]]
    address = signer.address.lower()
    if address not in committee.stakes:
        raise ImproperlyConfigured(
            f"AUTHORITY_KEY_FILE: this key's address {signer.address} is not a member of "
            f"epoch {committee.epoch} in AUTHORITY_COMMITTEE_FILE"
        )
    # previous epochs this node still votes in (outstanding offline vouchers are signed
    # for the epoch they were issued in): only where it was a member
    voting = {
        old: until
        for old, until in parsed["voting_until"].items()
        if address in parsed["committees"][old].stakes
    }
    return NodeRuntime(
        name=settings.AUTHORITY_NAME,
        signer=signer,
        address=address,
        domain=parsed["domain"],
        digests=Hasher(parsed["domain"]),
        committee=committee,
        committees=parsed["committees"],
        voting_until=voting,
        redemption_address=parsed["redemption_address"],
        token_ids=parsed["token_ids"],
        byzantine=settings.AUTHORITY_BYZANTINE,
        max_batch=settings.AUTHORITY_MAX_BATCH,
    )
