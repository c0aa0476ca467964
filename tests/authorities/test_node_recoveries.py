"""authorities.node.services.recoveries: a noted (digest, signature) pair costs no
recovery; any other pair is recovered in full, and refused as recover_digest_bytes would."""

import os

import pytest

from authorities.node.services import recoveries
from fastpay_protocol import signing
from fastpay_protocol import typed_data as td


@pytest.fixture(autouse=True)
def empty(monkeypatch):
    monkeypatch.setattr(recoveries, "_known", {})
    monkeypatch.setattr(recoveries, "_digests", {})


def test_a_noted_pair_is_not_recovered_again(monkeypatch):
    key = signing.Signer(os.urandom(32))
    digest = os.urandom(32)
    signature = key.sign_digest(digest)
    signer = signing.address_bytes(key.address)
    recoveries.signer_note(digest, signature, signer)

    def no_recovery(*args):
        raise AssertionError("recovered")

    monkeypatch.setattr(recoveries, "recover_digest_bytes", no_recovery)
    assert recoveries.signer_of(digest, signature) == signer


def test_other_bytes_for_the_same_digest_are_recovered():
    mine, other = signing.Signer(os.urandom(32)), signing.Signer(os.urandom(32))
    digest = os.urandom(32)
    recoveries.signer_note(digest, mine.sign_digest(digest), signing.address_bytes(mine.address))

    assert recoveries.signer_of(digest, other.sign_digest(digest)) == signing.address_bytes(
        other.address
    )
    with pytest.raises(td.InvalidSignature):
        recoveries.signer_of(digest, bytes(64) + b"\x1b")


def test_the_oldest_entries_go_first_when_full(monkeypatch):
    monkeypatch.setattr(recoveries, "MAX_ENTRIES", 8)
    for i in range(9):
        recoveries.signer_note(bytes([i]) * 32, b"s", b"a" * 20)

    assert len(recoveries._known) == 7
    assert (bytes([0]) * 32, b"s") not in recoveries._known
    assert (bytes([8]) * 32, b"s") in recoveries._known


def test_an_orders_digests_are_computed_once():
    from fastpay_protocol.wire import Order

    hasher = signing.Hasher(td.Domain(chain_id=1, verifying_contract="0x" + "ab" * 20))
    order = Order("0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, 5, 0, 1)
    calls = []

    class Counting:
        def order_and_vote(self, order):
            calls.append(order)
            return hasher.order_and_vote(order)

    first = recoveries.digests_of(Counting(), order)
    again = recoveries.digests_of(Counting(), Order(*order))

    assert first == again == hasher.order_and_vote(order)
    assert len(calls) == 1
