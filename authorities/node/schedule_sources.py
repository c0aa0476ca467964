"""Where the node reads its epoch schedule: the committee file, or the chain.

- ``FileSource`` (AUTHORITY_COMMITTEE_FILE): the one loader (fastpay_protocol.membership),
  re-read when the file's modification time or size changes. Write a new file with an
  announced epoch (its ``activates_at`` in the future) and every node picks it up within
  a poll interval; replace it atomically (write a temporary file, rename it over).
- ``ChainSource`` (AUTHORITY_CHAIN_SCHEDULE=1, with CHAIN_RPC_URL and DEPLOYMENT_JSON, as
  the deposit follower): CommitteeConsensus gives each epoch's members, stakes and
  ``activatesAt``, AuthorityManager each member's endpoint (``endpointOf``); the chain id,
  CertificateVerifier, OfflinePaymentProcessor and tokens come from the deployment file.
  Registered epochs never change, so only new ones (and endpoints) are read again.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from fastpay_protocol.handoff import EpochInfo, Schedule, ScheduleError
from fastpay_protocol.membership import Committee, Member
from fastpay_protocol.wire import MessageError


@dataclass(frozen=True)
class Loaded:
    schedule: Schedule
    token_ids: dict[str, int] = field(default_factory=dict)  # EIP-55 token -> vault id


class FileSource:
    def __init__(self, path: str):
        self.path = path
        self._stamp: tuple[int, int] | None = None

    def describe(self) -> str:
        return f"AUTHORITY_COMMITTEE_FILE={self.path}"

    def _stat(self) -> tuple[int, int]:
        stat = os.stat(self.path)
        return stat.st_mtime_ns, stat.st_size

    def _load(self) -> Loaded:
        from authorities.node.runtime import committee_file

        try:
            text = Path(self.path).read_text()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"AUTHORITY_COMMITTEE_FILE={self.path!r}: cannot read it ({exc.strerror})"
            ) from None
        parsed = committee_file(text)
        return Loaded(parsed.schedule(), dict(parsed.token_ids))

    def first(self) -> Loaded:
        if not self.path:
            raise ImproperlyConfigured("AUTHORITY_COMMITTEE_FILE: must be set (path to a file)")
        try:
            self._stamp = self._stat()
        except OSError:
            self._stamp = None
        return self._load()

    def poll(self) -> Loaded | None:
        """The file's schedule if it changed since the last read, else None (raises for a
        broken file, once per change)."""
        stamp = self._stat()
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        return self._load()


#: the functions the node calls (epochs.md section B); a minimal ABI, so the node does not
#: depend on the build artefacts of the contracts
CONSENSUS_ABI = [
    {
        "name": name,
        "type": "function",
        "stateMutability": "view",
        "inputs": inputs,
        "outputs": outputs,
    }
    for name, inputs, outputs in [
        ("currentEpoch", [], [{"name": "", "type": "uint64"}]),
        ("activatesAt", [{"name": "epoch", "type": "uint64"}], [{"name": "", "type": "uint64"}]),
        (
            "membersOf",
            [{"name": "epoch", "type": "uint64"}],
            [{"name": "", "type": "address[]"}],
        ),
        (
            "stakeOf",
            [{"name": "epoch", "type": "uint64"}, {"name": "authority", "type": "address"}],
            [{"name": "", "type": "uint256"}],
        ),
    ]
]
MANAGER_ABI = [
    {
        "name": "endpointOf",
        "type": "function",
        "stateMutability": "view",
        "inputs": [{"name": "authority", "type": "address"}],
        "outputs": [{"name": "", "type": "string"}],
    }
]


class ChainSource:
    """The schedule from CommitteeConsensus. ``reader`` (tests) answers the four view
    calls and ``endpointOf``; by default web3 on CHAIN_RPC_URL."""

    def __init__(self, deployment_path: str, rpc_url: str, reader: Any = None):
        self.deployment_path = deployment_path
        try:
            deployment = json.loads(Path(deployment_path).read_text())
            contracts = deployment["contracts"]
            self.chain_id = int(deployment["chain_id"])
            self.verifier = contracts["CertificateVerifier"]["address"]
            self.redemption = contracts["OfflinePaymentProcessor"]["address"]
            self.vault = contracts.get("TokenVault", {}).get("address")
            self.token_ids = {t["address"]: int(t["id"]) for t in deployment.get("tokens", [])}
            consensus = contracts["CommitteeConsensus"]["address"]
            manager = contracts["AuthorityManager"]["address"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ImproperlyConfigured(
                f"DEPLOYMENT_JSON={deployment_path!r}: cannot read the contracts ({exc})"
            ) from None
        self.reader = reader or _Web3Reader(rpc_url, consensus, manager)
        self._known: dict[int, EpochInfo] = {}
        self._last: Schedule | None = None

    def describe(self) -> str:
        return f"CommitteeConsensus (DEPLOYMENT_JSON={self.deployment_path})"

    def _epoch(self, epoch: int) -> EpochInfo:
        members = []
        for address in self.reader.members_of(epoch):
            url = self.reader.endpoint_of(address)
            members.append(
                Member(
                    name=address,
                    address=address,
                    stake=self.reader.stake_of(epoch, address),
                    url=url,
                )
            )
        committee = Committee(
            epoch,
            self.chain_id,
            self.verifier,
            self.redemption,
            tuple(members),
            vault_address=self.vault,
        )
        return EpochInfo(epoch, committee, int(self.reader.activates_at(epoch)))

    def _read(self) -> Schedule:
        latest = int(self.reader.current_epoch())
        epochs = []
        for epoch in range(1, latest + 1):
            info = self._known.get(epoch)
            if info is None:
                try:
                    info = self._epoch(epoch)
                except (MessageError, ValueError) as exc:
                    raise ImproperlyConfigured(f"CommitteeConsensus epoch {epoch}: {exc}") from None
                self._known[epoch] = info
            epochs.append(info)
        try:
            return Schedule(epochs)
        except ScheduleError as exc:
            raise ImproperlyConfigured(f"CommitteeConsensus: {exc}") from None

    def first(self) -> Loaded:
        self._last = self._read()
        return Loaded(self._last, dict(self.token_ids))

    def poll(self) -> Loaded | None:
        schedule = self._read()
        if schedule == self._last:
            return None
        self._last = schedule
        return Loaded(schedule, dict(self.token_ids))


class _Web3Reader:
    def __init__(self, rpc_url: str, consensus: str, manager: str):
        from web3 import Web3

        w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 5}))
        self.consensus = w3.eth.contract(
            address=Web3.to_checksum_address(consensus), abi=CONSENSUS_ABI
        ).functions
        self.manager = w3.eth.contract(
            address=Web3.to_checksum_address(manager), abi=MANAGER_ABI
        ).functions

    def current_epoch(self) -> int:
        return self.consensus.currentEpoch().call()

    def activates_at(self, epoch: int) -> int:
        return self.consensus.activatesAt(epoch).call()

    def members_of(self, epoch: int) -> list[str]:
        return list(self.consensus.membersOf(epoch).call())

    def stake_of(self, epoch: int, address: str) -> int:
        return self.consensus.stakeOf(epoch, address).call()

    def endpoint_of(self, address: str) -> str:
        return self.manager.endpointOf(address).call()


_source: FileSource | ChainSource | None = None
_source_lock = threading.Lock()


def source() -> FileSource | ChainSource:
    """This process's schedule source, from the settings."""
    global _source
    with _source_lock:
        if _source is None:
            if settings.AUTHORITY_CHAIN_SCHEDULE:
                if not settings.CHAIN_RPC_URL or not settings.DEPLOYMENT_JSON:
                    raise ImproperlyConfigured(
                        "AUTHORITY_CHAIN_SCHEDULE: needs CHAIN_RPC_URL and DEPLOYMENT_JSON"
                    )
                _source = ChainSource(settings.DEPLOYMENT_JSON, settings.CHAIN_RPC_URL)
            else:
                _source = FileSource(settings.AUTHORITY_COMMITTEE_FILE)
        return _source
