"""Equivocation evidence: every vote the platform receives is checked (the committee
client's VoteWatch); two conflicting votes are recorded once, at once, and submitted to
AuthorityManager for slashing by a Celery task — automatically with FASTPAY_SLASHING_AUTO
(the default), or by an operator from admin.

Evidence is keyed on (authority, sender, sequence), across epochs: an honest authority
never signs two different payments for one (sender, sequence) in any epoch
(``handoff.equivocation``). The same payment re-signed for a later epoch (a sender whose
order's epoch closed: ``handoff.same_payment``) is not evidence: the handover rule makes
the new committee vote for exactly that. Each vote must be by a member of its own
order's epoch.

The same recorder stores the conflicting certificates the clients meet
(authorities.services.conflicts).
"""

import logging
import queue
import threading

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone
from eth_utils import to_checksum_address

from authorities import chain
from authorities.errors import NotEquivocation
from authorities.models import CommitteeMember, EquivocationEvidence, EvidenceStatus, MemberStatus
from fastpay.errors import NotFound
from fastpay.events import event_record
from fastpay_protocol import handoff
from fastpay_protocol.committee.equivocation import Equivocation
from fastpay_protocol.committee_errors import ConflictingCertificate
from fastpay_protocol.typed_data import Domain, InvalidSignature, TransferOrder, recover_vote_signer

log = logging.getLogger(__name__)


def _order(data: dict) -> TransferOrder:
    return TransferOrder(
        **{k: data[k] for k in ("sender", "recipient", "token", "amount", "sequence", "epoch")}
    )


def evidence_record(
    *, domain: Domain, first: dict, first_signature: bytes, second: dict, second_signature: bytes
) -> tuple[EquivocationEvidence, bool]:
    """Check that two votes are by one authority, a member of each order's epoch, for two
    different payments with the same (sender, sequence) — in one epoch or two — and store
    them once (unique per authority, sender and sequence). Returns (evidence, created).
    Raises NotEquivocation otherwise (a re-epoched same payment included)."""
    a, b = _order(first), _order(second)
    if (a.sender, a.sequence) != (b.sender, b.sequence):
        raise NotEquivocation("the orders must share sender and sequence")
    if not handoff.equivocation(a, b):
        raise NotEquivocation(
            "the same payment (re-signed for another epoch, or identical) is not evidence"
        )
    try:
        signer = recover_vote_signer(domain, a, first_signature)
        other = recover_vote_signer(domain, b, second_signature)
    except InvalidSignature as exc:
        raise NotEquivocation(f"a vote signature is invalid: {exc}") from None
    if other != signer:
        raise NotEquivocation("the two votes are by different authorities")
    for order in (a, b):
        committee = _committee_of(order.epoch)
        if committee is not None and not committee.is_member(signer):
            raise NotEquivocation(f"{signer} is not a member of epoch {order.epoch}")
    try:
        with transaction.atomic():
            evidence = EquivocationEvidence.objects.create(
                authority=signer,
                sender=a.sender,
                sequence=a.sequence,
                epoch=a.epoch,
                first_order=a.as_message(),
                first_signature="0x" + bytes(first_signature).hex(),
                second_order=b.as_message(),
                second_signature="0x" + bytes(second_signature).hex(),
            )
            event_record(
                topic="authority.equivocated",
                aggregate_type="authority",
                aggregate_id=signer,
                payload={
                    "authority": signer,
                    "sender": a.sender,
                    "sequence": a.sequence,
                    "epoch": a.epoch,
                    "second_epoch": b.epoch,
                    "evidence_id": evidence.pk,
                    "state": "new",
                },
            )
    except IntegrityError:
        evidence = EquivocationEvidence.objects.get(
            authority=signer, sender=a.sender, sequence=a.sequence
        )
        return evidence, False
    return evidence, True


def evidence_from_votes(
    found: Equivocation, *, domain: Domain
) -> tuple[EquivocationEvidence, bool]:
    """evidence_record for what the committee client's watch found; with
    FASTPAY_SLASHING_AUTO, new evidence is queued for submission (evidence_submit_task)."""
    evidence, created = evidence_record(
        domain=domain,
        first=found.first.order.as_message(),
        first_signature=found.first.vote.signature,
        second=found.second.order.as_message(),
        second_signature=found.second.vote.signature,
    )
    if created:
        log.warning(
            "equivocation: %s signed two orders for %s sequence %s (evidence %s)",
            evidence.authority,
            evidence.sender,
            evidence.sequence,
            evidence.pk,
        )
        if settings.FASTPAY_SLASHING_AUTO:
            from authorities.tasks import evidence_submit_task

            transaction.on_commit(lambda: evidence_submit_task.delay(evidence.pk))
    return evidence, created


def _claim(evidence_id: int, *, force: bool) -> bool:
    """Compare-and-set to SUBMITTING: only one submission at a time (and once)."""
    states = [EvidenceStatus.NEW, EvidenceStatus.FAILED]
    if force:
        states.append(EvidenceStatus.SUBMITTING)
    return bool(
        EquivocationEvidence.objects.filter(pk=evidence_id, status__in=states).update(
            status=EvidenceStatus.SUBMITTING
        )
    )


