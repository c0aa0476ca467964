"""The platform's door to the authority committee: the epoch schedule, the platform's
sealed key and the Django-free committee client (fastpay_protocol), behind one small API
the services call (and tests replace).

The platform follows the committee live (docs/committee-client.md, "Epochs"): the
schedule of epochs (each epoch's committee and ``activates_at``) comes from the chain
(CommitteeConsensus + AuthorityManager) when FASTPAY_COMMITTEE_FROM_CHAIN is on (default:
FASTPAY_DEPLOYMENT_JSON and FASTPAY_CHAIN_RPC_URL both set in the environment), else from
FASTPAY_COMMITTEE_FILE, re-read when its mtime changes. A poll (at most every
FASTPAY_COMMITTEE_POLL_S; a daemon thread for the chain, so no request waits for it) keeps
it fresh, and the active epoch is the schedule's by this process's clock: at
``activates_at`` the platform switches to the new committee without a restart.
"""

import logging
import os
import threading
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

from django.conf import settings
from eth_account import Account

from authorities.errors import CommitteeUnavailable
from fastpay.keyvault import kek_from_text, unseal
from fastpay_protocol import handoff
from fastpay_protocol import typed_data as td
from fastpay_protocol.keccak import keccak
from fastpay_protocol.membership import CommitteeFileError, committee_load
from fastpay_protocol.messages import Certificate, Committee, InvalidCertificate, MessageError

log = logging.getLogger(__name__)

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
ACCOUNT_KEY_TAG = b"fastpay.platform-account.v1"


def platform_account_key(platform_key: bytes, index: int) -> bytes:
    """The key of the platform's FastPay account ``index``. Account 0 is the platform key
    itself (the address defunds pay, the ticket issuer); account i >= 1 is
    ``keccak256("fastpay.platform-account.v1" || platform_key || uint32_be(i)) mod n``
    (secp256k1's order; a zero result, never met in practice, takes ``i + 2**32``). So the
    accounts follow from the one sealed key: a restored platform finds the same addresses,
    and no extra key is stored."""
    if index == 0:
        return bytes(platform_key)
    counter = index
    while True:
        digest = keccak(ACCOUNT_KEY_TAG + bytes(platform_key) + counter.to_bytes(8, "big"))
        scalar = int.from_bytes(digest, "big") % SECP256K1_N
        if scalar:
            return scalar.to_bytes(32, "big")
        counter += 2**32  # pragma: no cover


def legacy_schedule(committee: Committee, previous: dict | None = None) -> handoff.Schedule:
    """A schedule for a committee and the previous epochs of an old-style source (no
    ``activates_at``): the consecutive epochs ending at ``committee``, each active from a
    second after the one before (so ``committee`` is the active one now). Epochs before a
    gap are left to ``Gateway.committees`` only (verification)."""
    epochs = {**(previous or {}), committee.epoch: committee}
    run = [committee.epoch]
    while run[0] - 1 in epochs:
        run.insert(0, run[0] - 1)
    return handoff.Schedule(
        handoff.EpochInfo(epoch, epochs[epoch], i) for i, epoch in enumerate(run)
    )


def file_schedule(loaded) -> handoff.Schedule:
    """The schedule a committee file describes (membership.committee_load's result: each
    epoch with its ``activates_at``)."""
    return loaded.schedule()


