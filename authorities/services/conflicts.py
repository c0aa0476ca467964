"""Conflicting certificates: an authority answered 409 ``conflicting_certificate`` — it
applied another payment's certificate at a (sender, sequence) the platform confirmed.
Two valid certificates for one sequence need more than f faulty members of some committee
(docs/protocol.md, "Epochs"): the platform records it once, logs it at ERROR, counts it
in the metrics (``fastpay_conflicting_certificates``) and emits the outbox event
``authority.conflicting_certificate`` for the operators' alerting. Nothing is credited on
top of it: the caller got the ConflictingCertificate error."""

import logging

from django.db import IntegrityError, transaction

from authorities.models import ConflictingCertificate as ConflictRecord
from fastpay.events import event_record
from fastpay_protocol.committee_errors import ConflictingCertificate

log = logging.getLogger(__name__)


def conflict_record(*, conflict: ConflictingCertificate) -> tuple[ConflictRecord, bool]:
    """Store a ConflictingCertificate the committee client verified (both certificates
    valid under their own epochs' committees, another payment at one sequence) once per
    (authority, sender, sequence). Returns (record, created)."""
    submitted = conflict.submitted
    order = submitted.order
    try:
        with transaction.atomic():
            record = ConflictRecord.objects.create(
                authority=conflict.authority,
                sender=order.sender,
                sequence=order.sequence,
                applied_epoch=conflict.order.epoch,
                submitted_epoch=order.epoch,
                applied_certificate=conflict.certificate.to_json(),
                submitted_certificate=submitted.to_json(),
            )
            event_record(
                topic="authority.conflicting_certificate",
                aggregate_type="authority",
                aggregate_id=conflict.authority,
                payload={
                    "authority": conflict.authority,
                    "sender": order.sender,
                    "sequence": order.sequence,
                    "applied_epoch": conflict.order.epoch,
                    "submitted_epoch": order.epoch,
                    "record_id": record.pk,
                    "state": "recorded",
                },
            )
    except IntegrityError:
        record = ConflictRecord.objects.get(
            authority=conflict.authority, sender=order.sender, sequence=order.sequence
        )
        return record, False
    log.error(
        "CONFLICTING CERTIFICATES: %s applied another payment at %s sequence %s (epoch %s "
        "vs the platform's epoch %s; record %s): more than f authorities of a committee "
        "signed both",
        conflict.authority,
        order.sender,
        order.sequence,
        conflict.order.epoch,
        order.epoch,
        record.pk,
    )
    return record, True
