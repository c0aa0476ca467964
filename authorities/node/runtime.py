"""The node's identity and its epoch schedule: ``node()`` is the runtime of the moment.

The key is opened once per process (the sealed envelope with the KEK). The schedule comes
from a source (``authorities.node.schedule_sources``: the committee file, re-read when its
mtime changes, or CommitteeConsensus on the chain) that a daemon thread of each process
polls every AUTHORITY_SCHEDULE_POLL_MS: an announced epoch is known without a restart, and
the node switches at its ``activates_at`` by its own clock (``NodeRuntime.epoch`` is the
epoch active now). A problem at start raises ImproperlyConfigured naming the variable
(run_authority calls ``node()`` before serving); a broken update is logged and ignored.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from fastpay import keyvault
from fastpay_protocol.handoff import Schedule
from fastpay_protocol.membership import Committee, CommitteeFile, committee_load
from fastpay_protocol.signing import Hasher, Signer
from fastpay_protocol.typed_data import Domain

log = logging.getLogger("authorities.node.schedule")


@dataclass(frozen=True)
class NodeRuntime:
    name: str
    signer: Signer
    address: str  # lower-case
    domain: Domain
    digests: Hasher
    schedule: Schedule = field(hash=False)  # every epoch it knows, with activation times
    redemption_address: str = ""  # lower-case; "" when unknown
    token_ids: dict[str, int] = field(default_factory=dict, hash=False)  # vault token ids
    byzantine: bool = False
    max_batch: int = 1000
    committees: dict[int, Committee] = field(default_factory=dict, hash=False, init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "committees", {info.epoch: info.committee for info in self.schedule.epochs}
        )

    def active_epoch(self, now: float | None = None) -> int:
        """The epoch active at ``now`` (unix seconds, default the node's clock); the first
        known epoch before it activates."""
        active = self.schedule.active_epoch(time.time() if now is None else now)
        return self.schedule.epochs[0].epoch if active is None else active

    @property
    def epoch(self) -> int:
        return self.active_epoch()

    @property
    def committee(self) -> Committee:
        """The committee of the epoch active now."""
        return self.committees[self.epoch]

    def is_member(self, epoch: int) -> bool:
        committee = self.committees.get(epoch)
        return committee is not None and committee.is_member(self.address)


_lock = threading.Lock()
_runtime: NodeRuntime | None = None
_watcher_pid: int | None = None
_quiet_pid: int | None = None


def node() -> NodeRuntime:
    """The runtime of the moment (its schedule as last read from the source)."""
    global _runtime
    if _runtime is None:
        with _lock:
            if _runtime is None:
                _runtime = load()
    if _watcher_pid != os.getpid() and _quiet_pid != os.getpid():
        _watch()
    return _runtime


def quiet_here() -> None:
    """No follower thread in this process (run_authority's: a thread running while
    gunicorn forks the workers could hand them a held lock)."""
    global _quiet_pid
    _quiet_pid = os.getpid()


def followers_start() -> None:
    """In a gunicorn worker, once: the schedule watcher and the handover thread
    (services.handover: pre-sync, then the handover of each epoch this node joins)."""
    from authorities.node.services.handover import handover_forever

    node()
    thread = threading.Thread(
        target=handover_forever,
        args=(settings.AUTHORITY_HANDOVER_POLL_MS / 1000,),
        name="handover",
        daemon=True,
    )
    thread.start()


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
    import json

    try:
        return committee_load(json.loads(text))
    except ValueError as exc:  # CommitteeFileError, or not JSON
        raise ImproperlyConfigured(f"AUTHORITY_COMMITTEE_FILE: {exc}") from None


def _signer() -> Signer:
    envelope = _read("AUTHORITY_KEY_FILE")
    if not settings.AUTHORITY_KEK:
        raise ImproperlyConfigured("AUTHORITY_KEK: must be set (base64 or hex, 32 bytes)")
    try:
        secret = keyvault.unseal(envelope, keyvault.kek_from_text(settings.AUTHORITY_KEK))
    except keyvault.KeyVaultError as exc:
        raise ImproperlyConfigured(f"AUTHORITY_KEY_FILE / AUTHORITY_KEK: {exc}") from None
    return Signer(secret)


def load() -> NodeRuntime:
    from authorities.node.schedule_sources import source

    if not settings.AUTHORITY_NAME:
        raise ImproperlyConfigured("AUTHORITY_NAME: must be set (e.g. authority-1)")
    signer = _signer()
    first = source().first()
    address = signer.address.lower()
    if not any(info.committee.is_member(address) for info in first.schedule.epochs):
        raise ImproperlyConfigured(
            f"AUTHORITY_KEY_FILE: this key's address {signer.address} is a member of no "
            f"epoch of {source().describe()}"
        )
    domain = first.schedule.epochs[0].committee.domain
    return NodeRuntime(
        name=settings.AUTHORITY_NAME,
        signer=signer,
        address=address,
        domain=domain,
        digests=Hasher(domain),
        schedule=first.schedule,
        redemption_address=first.schedule.latest().committee.redemption_address.lower(),
        token_ids={token.lower(): i for token, i in first.token_ids.items()},
        byzantine=settings.AUTHORITY_BYZANTINE,
        max_batch=settings.AUTHORITY_MAX_BATCH,
    )


# ---------------------------------------------------------------------- live updates


def schedule_change_refusal(old: Schedule, new: Schedule, now: float) -> str | None:
    """Why ``new`` may not replace ``old`` at ``now`` (None: it may). An epoch that has
    activated is history: its committee and activation time never change (votes were cast
    under them), and an epoch is only announced for the future (its predecessor's members
    must stop voting at its activates_at by their own clocks, which they cannot do in the
    past). The domain never changes."""
    if new.epochs[0].committee.domain != old.epochs[0].committee.domain:
        return "the chain or verifying contract changed: that is a new deployment"
    for info in old.epochs:
        if info.activates_at > now:
            continue
        other = new.info(info.epoch)
        if other is None or other.activates_at != info.activates_at:
            return f"epoch {info.epoch} is active or closed: its activates_at cannot change"
        if other.committee.members != info.committee.members:
            return f"epoch {info.epoch} is active or closed: its members cannot change"
    for info in new.epochs:
        if old.info(info.epoch) is None and info.activates_at <= now:
            return (
                f"epoch {info.epoch} is announced with activates_at {info.activates_at}, "
                "already past: announce epochs for the future"
            )
    return None


def runtime_update(schedule: Schedule, token_ids: dict[str, int] | None = None) -> bool:
    """Switch this process to ``schedule`` if it is a valid successor of the current
    one (else log why and keep the old); True when switched."""
    global _runtime
    with _lock:
        current = _runtime
        if current is None or current.schedule == schedule:
            return False
        refusal = schedule_change_refusal(current.schedule, schedule, time.time())
        if refusal is not None:
            log.error("committee schedule update refused, keeping the old one: %s", refusal)
            return False
        changes: dict = {"schedule": schedule}
        if token_ids is not None:
            changes["token_ids"] = {t.lower(): i for t, i in token_ids.items()}
        _runtime = replace(current, **changes)
    latest = schedule.latest()
    log.warning(
        "committee schedule updated: %s (latest epoch %s activates at %s, this node %s)",
        schedule,
        latest.epoch,
        latest.activates_at,
        "a member" if latest.committee.is_member(current.address) else "not a member",
    )
    return True


def _watch() -> None:
    """Start this process's schedule watcher (once per process: gunicorn forks workers
    after run_authority loaded the runtime, and threads do not cross a fork)."""
    global _watcher_pid
    with _lock:
        if _watcher_pid == os.getpid():
            return
        _watcher_pid = os.getpid()
    thread = threading.Thread(target=_watch_forever, name="schedule-watcher", daemon=True)
    thread.start()


def _watch_forever() -> None:
    from authorities.node.schedule_sources import source

    poll = settings.AUTHORITY_SCHEDULE_POLL_MS / 1000
    while True:
        time.sleep(poll)
        try:
            update = source().poll()
            if update is not None:
                runtime_update(update.schedule, dict(update.token_ids) or None)
        except Exception as exc:  # a broken file mid-write, the chain unreachable: retry
            log.warning("committee schedule: %s: %s (retrying)", type(exc).__name__, exc)
