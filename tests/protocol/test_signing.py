"""fastpay_protocol.signing (the hot path of nodes and clients): the hand-computed digests
equal eth-account's typed-data ones, and coincurve signatures/recoveries agree with
typed_data's."""

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from fastpay_protocol import signing
from fastpay_protocol import typed_data as td

DOMAIN = td.Domain(chain_id=31337, verifying_contract="0x" + "ab" * 20)
DIGESTS = signing.Hasher(DOMAIN)
KEY = b"\x07" * 32
ADDRESS = Account.from_key(KEY).address

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


@settings(max_examples=50, deadline=None)
@given(orders)
def test_order_and_vote_digests_equal_eth_account(order):
    order_digest, vote_digest = DIGESTS.order_and_vote(order)
    assert order_digest == td.order_digest(DOMAIN, order) == DIGESTS.order_digest(order)
    assert vote_digest == td.vote_digest(DOMAIN, order) == DIGESTS.vote_digest(order)


@settings(max_examples=20, deadline=None)
@given(
    st.integers(0, td.UINT64_MAX),
    st.integers(0, td.UINT64_MAX),
    st.binary(min_size=32, max_size=32),
)
def test_batch_digest_equals_eth_account(epoch, batch_id, items):
    ends = {"processor": "0x" + "c1" * 20, "vault": "0x" + "C2" * 20}
    assert DIGESTS.batch_digest(epoch, batch_id, items, **ends) == td.batch_digest(
        DOMAIN, epoch, batch_id, items, **ends
    )


@settings(max_examples=20, deadline=None)
@given(orders)
def test_signatures_are_the_same_as_eth_accounts_and_recover(order):
    signer = signing.Signer(KEY)
    signature = signer.sign_digest(DIGESTS.vote_digest(order))
    assert signer.address == ADDRESS
    assert signature == td.sign_vote(DOMAIN, order, KEY)  # RFC 6979: deterministic
    assert signing.recover_digest(DIGESTS.vote_digest(order), signature) == ADDRESS
    assert td.recover_vote_signer(DOMAIN, order, signature) == ADDRESS


def test_it_refuses_malleable_and_malformed_signatures():
    digest = b"\x11" * 32
    signature = signing.Signer(KEY).sign_digest(digest)
    s = int.from_bytes(signature[32:64], "big")
    high = signature[:32] + (td.SECP256K1_N - s).to_bytes(32, "big") + bytes([signature[64] ^ 1])
    for bad in (high, signature[:64], signature[:64] + b"\x1d", b"\x00" * 65):
        with pytest.raises(td.InvalidSignature):
            signing.recover_digest(digest, bad)
