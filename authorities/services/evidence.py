"""Equivocation evidence: record two conflicting votes once, submit them for slashing."""

from django.db import IntegrityError, transaction
from django.utils import timezone
from eth_utils import to_checksum_address

from authorities import chain
from authorities.errors import NotEquivocation
from authorities.models import CommitteeMember, EquivocationEvidence, EvidenceStatus, MemberStatus
from fastpay.errors import NotFound
from fastpay.events import event_record
from fastpay_protocol.typed_data import Domain, TransferOrder, recover_vote_signer


def _order(data: dict) -> TransferOrder:
    return TransferOrder(
        **{k: data[k] for k in ("sender", "recipient", "token", "amount", "sequence", "epoch")}
    )


def evidence_record(
    *, domain: Domain, first: dict, first_signature: bytes, second: dict, second_signature: bytes
) -> EquivocationEvidence:
    """Check that two votes are by one authority for two different orders with the same
    (sender, sequence, epoch) and store them once. Raises NotEquivocation otherwise."""
    a, b = _order(first), _order(second)
    if (a.sender, a.sequence, a.epoch) != (b.sender, b.sequence, b.epoch) or a == b:
        raise NotEquivocation("the orders must differ and share sender, sequence and epoch")
    signer = recover_vote_signer(domain, a, first_signature)
    if recover_vote_signer(domain, b, second_signature) != signer:
        raise NotEquivocation("the two votes are by different authorities")
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
                    "evidence_id": evidence.pk,
                },
            )
    except IntegrityError:
        evidence = EquivocationEvidence.objects.get(
            authority=signer, sender=a.sender, sequence=a.sequence, epoch=a.epoch
        )
    return evidence


def evidence_submit(*, evidence_id: int, sender_key: bytes | None = None) -> EquivocationEvidence:
    """Report the evidence to AuthorityManager (slashing). Safe to call twice: evidence
    already submitted is returned as it is; the contract refuses used evidence anyway."""
    evidence = EquivocationEvidence.objects.filter(pk=evidence_id).first()
    if evidence is None:
        raise NotFound("no such evidence")
    if evidence.status == EvidenceStatus.SUBMITTED:
        return evidence
    key = sender_key if sender_key is not None else chain.chain_sender_key()
    try:
        tx_hash = chain.report_equivocation(
            _order(evidence.first_order).as_tuple(),
            bytes.fromhex(evidence.first_signature.removeprefix("0x")),
            _order(evidence.second_order).as_tuple(),
            bytes.fromhex(evidence.second_signature.removeprefix("0x")),
            sender_key=key,
        )
    except chain.ChainUnavailable:
        raise
    except Exception as exc:  # a revert: keep the reason for the operator
        EquivocationEvidence.objects.filter(pk=evidence.pk).update(
            status=EvidenceStatus.FAILED, error=str(exc)[:2000]
        )
        evidence.refresh_from_db()
        return evidence
    with transaction.atomic():
        EquivocationEvidence.objects.filter(pk=evidence.pk).update(
            status=EvidenceStatus.SUBMITTED,
            tx_hash=tx_hash,
            submitted_at=timezone.now(),
            error="",
        )
        CommitteeMember.objects.filter(address=to_checksum_address(evidence.authority)).update(
            status=MemberStatus.SLASHED
        )
        event_record(
            topic="authority.slashed",
            aggregate_type="authority",
            aggregate_id=evidence.authority,
            payload={
                "authority": evidence.authority,
                "evidence_id": evidence.pk,
                "tx_hash": tx_hash,
            },
        )
    evidence.refresh_from_db()
    return evidence
