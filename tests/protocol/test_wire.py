"""fastpay_protocol.wire and fastpay_protocol.addresses: the one wire parser (the nodes and
the clients) and the one cached EIP-55 helper. No Django."""

import json
import os
import random

import pytest
from eth_utils import to_checksum_address

from fastpay_protocol import addresses, signing, wire
from fastpay_protocol import typed_data as td
from fastpay_protocol.messages import Certificate, SignedOrder, Vote
from fastpay_protocol.wire import MessageError

ADDRESS = "0x" + "ab" * 20
DOMAIN = td.Domain(chain_id=31337, verifying_contract="0x" + "cd" * 20)
HASHER = signing.Hasher(DOMAIN)
KEYS = [signing.Signer(bytes([0x30 + i]) * 32) for i in range(4)]
SENDER = signing.Signer(b"\x77" * 32)


# ------------------------------------------------------------------ checksums


def test_the_checksum_helper_agrees_with_eth_utils_on_random_addresses():
    rng = random.Random(55)
    for _ in range(2000):
        raw = rng.randbytes(20)
        expected = to_checksum_address(raw)
        assert addresses.checksum(raw) == expected
        assert addresses.checksum("0x" + raw.hex()) == expected
        assert addresses.checksum("0x" + raw.hex().upper()) == expected
        assert addresses.canonical(expected) == expected


def test_the_checksum_is_computed_once_per_address_whatever_its_form():
    raw = os.urandom(20)
    addresses._eip55.cache_clear()
    addresses.checksum.cache_clear()
    for _ in range(2):
        addresses.checksum("0x" + raw.hex())
        addresses.checksum("0x" + raw.hex().upper())
        addresses.checksum(raw)

    info = addresses._eip55.cache_info()
    assert (info.misses, info.hits) == (1, 2)  # keyed on the lower-case hex
    assert addresses.checksum.cache_info().hits == 3


def test_signers_and_recoveries_give_checksummed_addresses():
    key = os.urandom(32)
    signer = signing.Signer(key)
    digest = os.urandom(32)

    assert signer.address == to_checksum_address(signer.address)
    assert signing.recover_digest(digest, signer.sign_digest(digest)) == signer.address


@pytest.mark.parametrize(
    "value",
    [
        ADDRESS + "\n",
        " " + ADDRESS,
        ADDRESS[:-1],
        ADDRESS + "0",
        "ab" * 20,  # no 0x
        "0X" + "ab" * 20,
        "0x" + "gg" * 20,
        42,
        None,
        b"\xab" * 20,
    ],
)
def test_near_miss_addresses_are_refused_everywhere(value):
    assert addresses.canonical(value) is None
    with pytest.raises(MessageError) as caught:
        wire.parse_address(value, "order.sender")
    assert caught.value.param == "order.sender"
    with pytest.raises(ValueError):
        td._address(value, "sender")


def test_a_wrong_mixed_case_checksum_is_refused_and_one_case_is_accepted():
    good = to_checksum_address(ADDRESS)
    flipped = good[:2] + good[2:].swapcase()  # mixed case, every letter wrong

    assert wire.parse_address(good, "a") == ADDRESS
    assert wire.parse_address(ADDRESS.upper().replace("0X", "0x"), "a") == ADDRESS
    with pytest.raises(MessageError, match="bad EIP-55 checksum"):
        wire.parse_address(flipped, "a")


# ------------------------------------------------------------------ messages


def a_certificate(voters=(0, 1, 2), sequence=7):
    order = td.TransferOrder(SENDER.address, "0x" + "99" * 20, "0x" + "55" * 20, 5, sequence, 1)
    digest = HASHER.vote_digest(order)
    votes = tuple(Vote(KEYS[i].address, KEYS[i].sign_digest(digest)) for i in voters)
    return Certificate(order, SENDER.sign_digest(HASHER.order_digest(order)), votes)


def test_a_certificate_round_trips_through_the_wire_parser_and_renderer():
    certificate = a_certificate()
    data = json.loads(json.dumps(certificate.to_json()))

    parsed = wire.parse_certificate(data)

    assert parsed.order.sender == SENDER.address.lower()
    assert [v.authority for v in parsed.votes] == [v.authority.lower() for v in certificate.votes]
    assert wire.render_certificate(parsed) == data
    assert Certificate.from_json(wire.render_certificate(parsed)) == certificate


def test_the_client_messages_are_built_on_the_wire_parser():
    certificate = a_certificate()
    signed = json.loads(json.dumps(certificate.signed_order.to_json()))
    signed["order"]["recipient"] = signed["order"]["recipient"].lower()

    assert SignedOrder.from_json(signed) == certificate.signed_order
    assert wire.render_order(wire.parse_signed_order(signed).order) == (
        certificate.order.as_message()
    )


@pytest.mark.parametrize(
    ("path", "value", "param"),
    [
        (("order", "amount"), 5.0, "order.amount"),
        (("order", "amount"), "5", "order.amount"),
        (("order", "amount"), True, "order.amount"),
        (("order", "sequence"), 2**64, "order.sequence"),
        (("order", "token"), "0x55", "order.token"),
        (("signature",), "0x" + "11" * 64, "signature"),
        (("votes",), [], "votes"),
        (("votes",), "all", "votes"),
    ],
)
def test_the_node_and_the_client_refuse_the_same_field(path, value, param):
    data = json.loads(json.dumps(a_certificate().to_json()))
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value

    with pytest.raises(MessageError) as node_side:
        wire.parse_certificate(data)
    with pytest.raises(MessageError) as client_side:
        Certificate.from_json(data)
    assert node_side.value.param == client_side.value.param == param


def test_a_missing_field_is_named_as_required():
    data = json.loads(json.dumps(a_certificate().to_json()))
    del data["order"]["epoch"]

    with pytest.raises(MessageError, match=r"order\.epoch: is required"):
        wire.parse_certificate(data)


def test_a_batch_envelope_needs_one_to_the_limit_items():
    assert wire.parse_items({"orders": [1, 2]}, "orders", 2) == [1, 2]
    for body in ({"orders": []}, {"orders": [1, 2, 3]}, {"orders": {}}, [], {"other": [1]}):
        with pytest.raises(MessageError) as caught:
            wire.parse_items(body, "orders", 2)
        assert caught.value.param in ("orders", None)
