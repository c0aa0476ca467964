"""The handover client: a member of epoch e+1 reads the frozen state of epoch e's members
before its first vote in e+1 (docs/protocol.md, "Epochs and the handover").

``handover_step`` runs every AUTHORITY_HANDOVER_POLL_MS in the node's committee follower
(a child process of run_authority, ``manage.py follow_committee``):

- before e+1 activates (announced, this node a member): PRE-SYNC, the certificates of e's
  members' feeds (not frozen yet), verified and applied, so the final read is short;
- once e+1 has activated by this node's clock and e is not handed over here, for EVERY
  epoch e+1 this node is a member of (not only the active one, in epoch order: a member
  of a short epoch still hands its state forward, and serves e+1 frozen only after it):
  read the FROZEN feed of e's members (pending orders, carried locks, then certificates
  to the end) until sources with more than 2/3 of e's stake were read completely (this
  node counts itself when it was a member of e and serves e frozen: its own database is
  frozen by its own clock, and complete once its own handover of e-1 is done); verify and
  apply every certificate (against its own epoch's committee); verify every pending entry
  (its voter a member of its order's epoch) and store it as a carried lock candidate
  where this node has no certificate for its (sender, sequence) and that is the sender's
  next sequence here; record HandedOver (a row: survives restarts). Until then orders of
  e+1 are answered 503 ``handover_pending``.

A source that answers something invalid (a certificate without a quorum, a pending entry
with a bad signature) is not counted; an unreachable one is retried at the next step.
HTTP calls never run inside a transaction.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from authorities.node import errors
from authorities.node.models import Account, CarriedLock, Certificate, HandedOver
from authorities.node.runtime import NodeRuntime, node
from authorities.node.services.certificates import certificates_apply
from authorities.node.services.handover_feed import FREEZE_MARGIN_S
from authorities.node.services.locks import write_transaction
from authorities.node.services.recoveries import digests_of, signer_of
from fastpay_protocol.handoff import (
    carried_candidate,
    handover_epoch,
    handover_sources_enough,
    serves_frozen,
)
from fastpay_protocol.typed_data import InvalidSignature
from fastpay_protocol.wire import (
    HANDOVER_PAGE_MAX,
    HandoverPage,
    MessageError,
    PendingEntry,
    hex0x,
    parse_handover_page,
)

log = logging.getLogger("authorities.node.handover")

TIMEOUT_S = 5
MAX_PAGES = 100_000  # a guard against a source that never ends its feed


class SourceFailed(Exception):
    """This source's feed cannot be used now (unreachable, not frozen, invalid)."""


@dataclass
class _Read:
    """What one source gave in a complete frozen read."""

    address: str
    applied: int = 0
    pending: list[PendingEntry] = field(default_factory=list)


# cursors of the pre-sync, per (epoch, source address), for the life of the process
_presync: dict[tuple[int, str], str] = {}


def _fetch(url: str, epoch: int, after: str | None) -> HandoverPage:
    query = f"epoch={epoch}&limit={HANDOVER_PAGE_MAX}" + (f"&after={after}" if after else "")
    try:
        with urllib.request.urlopen(  # noqa: S310 - committee URLs are http(s) (membership)
            f"{url.rstrip('/')}/authority/v1/handover?{query}", timeout=TIMEOUT_S
        ) as resp:
            body = json.loads(resp.read())
    except (OSError, ValueError, urllib.error.HTTPError) as exc:
        raise SourceFailed(f"{type(exc).__name__}: {exc}") from None
    try:
        page = parse_handover_page(body)
    except MessageError as exc:
        raise SourceFailed(f"malformed page: {exc}") from None
    if page.epoch != epoch:
        raise SourceFailed(f"answered epoch {page.epoch} for {epoch}")
    return page