def evidence_submit(
    *, evidence_id: int, sender_key: bytes | None = None, force: bool = False
) -> EquivocationEvidence:
    """Report the evidence to AuthorityManager (slashing). Idempotent: evidence already
    submitted (or being submitted elsewhere) is returned as it is; an authority the chain
    slashed before (or evidence it used) is recorded ALREADY_SLASHED; another revert
    FAILED with its reason. ChainUnavailable leaves it NEW (retry later). ``force`` also
    takes evidence left SUBMITTING by a process that died (the chain check makes it safe).
    Never inside a transaction: it waits for the chain."""
    evidence = EquivocationEvidence.objects.filter(pk=evidence_id).first()
    if evidence is None:
        raise NotFound("no such evidence")
    if not _claim(evidence.pk, force=force):
        evidence.refresh_from_db()
        return evidence
    try:
        key = sender_key if sender_key is not None else chain.chain_sender_key()
        tx_hash = chain.report_equivocation(
            _order(evidence.first_order).as_tuple(),
            bytes.fromhex(evidence.first_signature.removeprefix("0x")),
            _order(evidence.second_order).as_tuple(),
            bytes.fromhex(evidence.second_signature.removeprefix("0x")),
            authority=evidence.authority,
            sender_key=key,
        )
    except chain.ChainUnavailable as exc:
        EquivocationEvidence.objects.filter(pk=evidence.pk).update(
            status=EvidenceStatus.NEW, error=str(exc)[:2000]
        )
        raise
    except chain.AlreadySlashed as exc:
        _slashed(evidence, EvidenceStatus.ALREADY_SLASHED, error=str(exc))
        evidence.refresh_from_db()
        return evidence
    except Exception as exc:  # a revert: keep the reason for the operator
        EquivocationEvidence.objects.filter(pk=evidence.pk).update(
            status=EvidenceStatus.FAILED, error=str(exc)[:2000]
        )
        evidence.refresh_from_db()
        return evidence
    _slashed(evidence, EvidenceStatus.SUBMITTED, tx_hash=tx_hash)
    evidence.refresh_from_db()
    return evidence


def _slashed(evidence: EquivocationEvidence, status: str, *, tx_hash="", error="") -> None:
    with transaction.atomic():
        EquivocationEvidence.objects.filter(pk=evidence.pk).update(
            status=status, tx_hash=tx_hash, submitted_at=timezone.now(), error=error[:2000]
        )
        CommitteeMember.objects.filter(address=to_checksum_address(evidence.authority)).update(
            status=MemberStatus.SLASHED
        )
        if status == EvidenceStatus.SUBMITTED:
            event_record(
                topic="authority.slashed",
                aggregate_type="authority",
                aggregate_id=evidence.authority,
                payload={
                    "authority": evidence.authority,
                    "evidence_id": evidence.pk,
                    "tx_hash": tx_hash,
                    "state": "submitted",
                },
            )


def evidence_pending() -> list[int]:
    """Evidence not submitted yet (NEW), oldest first: what the beat retries."""
    return list(
        EquivocationEvidence.objects.filter(status=EvidenceStatus.NEW)
        .order_by("found_at")
        .values_list("pk", flat=True)
    )


class EvidenceRecorder:
    """The platform's equivocation handler. The committee client's watch calls it from
    its worker threads (in the middle of a quorum round): it only queues; one daemon
    thread records the evidence (a short transaction on its own connection) and queues
    the submission, so no caller waits for the database or the chain."""

    def __init__(self, domain_of):
        self._domain_of = domain_of  # epoch -> Domain
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._busy = 0
        self._idle = threading.Condition(self._lock)

    def __call__(self, found: Equivocation | ConflictingCertificate) -> None:
        with self._lock:
            self._busy += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="fastpay-evidence", daemon=True
                )
                self._thread.start()
        self._queue.put(found)

    def _run(self) -> None:
        while True:
            found = self._queue.get()
            try:
                close_old_connections()
                if isinstance(found, ConflictingCertificate):
                    from authorities.services.conflicts import conflict_record

                    conflict_record(conflict=found)
                else:
                    evidence_from_votes(found, domain=self._domain_of(found.first.order.epoch))
            except Exception:
                log.exception("could not record what %s signed", found.authority)
            finally:
                connection.close()
                with self._lock:
                    self._busy -= 1
                    self._idle.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once everything handed in so far is recorded (tests, shutdown)."""
        with self._lock:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)


_recorder: EvidenceRecorder | None = None


def recorder() -> EvidenceRecorder | None:
    """The recorder watch_votes installed (None before)."""
    return _recorder


def watch_votes() -> EvidenceRecorder:
    """Make this process's committee clients report conflicting votes to an
    EvidenceRecorder (once per process; AuthoritiesConfig.ready calls it)."""
    global _recorder
    from fastpay_protocol.committee import process_watch

    if _recorder is None:
        _recorder = EvidenceRecorder(_domain_of)
        process_watch().on_equivocation = _recorder
        process_watch().on_conflicting_certificate = _recorder
    return _recorder


def _committee_of(epoch: int):
    """The committee of ``epoch`` as the platform knows it (None when it does not)."""
    from authorities.gateway import CommitteeUnavailable, gateway

    try:
        return gateway().committee_of(epoch)
    except CommitteeUnavailable:
        return None


def _domain_of(epoch: int) -> Domain:
    from authorities.gateway import gateway

    gw = gateway()
    committee = gw.committee_of(epoch) or gw.committee
    return Domain(chain_id=committee.chain_id, verifying_contract=committee.verifying_contract)
