"""The platform records a conflicting certificate: an authority (in-process fake, real
HTTP) that applied another payment's valid certificate at a sequence the platform
confirms answers 409 conflicting_certificate; the process's watch hands it to the
platform's recorder: one ConflictingCertificate row, an outbox event, the metric, an
ERROR log, and the caller gets ConflictingCertificate (nothing is credited on it)."""

import pytest
from eth_account import Account

from authorities.models import ConflictingCertificate as ConflictRecord
from authorities.services.evidence import watch_votes
from fastpay.models import OutboxEvent
from fastpay_protocol import typed_data as td
from fastpay_protocol.committee import CommitteeClient, ConflictingCertificate
from fastpay_protocol.messages import Certificate, Vote
from tests.authorities.fake_authority import TOKEN, start_committee

ALICE = Account.from_key(b"\xa1" * 32)
FUNDS = 100_000_000

# the recorder writes on its own connection; the seeded rows are restored after
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def nodes():
    authorities, committee = start_committee(4)
    for authority in authorities:
        authority.fund(ALICE.address, FUNDS)
    yield authorities, committee
    for authority in authorities:
        authority.stop()


def order(amount, recipient="0x" + "b0" * 20):
    return td.TransferOrder(ALICE.address, recipient, TOKEN, amount, 0, 0)


def test_a_conflicting_certificate_is_recorded_once_with_an_event_and_a_metric(nodes, caplog):
    from prometheus_client.core import REGISTRY

    authorities, committee = nodes
    recorder = watch_votes()
    other = order(2_000_000, recipient="0x" + "ca" * 20)
    hasher = committee.hasher
    applied = Certificate(
        other,
        td.sign_order(committee.domain, other, ALICE.key),
        tuple(
            Vote(a.address, a.signer.sign_digest(hasher.vote_digest(other)))
            for a in authorities[1:]
        ),
    )
    authorities[3].certificate(applied)

    with CommitteeClient(committee, timeout=1.0) as client:  # the process's watch
        with pytest.raises(ConflictingCertificate) as raised:
            client.transfer(order(1_000_000), ALICE.key, wait_all=True)
        with pytest.raises(ConflictingCertificate):  # confirmed again: recorded once
            client.confirm(raised.value.submitted, wait_all=True)
    assert recorder.wait_idle()

    (record,) = ConflictRecord.objects.all()
    assert (record.authority, record.sender, record.sequence) == (
        authorities[3].address,
        ALICE.address,
        0,
    )
    assert record.applied_certificate == applied.to_json()
    assert record.submitted_certificate["order"]["amount"] == 1_000_000
    event = OutboxEvent.objects.get(topic="authority.conflicting_certificate")
    assert event.payload["record_id"] == record.pk
    assert REGISTRY.get_sample_value("fastpay_conflicting_certificates") == 1
    assert any(
        r.levelname == "ERROR" and "CONFLICTING CERTIFICATES" in r.getMessage()
        for r in caplog.records
    )
