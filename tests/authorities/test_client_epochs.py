"""The committee client across an epoch change, against in-process fake authorities
(tests/authorities/fake_authority.py): certificates are verified against the committee of
their own order's epoch (a lagging authority is caught up with certificates of the
previous epoch), ``wrong_epoch`` names the active epoch and a sender re-signs the same
payment for it, ``handover_pending`` is retried, and an authority that applied another
payment's certificate for a sequence raises ConflictingCertificate."""

import threading
import time

import pytest
from eth_account import Account

from fastpay_protocol import handoff
from fastpay_protocol import typed_data as td
from fastpay_protocol.committee import (
    CommitteeClient,
    ConflictingCertificate,
    EpochClients,
    HandoverPending,
    VoteWatch,
    WrongEpoch,
    reepoch,
)
from fastpay_protocol.messages import Certificate, Vote
from tests.authorities.fake_authority import TOKEN, committee_of, start_committee

ALICE = Account.from_key(b"\xa1" * 32)
BOB = Account.from_key(b"\xb0" * 32)
CAROL = Account.from_key(b"\xca" * 32)
FUNDS = 100_000_000


@pytest.fixture
def nodes():
    authorities, _ = start_committee(4)
    epoch_1 = committee_of(authorities, epoch=1)
    for authority in authorities:
        authority.fund(ALICE.address, FUNDS)
    yield authorities, epoch_1
    for authority in authorities:
        authority.stop()


def move_to_epoch_2(authorities, epoch_1):
    """The same members vote in epoch 2 from now on; they still apply epoch-1
    certificates."""
    epoch_2 = committee_of(authorities, epoch=2)
    for authority in authorities:
        authority.committees[1] = epoch_1
    return epoch_2


def order(sequence=0, amount=1_000_000, epoch=1, recipient=BOB):
    return td.TransferOrder(ALICE.address, recipient.address, TOKEN, amount, sequence, epoch)


def certificate_by(authorities, o: td.TransferOrder, committee) -> Certificate:
    """A certificate signed directly with the authorities' keys (no protocol round)."""
    hasher = committee.hasher
    votes = tuple(Vote(a.address, a.signer.sign_digest(hasher.vote_digest(o))) for a in authorities)
    signature = td.sign_order(committee.domain, o, ALICE.key)
    return Certificate(o, signature, votes)


def test_a_lagging_authority_is_caught_up_with_certificates_of_the_previous_epoch(nodes):
    """The reported stall: node 3 missed alice's epoch-1 certificate; after the change a
    client of epoch 2 fetched it and refused it ("order epoch 1 is not the committee's
    epoch 2"), so node 3 stayed behind on alice for good."""
    authorities, epoch_1 = nodes
    authorities[3].deaf = True  # it answers, but does not apply: it lags
    with CommitteeClient(epoch_1, timeout=1.0, watch=VoteWatch()) as first:
        first.transfer(order(), ALICE.key, wait_all=True)
    authorities[3].deaf = False
    epoch_2 = move_to_epoch_2(authorities, epoch_1)
    assert authorities[3].account(ALICE.address).next_sequence == 0

    with CommitteeClient(epoch_2, timeout=1.0, watch=VoteWatch()) as unaware:
        stalled = unaware.catch_up(ALICE.address)  # knows no committee of epoch 1
    assert stalled.lag == {authorities[3].address: 1}
    assert "epoch 1 is unknown" in str(stalled.failures[authorities[3].address])

    with CommitteeClient(
        epoch_2, timeout=1.0, watch=VoteWatch(), committees={1: epoch_1}
    ) as client:
        result = client.catch_up(ALICE.address)
        assert result.pushed == {authorities[3].address: 1} and result.lag == {
            authorities[3].address: 0
        }
        # and the account moves on in epoch 2 at every authority
        client.transfer(order(sequence=1, epoch=2), ALICE.key, wait_all=True)
        found = client.applied_certificate(ALICE.address, 0)  # every known epoch by default
    assert [a.account(ALICE.address).next_sequence for a in authorities] == [2] * 4
    assert found is not None and found.order.epoch == 1


def test_an_order_of_a_closed_epoch_is_wrong_epoch_naming_the_active_one(nodes):
    authorities, epoch_1 = nodes
    move_to_epoch_2(authorities, epoch_1)

    with (
        CommitteeClient(epoch_1, timeout=1.0, watch=VoteWatch()) as old,
        pytest.raises(WrongEpoch) as refused,
    ):
        old.transfer(order(), ALICE.key)

    assert refused.value.active_epoch == 2
    assert not refused.value.retryable


def test_a_liar_alone_cannot_name_the_active_epoch(nodes):
    authorities, epoch_1 = nodes
    with CommitteeClient(epoch_1, timeout=1.0, watch=VoteWatch()) as client:
        from fastpay_protocol.committee_errors import AuthorityFailure

        wrong = {
            authorities[0].address: AuthorityFailure(
                authorities[0].address, "refused", "", "wrong_epoch", 409, {"epoch": 9}
            ),
            **{
                a.address: AuthorityFailure(
                    a.address, "refused", "", "wrong_epoch", 409, {"epoch": 2}
                )
                for a in authorities[1:]
            },
        }
        assert client._named_epoch(wrong) == 2
        assert client._named_epoch(dict(list(wrong.items())[:1])) is None