def _apply(certificates, source: str) -> int:
    """Verify and apply a page's certificates; the number applied now. A certificate
    without a valid quorum (or out of sequence) disqualifies the source."""
    if not certificates:
        return 0
    applied = 0
    for cert, result in zip(
        certificates, certificates_apply(certificates=list(certificates)), strict=True
    ):
        if isinstance(result, errors.ConflictingCertificate):
            continue  # logged at ERROR by the apply: valid, but more than f lied
        if isinstance(result, errors.NodeError):
            raise SourceFailed(
                f"certificate {cert.order.sender}#{cert.order.sequence}: {result.code} "
                f"{result.message}"
            )
        applied += bool(result["applied"])
    return applied


def _entry_valid(rt: NodeRuntime, entry: PendingEntry) -> str | None:
    """Why ``entry`` is not a valid pending order with a member's vote (None: valid)."""
    order = entry.signed.order
    committee = rt.committees.get(order.epoch)
    if committee is None:
        return f"unknown epoch {order.epoch}"
    if not committee.is_member(entry.vote.authority):
        return f"voter {entry.vote.authority} is not a member of epoch {order.epoch}"
    order_digest, vote_digest = digests_of(rt.digests, order)
    try:
        if "0x" + signer_of(order_digest, entry.signed.signature).hex() != order.sender:
            return "order not signed by its sender"
        if "0x" + signer_of(vote_digest, entry.vote.signature).hex() != entry.vote.authority:
            return "vote not signed by its authority"
    except InvalidSignature as exc:
        return str(exc)
    return None


def presync(*, rt: NodeRuntime, epoch: int, url: str, address: str) -> int:
    """Apply the certificates of one source's (not yet frozen) feed from where the last
    pre-sync stopped; returns how many were applied here."""
    key = (epoch, address)
    applied = 0
    for _ in range(MAX_PAGES):
        page = _fetch(url, epoch, _presync.get(key))
        if page.frozen:
            return applied  # the final read takes over
        try:
            applied += _apply(page.certificates, address)
        except SourceFailed:
            _presync.pop(key, None)  # read it all again in the final read
            raise
        if page.next:
            _presync[key] = page.next
        if len(page.certificates) < HANDOVER_PAGE_MAX:
            return applied
    return applied


def read_frozen(*, rt: NodeRuntime, epoch: int, url: str, address: str) -> _Read:
    """One source's frozen feed to its end: certificates applied, pending entries checked
    (kept for the merge)."""
    read = _Read(address)
    after = _presync.get((epoch, address))
    for _ in range(MAX_PAGES):
        page = _fetch(url, epoch, after)
        if not page.frozen:
            raise SourceFailed("not frozen yet (its clock is before the close)")
        for entry in page.pending:
            problem = _entry_valid(rt, entry)
            if problem is not None:
                raise SourceFailed(f"pending entry: {problem}")
            read.pending.append(entry)
        read.applied += _apply(page.certificates, address)
        if page.next is None:
            return read
        after = page.next
    raise SourceFailed("the feed does not end")


def _store(rt: NodeRuntime, epoch: int, reads: list[_Read], sources: list[str]) -> int:
    """Carried lock candidates from the sources' pending entries, and the HandedOver row,
    in one transaction; returns how many candidates were stored."""
    entries = [(read.address, entry) for read in reads for entry in read.pending]
    with write_transaction():
        senders = {entry.signed.order.sender for _, entry in entries}
        nexts = dict(
            Account.objects.filter(address__in=senders).values_list("address", "next_sequence")
        )
        certified = set(
            Certificate.objects.filter(sender__in=senders).values_list("sender", "sequence")
        )
        rows = []
        for source, entry in entries:
            order = entry.signed.order
            if not carried_candidate(
                entry=order,
                next_sequence=nexts.get(order.sender, 0),
                certified_at_sequence=(order.sender, order.sequence) in certified,
            ):
                continue
            rows.append(
                CarriedLock(
                    sender=order.sender,
                    sequence=order.sequence,
                    recipient=order.recipient,
                    token=order.token,
                    amount=order.amount,
                    epoch=order.epoch,
                    order_signature=hex0x(entry.signed.signature),
                    voter=entry.vote.authority,
                    vote_signature=hex0x(entry.vote.signature),
                    source=source,
                )
            )
        CarriedLock.objects.bulk_create(rows, ignore_conflicts=True)
        _prune()
        total = sum(read.applied for read in reads)
        HandedOver.objects.get_or_create(
            epoch=epoch,
            defaults={"sources": sorted(sources), "certificates": total, "carried": len(rows)},
        )
    return len(rows)


