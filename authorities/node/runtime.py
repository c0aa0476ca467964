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
from fastpay_protocol.membership import Committee, CommitteeFile, committee_load
from fastpay_protocol.signing import Hasher, Signer
from fastpay_protocol.typed_data import Domain


@dataclass(frozen=True)
class NodeRuntime:
    name: str
    signer: Signer
    address: str  # lower-case
    domain: Domain
    digests: Hasher
    committee: Committee  # the current epoch's (fastpay_protocol.membership: the one rule)
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


def committee_file(text: str) -> CommitteeFile:
    """The committee file's text, read by the one loader (fastpay_protocol.membership,
    the platform's too); a broken one is ImproperlyConfigured naming the field."""
    try:
        return committee_load(json.loads(text))
    except ValueError as exc:  # CommitteeFileError, or not JSON
        raise ImproperlyConfigured(f"AUTHORITY_COMMITTEE_FILE: {exc}") from None


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
    parsed = committee_file(_read("AUTHORITY_COMMITTEE_FILE"))
    committee = parsed.committee
    address = signer.address.lower()
    if not committee.is_member(address):
        raise ImproperlyConfigured(
            f"AUTHORITY_KEY_FILE: this key's address {signer.address} is not a member of "
            f"epoch {committee.epoch} in AUTHORITY_COMMITTEE_FILE"
        )
    # previous epochs this node still votes in (outstanding offline vouchers are signed
    # for the epoch they were issued in): only where it was a member
    voting = {
        old: until
        for old, until in parsed.voting_until.items()
        if parsed.previous[old].is_member(address)
    }
    return NodeRuntime(
        name=settings.AUTHORITY_NAME,
        signer=signer,
        address=address,
        domain=committee.domain,
        digests=Hasher(committee.domain),
        committee=committee,
        committees=parsed.committees,
        voting_until=voting,
        redemption_address=committee.redemption_address.lower(),
        token_ids={token.lower(): i for token, i in parsed.token_ids.items()},
        byzantine=settings.AUTHORITY_BYZANTINE,
        max_batch=settings.AUTHORITY_MAX_BATCH,
    )