def test_a_sender_re_signs_the_same_payment_for_the_active_epoch(nodes):
    """FUND across a change: the platform's order of epoch 1 was not certified before
    epoch 1 closed; the same payment at the same sequence is certified in epoch 2."""
    authorities, epoch_1 = nodes
    epoch_2 = move_to_epoch_2(authorities, epoch_1)
    now = time.time()
    schedule = handoff.Schedule(
        [handoff.EpochInfo(1, epoch_1, 0), handoff.EpochInfo(2, epoch_2, int(now) - 10)]
    )

    with EpochClients(schedule, timeout=1.0, watch=VoteWatch()) as clients:
        certificate = clients.transfer(order(), ALICE.key)
    assert certificate.order == reepoch(order(), 2)
    assert handoff.same_payment(certificate.order, order())
    certificate.verify(epoch_2)

    # a clock still before the boundary: the authorities' wrong_epoch moves it
    late = handoff.Schedule(
        [handoff.EpochInfo(1, epoch_1, 0), handoff.EpochInfo(2, epoch_2, int(now) + 3600)]
    )
    with EpochClients(late, timeout=1.0, watch=VoteWatch()) as clients:
        again = clients.transfer(order(sequence=1, recipient=CAROL), ALICE.key)
    assert again.order.epoch == 2 and again.order.sequence == 1


def test_the_re_epoched_payment_applies_once_where_the_original_was_applied(nodes):
    authorities, epoch_1 = nodes
    original = certificate_by(authorities[:3], order(), epoch_1)
    authorities[0].certificate(original)  # one authority applied the epoch-1 certificate
    epoch_2 = move_to_epoch_2(authorities, epoch_1)
    moved = certificate_by(authorities[:3], reepoch(order(), 2), epoch_2)

    with CommitteeClient(
        epoch_2, timeout=1.0, watch=VoteWatch(), committees={1: epoch_1}
    ) as client:
        client.confirm(moved, wait_all=True)

    assert [a.account(BOB.address).balances.get(TOKEN, 0) for a in authorities] == [1_000_000] * 4


def test_handover_pending_is_retried_until_the_handover_is_done(nodes):
    authorities, epoch_1 = nodes
    for authority in authorities:
        authority.handover_pending = True

    def done():
        for authority in authorities:
            authority.handover_pending = False

    threading.Timer(0.4, done).start()
    with CommitteeClient(epoch_1, timeout=1.0, watch=VoteWatch()) as client:
        certificate = client.transfer(order(), ALICE.key)

    assert certificate.order == order()


def test_a_handover_that_does_not_finish_in_time_is_a_retryable_handover_pending(nodes):
    authorities, epoch_1 = nodes
    for authority in authorities:
        authority.handover_pending = True

    with (
        CommitteeClient(epoch_1, timeout=0.3, watch=VoteWatch()) as client,
        pytest.raises(HandoverPending) as waiting,
    ):
        client.certify(client.sign_order(ALICE.key, **fields(order())))

    assert waiting.value.retryable and waiting.value.codes() == {"handover_pending"}


def fields(o):
    return {
        "recipient": o.recipient,
        "token": o.token,
        "amount": o.amount,
        "sequence": o.sequence,
        "epoch": o.epoch,
    }


def test_an_authority_that_applied_another_payment_raises_conflicting_certificate(nodes):
    """Two certificates for one (sender, sequence) need more than f liars; when an
    authority shows one, the client raises with both and tells the watch's handler."""
    authorities, epoch_1 = nodes
    other = certificate_by(authorities[1:4], order(amount=2_000_000, recipient=CAROL), epoch_1)
    authorities[3].certificate(other)
    heard = []
    watch = VoteWatch(on_conflicting_certificate=heard.append)

    with (
        CommitteeClient(epoch_1, timeout=1.0, watch=watch) as client,
        pytest.raises(ConflictingCertificate) as conflict,
    ):
        client.transfer(order(), ALICE.key, wait_all=True)

    assert conflict.value.authority == authorities[3].address
    assert conflict.value.order == other.order and conflict.value.certificate == other
    assert conflict.value.submitted.order == order()
    assert heard == [conflict.value]
    assert watch.found == 2  # nodes 1 and 2 voted for both: equivocation evidence


def test_a_forged_conflicting_certificate_raises_no_alarm(nodes, monkeypatch):
    authorities, epoch_1 = nodes
    forged = certificate_by(authorities[3:4], order(amount=2_000_000), epoch_1)  # 1 vote
    liar = authorities[3]
    real = liar.certificate

    def lie(certificate):
        return 409, {
            "error": {"code": "conflicting_certificate", "message": "", "param": None},
            "order": forged.to_json()["order"],
            "certificate": forged.to_json(),
        }

    monkeypatch.setattr(liar, "certificate", lie)
    heard = []
    with CommitteeClient(
        epoch_1, timeout=1.0, watch=VoteWatch(on_conflicting_certificate=heard.append)
    ) as client:
        certificate = client.transfer(order(), ALICE.key, wait_all=True)
    monkeypatch.setattr(liar, "certificate", real)

    assert heard == [] and certificate.order == order()


def test_a_batch_confirmation_meeting_a_conflict_reports_it_too(nodes):
    authorities, epoch_1 = nodes
    other = certificate_by(authorities[1:4], order(amount=2_000_000, recipient=CAROL), epoch_1)
    authorities[3].certificate(other)
    mine = certificate_by(authorities[:3], order(), epoch_1)
    heard = []

    with CommitteeClient(
        epoch_1, timeout=1.0, watch=VoteWatch(on_conflicting_certificate=heard.append)
    ) as client:
        (result,) = client.confirm_batch([mine], wait_all=True)

    failure = result.failures[authorities[3].address]
    assert failure.reason == "conflicting_certificate"
    assert [c.certificate for c in heard] == [other]