def _prune() -> None:
    """Carried candidates of sequences already certified here are history."""
    stale = [
        row.pk
        for row in CarriedLock.objects.raw(
            "SELECT c.id FROM authority_node_carriedlock c JOIN authority_node_account a "
            "ON a.address = c.sender WHERE c.sequence < a.next_sequence"
        )
    ]
    if stale:
        CarriedLock.objects.filter(pk__in=stale).delete()


def handover_run(
    *, rt: NodeRuntime, epoch: int, now: float, handed_over: set[int] | None = None
) -> bool:
    """Try to complete the handover of ``epoch`` (its successor active at ``now``);
    True when it is recorded as handed over. ``handed_over``: the epochs handed over here
    (read from the database when not given)."""
    if handed_over is None:
        handed_over = set(HandedOver.objects.values_list("epoch", flat=True))
    if epoch in handed_over:
        return True
    committee = rt.committees[epoch]
    sources: list[str] = []
    if committee.is_member(rt.address) and serves_frozen(
        rt.schedule, epoch, now - FREEZE_MARGIN_S, handed_over
    ):
        sources.append(rt.address)  # its own database, frozen by its own clock
    others = [m for m in committee.members if m.address.lower() != rt.address]
    reads: list[_Read] = []

    def read(member):
        return read_frozen(rt=rt, epoch=epoch, url=member.url, address=member.address.lower())

    with ThreadPoolExecutor(max_workers=max(1, len(others))) as pool:
        futures = {member.address.lower(): pool.submit(read, member) for member in others}
        for address, future in futures.items():
            try:
                reads.append(future.result())
                sources.append(address)
            except SourceFailed as exc:
                log.info("handover of epoch %s: source %s not used now: %s", epoch, address, exc)
    if not handover_sources_enough(committee, sources):
        log.info(
            "handover of epoch %s: sources %s hold %s of %s stake, waiting for more",
            epoch,
            sorted(sources),
            committee.stake_of(sources),
            committee.total_stake,
        )
        return False
    carried = _store(rt, epoch, reads, sources)
    log.warning(
        "handover of epoch %s complete: %d source(s), %d certificate(s) applied, %d carried "
        "lock(s); epoch %s may vote and serve its frozen state",
        epoch,
        len(sources),
        sum(r.applied for r in reads),
        carried,
        epoch + 1,
    )
    return True


def handover_step(*, now: float | None = None) -> None:
    """One pass: complete, in epoch order, the handover of the predecessor of every epoch
    this node is a member of that has activated (to vote in the active one, and to serve
    the closed ones frozen with what they carry), then pre-sync an announced epoch this
    node joins."""
    rt = node()
    now = time.time() if now is None else now
    active = rt.schedule.active_epoch(now)
    handed_over = set(HandedOver.objects.values_list("epoch", flat=True))
    for info in rt.schedule.epochs:
        if info.activates_at > now:
            break
        previous = handover_epoch(rt.schedule, info.epoch)
        if previous is None or previous in handed_over or not rt.is_member(info.epoch):
            continue
        if handover_run(rt=rt, epoch=previous, now=now, handed_over=handed_over):
            handed_over.add(previous)
    following = None if active is None else active + 1
    if following in rt.committees and rt.is_member(following):
        for member in rt.committees[active].members:
            if member.address.lower() == rt.address:
                continue
            try:
                presync(rt=rt, epoch=active, url=member.url, address=member.address.lower())
            except SourceFailed as exc:
                log.info("pre-sync of epoch %s from %s: %s", active, member.address, exc)


def handover_forever(poll_seconds: float) -> None:
    from django.db import close_old_connections

    while True:
        close_old_connections()
        try:
            handover_step()
        except Exception:  # a bug or the database unreachable: logged, retried
            log.exception("handover step failed (retrying)")
        time.sleep(poll_seconds)
