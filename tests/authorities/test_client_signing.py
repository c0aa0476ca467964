"""fastpay_protocol.signing: the fast digests and signatures are byte-identical to the
typed_data reference (which the contracts cross-check), and refuse what it refuses."""

from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from fastpay_protocol import signing as sg
from fastpay_protocol import typed_data as td

DOMAIN = td.Domain(chain_id=31337, verifying_contract="0x" + "ab" * 20)
HASHER = sg.Hasher(DOMAIN)
SENDER = Account.from_key(b"\x11" * 32)

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
orders = st.builds(
    td.TransferOrder,
    sender=addresses,
    recipient=addresses,
    token=addresses,
    amount=st.integers(0, td.UINT256_MAX),
    sequence=st.integers(0, td.UINT64_MAX),
    epoch=st.integers(0, td.UINT64_MAX),
)


@settings(max_examples=60, deadline=None)
@given(order=orders, chain_id=st.integers(0, td.UINT256_MAX))
def test_digests_match_the_typed_data_reference(order, chain_id):
    domain = td.Domain(chain_id=chain_id, verifying_contract="0x" + "cd" * 20)
    hasher = sg.Hasher(domain)
    assert hasher.order_digest(order) == td.order_digest(domain, order)
    assert hasher.vote_digest(order) == td.vote_digest(domain, order)


def an_order(**changes):
    fields = dict(
        sender=SENDER.address,
        recipient="0x" + "77" * 20,
        token="0x" + "55" * 20,
        amount=12_500_000,
        sequence=4,
        epoch=0,
    )
    fields.update(changes)
    return td.TransferOrder(**fields)


def test_signatures_are_the_reference_signatures_and_recover():
    order = an_order()
    signer = sg.Signer(SENDER.key)
    assert signer.address == SENDER.address
    signature = signer.sign_digest(HASHER.order_digest(order))
    assert signature == td.sign_order(DOMAIN, order, SENDER.key)
    vote = signer.sign_digest(HASHER.vote_digest(order))
    assert td.recover_vote_signer(DOMAIN, order, vote) == SENDER.address
    assert sg.recover_digest(HASHER.order_digest(order), signature) == SENDER.address
    assert sg.signed_by(HASHER.order_digest(order), signature, SENDER.address.lower())


def test_a_signature_on_another_order_or_type_does_not_verify():
    signer = sg.Signer("0x" + SENDER.key.hex())
    signature = signer.sign_digest(HASHER.order_digest(an_order()))
    assert not sg.signed_by(HASHER.order_digest(an_order(amount=1)), signature, SENDER.address)
    # an order signature never passes for a vote
    assert not sg.signed_by(HASHER.vote_digest(an_order()), signature, SENDER.address)


def test_high_s_and_malformed_signatures_are_refused():
    digest = HASHER.order_digest(an_order())
    signature = sg.Signer(SENDER.key).sign_digest(digest)
    s = int.from_bytes(signature[32:64], "big")
    flipped = bytes((55 - signature[64],))  # 27 <-> 28
    high_s = signature[:32] + (td.SECP256K1_N - s).to_bytes(32, "big") + flipped
    # the same point, so a lax verifier would accept it: the contracts do not
    assert not sg.signed_by(digest, high_s, SENDER.address)
    assert not sg.signed_by(digest, signature[:64] + b"\x01", SENDER.address)
    assert not sg.signed_by(digest, signature[:64], SENDER.address)
    assert not sg.signed_by(digest, b"\x00" * 65, SENDER.address)


def test_keccak_is_pycryptodomes_keccak256_at_every_length():
    import os

    from Crypto.Hash import keccak as reference

    from fastpay_protocol.signing import keccak

    for size in [0, 1, 31, 32, 33, 135, 136, 137, 271, 272, 1000]:
        data = os.urandom(size)
        assert keccak(data) == reference.new(data=data, digest_bits=256).digest()
    assert keccak(text="abc") == reference.new(data=b"abc", digest_bits=256).digest()