class Gateway:
    """The committee as the platform sees it: the schedule, a client per epoch
    (``epochs``, sharing every known committee), the platform's keys."""

    def __init__(
        self,
        committee: Committee | None = None,
        platform_key: bytes | None = None,
        timeout_s: float = 5,
        previous: dict[int, Committee] | None = None,
        *,
        schedule: handoff.Schedule | None = None,
        clock: Callable[[], float] = time.time,
        accounts: int = 1,
    ):
        from fastpay_protocol.committee import EpochClients

        if schedule is None:
            if committee is None:
                raise ValueError("a Gateway needs a committee or a schedule")
            schedule = legacy_schedule(committee, previous)
        self.epochs = EpochClients(schedule, clock=clock, timeout=timeout_s)
        for epoch, known in (previous or {}).items():  # epochs before a gap: verify only
            self.epochs.committees.setdefault(epoch, known)
        self.platform_key = platform_key
        self.timeout_s = timeout_s
        self.platform_address = Account.from_key(platform_key).address if platform_key else None
        self._account_keys: dict[str, bytes] = {}
        if platform_key:
            for index in range(max(1, accounts)):
                key = platform_account_key(platform_key, index)
                self._account_keys[Account.from_key(key).address] = key
        # how the schedule is refreshed (set by _load): a callable -> (stamp, schedule)
        self._source: Callable[[], tuple[object, handoff.Schedule]] | None = None
        self._stamp: object = None
        self._polled = 0.0
        self._poll_lock = threading.Lock()
        self.polled_by_thread = False  # the chain: a daemon thread refreshes it

    # ---------------------------------------------------------------- the schedule

    @property
    def schedule(self) -> handoff.Schedule:
        return self.epochs.schedule

    @property
    def committee(self) -> Committee:
        """The committee of the epoch active now (by this process's clock)."""
        return self.epochs.committee()

    @property
    def committees(self) -> dict[int, Committee]:
        """Every epoch known -> its committee (certificates of any of them verify)."""
        return self.epochs.committees

    @property
    def _clients(self) -> dict:
        return {c.committee.epoch: c for c in self.epochs.clients()}

    def epoch(self) -> int:
        return self.epochs.active_epoch()

    def committee_of(self, epoch: int | None = None) -> Committee | None:
        return self.committee if epoch is None else self.committees.get(epoch)

    def update(self, schedule: handoff.Schedule) -> bool:
        """Follow a newer schedule (no restart); True when it changed anything."""
        changed = self.epochs.update(schedule)
        if changed:
            latest = schedule.latest()
            log.info(
                "committee schedule: epochs %s; latest %s activates at %s (active now: %s)",
                [info.epoch for info in schedule.epochs],
                latest.epoch,
                latest.activates_at,
                self.epoch(),
            )
        return changed

    def refresh(self, *, force: bool = False) -> bool:
        """Read the schedule's source again when due (every FASTPAY_COMMITTEE_POLL_S, or
        ``force``) and its stamp (the file's mtime, the chain's epochs) changed. A source
        that fails keeps the schedule known so far (logged)."""
        if self._source is None:
            return False
        now = time.monotonic()
        if not force and now - self._polled < settings.FASTPAY_COMMITTEE_POLL_S:
            return False
        with self._poll_lock:
            self._polled = now
            try:
                stamp, schedule = self._source()
            except Exception as exc:  # keep serving what is known
                log.error("cannot refresh the committee schedule: %s", exc)
                return False
            if stamp == self._stamp:
                return False
            self._stamp = stamp
            return self.update(schedule)

    def client(self, epoch: int | None = None):
        """The one committee client of this process for ``epoch`` (default: the active
        one; None for an epoch it does not know). Thread-safe: each calling thread gets its
        own keep-alive connections, and its worker pool is shared."""
        return self.epochs.client(epoch)

    # ---------------------------------------------------------------- platform accounts

    def platform_addresses(self) -> list[str]:
        """The platform's FastPay accounts, account 0 (``platform_address``) first."""
        return list(self._account_keys)

    def key_of(self, address: str) -> bytes | None:
        return self._account_keys.get(address)

    # ---------------------------------------------------------------- calls

    def order(self, *, sender, recipient, token, amount, sequence, epoch) -> td.TransferOrder:
        return td.TransferOrder(sender, recipient, token, amount, sequence, epoch)

    def certify_and_confirm(self, order: td.TransferOrder) -> dict:
        """Sign `order` with the key of its sender (one of the platform's accounts), gather
        a quorum, confirm; the certificate as JSON. The same order again yields the same
        votes (authorities are idempotent). An order whose epoch closed is re-signed for
        the active epoch (same payment, same sequence): the certificate's order says which
        epoch certified it."""
        from fastpay_protocol.committee_errors import CommitteeError

        key = self.key_of(order.sender)
        if key is None:
            raise CommitteeUnavailable("the platform has no FastPay key for this account")
        try:
            certificate = self.epochs.transfer(order, key)
        except CommitteeError as exc:
            raise CommitteeUnavailable(str(exc)) from exc
        return certificate.to_json()

    def applied_certificate(self, sender: str, sequence: int) -> dict | None:
        """The certificate the committee applied at (sender, sequence), verified under its
        own epoch's committee, as JSON; None when no authority that answered holds one."""
        from fastpay_protocol.committee_errors import CommitteeError

        try:
            found = self.client().applied_certificate(sender, sequence)
        except CommitteeError as exc:
            raise CommitteeUnavailable(str(exc)) from exc
        return None if found is None else found.to_json()

    def verify(self, certificate: dict) -> td.TransferOrder:
        """The certified order; ValueError when it is malformed or not a quorum."""
        try:
            parsed = Certificate.from_json(certificate, "certificate")
            committee = self.committee_of(parsed.order.epoch)
            if committee is None:
                raise InvalidCertificate(f"unknown epoch {parsed.order.epoch}")
            parsed.verify(committee)
        except (MessageError, InvalidCertificate) as exc:
            raise ValueError(str(exc)) from None
        self.client(parsed.order.epoch).watch_certificate(parsed)  # equivocation check
        return parsed.order

    def confirm(self, certificate: dict) -> None:
        """Confirm at the ACTIVE committee (a certificate of any known epoch is applied
        there: it is final), falling back on its own epoch's for an epoch the schedule
        does not list any more."""
        from fastpay_protocol.committee_errors import CommitteeError

        try:
            parsed = Certificate.from_json(certificate, "certificate")
            (self.client() or self.client(parsed.order.epoch)).confirm(parsed)
        except CommitteeError as exc:
            raise CommitteeUnavailable(str(exc)) from exc

    def account_state(self, address: str) -> dict:
        from fastpay_protocol.committee_errors import CommitteeError

        try:
            return self.client().account_state(address).to_json()
        except CommitteeError as exc:
            raise CommitteeUnavailable(str(exc)) from exc


