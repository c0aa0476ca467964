"""fastpay_protocol.messages: the wire objects of docs/protocol.md round-trip, malformed ones
are refused naming the field, and Certificate.verify is the quorum rule."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

from fastpay_protocol import signing
from fastpay_protocol import typed_data as td
from fastpay_protocol.messages import (
    AccountInfo,
    Certificate,
    Committee,
    ErrorBody,
    InvalidCertificate,
    Member,
    MessageError,
    PendingOrder,
    SignedOrder,
    Vote,
    is_equivocation,
    order_from_json,
)

ROOT = Path(__file__).resolve().parents[2]
KEYS = [bytes([0x40 + i]) * 32 for i in range(5)]
SIGNERS = [signing.Signer(key) for key in KEYS]
SENDER = signing.Signer(b"\x99" * 32)
TOKEN = "0x" + "55" * 20


def a_committee(stakes=(1, 1, 1, 1), epoch=3):
    return Committee(
        epoch=epoch,
        chain_id=56,
        verifying_contract="0x" + "ab" * 20,
        redemption_address="0x" + "cd" * 20,
        members=tuple(
            Member(f"a{i}", signer.address, stake, f"http://127.0.0.1:{9000 + i}")
            for i, (signer, stake) in enumerate(zip(SIGNERS[: len(stakes)], stakes, strict=True))
        ),
    )


COMMITTEE = a_committee()


def an_order(**changes):
    fields = dict(
        sender=SENDER.address,
        recipient="0x" + "77" * 20,
        token=TOKEN,
        amount=12_500_000,
        sequence=7,
        epoch=3,
    )
    fields.update(changes)
    return td.TransferOrder(**fields)


def a_certificate(order=None, voters=(0, 1, 2), committee=COMMITTEE):
    order = order or an_order()
    hasher = committee.hasher
    votes = tuple(
        Vote(SIGNERS[i].address, SIGNERS[i].sign_digest(hasher.vote_digest(order))) for i in voters
    )
    return Certificate(order, SENDER.sign_digest(hasher.order_digest(order)), votes)


def through_json(value):
    return json.loads(json.dumps(value.to_json()))


def test_every_message_round_trips_through_json():
    certificate = a_certificate()
    pending = PendingOrder(certificate.order, certificate.votes[0])
    info = AccountInfo(SENDER.address, 8, {TOKEN: 5}, pending)
    signed = certificate.signed_order

    assert SignedOrder.from_json(through_json(signed)) == signed
    assert Vote.from_json(through_json(certificate.votes[1])) == certificate.votes[1]
    assert Certificate.from_json(through_json(certificate)) == certificate
    assert AccountInfo.from_json(through_json(info)) == info
    assert Committee.from_json(through_json(COMMITTEE)) == COMMITTEE
    assert Committee.from_json(through_json(COMMITTEE)).same_as(COMMITTEE)


def test_lower_case_addresses_are_accepted_and_checksummed():
    data = through_json(a_certificate().signed_order)
    data["order"]["sender"] = data["order"]["sender"].lower()

    assert SignedOrder.from_json(data).order.sender == SENDER.address


def test_certificate_votes_are_kept_in_ascending_signer_order():
    certificate = a_certificate(voters=(2, 0, 1))
    addresses = [int(vote.authority, 16) for vote in certificate.votes]

    assert addresses == sorted(addresses)
    assert td.verify_certificate(
        COMMITTEE.domain, certificate.order, certificate.packed_signatures(), COMMITTEE.stakes
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", 12.5),  # float: never money
        ("amount", 1e6),
        ("amount", "12500000"),
        ("amount", True),
        ("amount", -1),
        ("sequence", 2**64),
        ("sender", "0x1234"),
        ("sender", "77" * 20),  # no 0x
        ("recipient", None),
    ],
)
def test_malformed_order_fields_are_refused_naming_the_field(field, value):
    data = through_json(a_certificate().signed_order)
    data["order"][field] = value

    with pytest.raises(MessageError) as caught:
        SignedOrder.from_json(data)
    assert caught.value.param == f"order.{field}"


def test_missing_fields_and_bad_signatures_are_refused_with_their_path():
    data = through_json(a_certificate())
    del data["order"]["epoch"]
    with pytest.raises(MessageError, match=r"order\.epoch: is required"):
        Certificate.from_json(data)

    data = through_json(a_certificate())
    data["votes"][1]["signature"] = data["votes"][1]["signature"][:-2]
    with pytest.raises(MessageError) as caught:
        Certificate.from_json(data)
    assert caught.value.param == "votes[1].signature"

    with pytest.raises(MessageError):
        order_from_json(["not", "an", "object"])


def test_account_balances_are_integers():
    data = through_json(AccountInfo(SENDER.address, 0, {TOKEN: 5}))
    data["balances"][TOKEN] = 5.0

    with pytest.raises(MessageError):
        AccountInfo.from_json(data)


def test_a_committee_refuses_duplicate_members_and_zero_stake():
    with pytest.raises(MessageError):
        Committee.from_json({**through_json(COMMITTEE), "members": []})
    data = through_json(COMMITTEE)
    data["members"][1]["address"] = data["members"][0]["address"]
    with pytest.raises(MessageError, match="duplicate"):
        Committee.from_json(data)
    with pytest.raises(MessageError):
        a_committee(stakes=(0, 0, 0, 0))


def test_a_certificate_of_three_of_four_verifies():
    a_certificate().verify(COMMITTEE)
    assert a_certificate().is_valid(COMMITTEE)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: a_certificate(voters=(0, 1)), "not more than 2/3"),
        (lambda: a_certificate(order=an_order(epoch=2)), "epoch"),
        (
            lambda: Certificate(
                an_order(), a_certificate().signature, a_certificate().votes[:2] * 2
            ),
            "two votes",
        ),
    ],
)
def test_certificates_short_of_a_quorum_are_invalid(make, reason):
    with pytest.raises(InvalidCertificate, match=reason):
        make().verify(COMMITTEE)


def test_a_vote_by_a_non_member_or_over_another_order_is_invalid():
    good = a_certificate()
    stranger = signing.Signer(b"\x33" * 32)
    foreign = Vote(stranger.address, stranger.sign_digest(COMMITTEE.hasher.vote_digest(good.order)))
    with pytest.raises(InvalidCertificate, match="not a committee member"):
        Certificate(good.order, good.signature, (*good.votes[:2], foreign)).verify(COMMITTEE)

    other = a_certificate(order=an_order(amount=1))
    mixed = Certificate(good.order, good.signature, good.votes[:2] + other.votes[2:])
    with pytest.raises(InvalidCertificate, match="invalid vote signature"):
        mixed.verify(COMMITTEE)


def test_a_high_s_vote_is_invalid():
    good = a_certificate()
    vote = good.votes[0]
    s = int.from_bytes(vote.signature[32:64], "big")
    flipped = vote.signature[:32] + (td.SECP256K1_N - s).to_bytes(32, "big")
    flipped += bytes((55 - vote.signature[64],))
    malleable = Certificate(
        good.order, good.signature, (Vote(vote.authority, flipped), *good.votes[1:])
    )

    with pytest.raises(InvalidCertificate, match="invalid vote signature"):
        malleable.verify(COMMITTEE)


def test_an_order_not_signed_by_its_sender_is_invalid():
    good = a_certificate()
    forged = SIGNERS[3].sign_digest(COMMITTEE.hasher.order_digest(good.order))

    with pytest.raises(InvalidCertificate, match="sender"):
        Certificate(good.order, forged, good.votes).verify(COMMITTEE)


def test_quorum_is_by_stake_not_by_head_count():
    # total 10, quorum 7; nobody holds a third (refused from 4 members on)
    weighted = a_committee(stakes=(3, 3, 2, 1, 1))

    a_certificate(voters=(0, 1, 3), committee=weighted).verify(weighted)  # 7
    with pytest.raises(InvalidCertificate):
        a_certificate(voters=(2, 3, 4), committee=weighted).verify(weighted)  # 4


def test_two_votes_of_one_member_for_one_sequence_are_an_equivocation():
    hasher = COMMITTEE.hasher
    first, second = an_order(amount=1), an_order(amount=2)

    def held(order, signer=SIGNERS[0]):
        return PendingOrder(
            order, Vote(signer.address, signer.sign_digest(hasher.vote_digest(order)))
        )

    assert is_equivocation(COMMITTEE, held(first), held(second))
    assert not is_equivocation(COMMITTEE, held(first), held(first))
    assert not is_equivocation(COMMITTEE, held(first), held(second, SIGNERS[1]))
    assert not is_equivocation(COMMITTEE, held(first), held(an_order(amount=2, sequence=8)))
    forged = PendingOrder(second, Vote(SIGNERS[0].address, held(second, SIGNERS[1]).vote.signature))
    assert not is_equivocation(COMMITTEE, held(first), forged)


def test_error_bodies_keep_their_extra_fields():
    body = {
        "error": {"code": "missing_sequence", "message": "m", "param": None},
        "next_sequence": 4,
    }

    error = ErrorBody.from_json(body)

    assert (error.code, error.extra["next_sequence"]) == ("missing_sequence", 4)
    assert error.to_json() == body


def test_the_client_library_imports_without_django():
    # a wallet app or a POS terminal embeds it: Django must not even be importable
    code = (
        "import sys; sys.modules['django'] = None\n"
        "import fastpay_protocol.committee, fastpay_protocol.messages, fastpay_protocol.signing\n"
        "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules"
        " if sys.modules[m] is not None)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_account_ids_in_the_tests_are_real_keys():
    assert SENDER.address == Account.from_key(b"\x99" * 32).address