# -------------------------------------------------------------------- sources


def _file_source(path: str) -> Callable[[], tuple[object, handoff.Schedule]]:
    def read() -> tuple[object, handoff.Schedule]:
        stamp = os.stat(path).st_mtime_ns
        return stamp, file_schedule(committee_load(path))  # the one loader: the nodes too

    return read


def _chain_source() -> Callable[[], tuple[object, handoff.Schedule]]:
    from authorities import chain

    def read() -> tuple[object, handoff.Schedule]:
        schedule = chain.committee_schedule()
        return schedule, schedule

    return read


def _poll_forever(gw: Gateway) -> None:
    while True:
        time.sleep(settings.FASTPAY_COMMITTEE_POLL_S)
        gw.refresh(force=True)


@cache
def _load(committee_file: str, key_file: str, kek: str, timeout_s: int) -> Gateway:
    from_chain = settings.FASTPAY_COMMITTEE_FROM_CHAIN
    source, stamp, schedule = None, None, None
    if from_chain:
        source = _chain_source()
        try:
            stamp, schedule = source()
        except Exception as exc:  # unreachable, or a deployment without the epoch interface
            log.error(
                "cannot read the committee from the chain (%s); using the committee file %s",
                exc,
                committee_file,
            )
            from_chain = False
    if not from_chain:
        source = _file_source(committee_file)
        try:
            stamp, schedule = source()
        except (CommitteeFileError, handoff.ScheduleError, OSError) as exc:
            # The operator's log names the file and the fault; an API client is never
            # shown a server path.
            log.error("cannot load the committee file %s: %s", committee_file, exc)
            raise CommitteeUnavailable("the committee is not configured on this platform") from None
    key = None
    if kek and Path(key_file).exists():
        key = unseal(Path(key_file).read_text(), kek_from_text(kek))
    gw = Gateway(
        schedule=schedule,
        platform_key=key,
        timeout_s=timeout_s,
        accounts=settings.FASTPAY_PLATFORM_ACCOUNTS,
    )
    gw._source, gw._stamp, gw._polled = source, stamp, time.monotonic()
    gw.polled_by_thread = from_chain
    if from_chain:  # chain reads are network I/O: never on a request's path
        threading.Thread(
            target=_poll_forever, args=(gw,), name="fastpay-committee-poll", daemon=True
        ).start()
    return gw


def gateway() -> Gateway:
    gw = _load(
        settings.FASTPAY_COMMITTEE_FILE,
        settings.FASTPAY_PLATFORM_KEY_FILE,
        settings.FASTPAY_KEK,
        settings.FASTPAY_COMMITTEE_TIMEOUT_S,
    )
    if not gw.polled_by_thread:
        gw.refresh()  # a stat() of the committee file at most every poll interval
    return gw
