"""fastpay_protocol.typed_data: the EIP-712 domain, types, signing and verification.

The contract side of the same definitions is tested in tests/contracts/test_cross_python.py.
"""

from pathlib import Path

import pytest
from eth_account import Account
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from fastpay_protocol import typed_data as td

CHAIN_ID = 56
VERIFIER = "0x" + "ab" * 20
DOMAIN = td.Domain(chain_id=CHAIN_ID, verifying_contract=VERIFIER)
USER = Account.from_key(b"\x01" * 32)
PROCESSOR = "0x" + "c1" * 20  # the batch's processor (redemption address) and vault
VAULT = "0x" + "c2" * 20
AUTHORITIES = [Account.from_key(bytes([i + 2]) * 32) for i in range(4)]
TOKEN = "0x" + "55" * 20


def an_order(**changes):
    fields = {
        "sender": USER.address,
        "recipient": "0x" + "77" * 20,
        "token": TOKEN,
        "amount": 12_500_000,  # 12.5 USDT in ledger units
        "sequence": 3,
        "epoch": 1,
    }
    fields.update(changes)
    return td.TransferOrder(**fields)


def word(value):
    return (
        int(value, 16).to_bytes(32, "big") if isinstance(value, str) else value.to_bytes(32, "big")
    )


def manual_digest(domain, struct_hash):
    domain_type = (
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    separator = keccak(
        keccak(text=domain_type)
        + keccak(text="FastPay")
        + keccak(text="1")
        + word(domain.chain_id)
        + word(domain.verifying_contract)
    )
    return keccak(b"\x19\x01" + separator + struct_hash)


def manual_order_hash(order):
    return keccak(
        keccak(text=td.TRANSFER_ORDER_TYPE)
        + word(order.sender)
        + word(order.recipient)
        + word(order.token)
        + word(order.amount)
        + word(order.sequence)
        + word(order.epoch)
    )


def test_the_type_strings_are_the_ones_the_contracts_hash():
    source = (Path(__file__).parents[2] / "contracts" / "FastPayTypes.sol").read_text()
    assert f'"{td.TRANSFER_ORDER_TYPE}"' in source
    assert '"Vote(TransferOrder order)", TRANSFER_ORDER_TYPE' in source
    assert f'"{td.BATCH_TYPE}"' in source


def test_the_order_digest_is_eip712_over_the_transfer_order_type():
    order = an_order()
    assert td.order_digest(DOMAIN, order) == manual_digest(DOMAIN, manual_order_hash(order))


def test_the_vote_digest_wraps_the_order_struct_hash():
    order = an_order()
    vote_hash = keccak(keccak(text=td.VOTE_TYPE) + manual_order_hash(order))
    assert td.vote_digest(DOMAIN, order) == manual_digest(DOMAIN, vote_hash)
    assert td.vote_digest(DOMAIN, order) != td.order_digest(DOMAIN, order)


def test_the_batch_digest_commits_to_epoch_id_processor_vault_and_items():
    words = td.pack_batch_items([td.BatchItem.redemption(USER.address, 4, 1, 5)])
    h = td.items_hash(words)
    expected = keccak(
        keccak(text=td.BATCH_TYPE) + word(2) + word(9) + word(PROCESSOR) + word(VAULT) + h
    )
    digest = td.batch_digest(DOMAIN, 2, 9, h, processor=PROCESSOR, vault=VAULT)
    assert digest == manual_digest(DOMAIN, expected)
    # another processor or another vault: another digest (no replay across deployments)
    assert td.batch_digest(DOMAIN, 2, 9, h, processor=VAULT, vault=VAULT) != digest
    assert td.batch_digest(DOMAIN, 2, 9, h, processor=PROCESSOR, vault=PROCESSOR) != digest


def test_a_signed_order_recovers_to_its_sender():
    order = an_order()
    signature = td.sign_order(DOMAIN, order, USER.key)
    assert len(signature) == 65
    assert td.recover_order_signer(DOMAIN, order, signature) == USER.address
    assert td.verify_order(DOMAIN, order, signature)


@pytest.mark.parametrize(
    "change",
    [
        {"recipient": "0x" + "78" * 20},
        {"token": "0x" + "56" * 20},
        {"amount": 12_500_001},
        {"sequence": 4},
        {"epoch": 2},
    ],
)
def test_a_tampered_order_fails_verification(change):
    signature = td.sign_order(DOMAIN, an_order(), USER.key)
    assert not td.verify_order(DOMAIN, an_order(**change), signature)


@pytest.mark.parametrize(
    "other",
    [
        td.Domain(chain_id=1, verifying_contract=VERIFIER),
        td.Domain(chain_id=CHAIN_ID, verifying_contract="0x" + "ac" * 20),
    ],
)
def test_a_signature_for_another_chain_or_contract_fails(other):
    order = an_order()
    signature = td.sign_order(other, order, USER.key)
    assert not td.verify_order(DOMAIN, order, signature)
    assert td.verify_order(other, order, signature)


def test_a_vote_is_not_an_order_signature_and_vice_versa():
    order = an_order()
    authority = AUTHORITIES[0]
    vote = td.sign_vote(DOMAIN, order, authority.key)
    assert td.verify_vote(DOMAIN, order, vote, authority.address)
    assert td.recover_order_signer(DOMAIN, order, vote) != authority.address
    user_sig = td.sign_order(DOMAIN, order, USER.key)
    assert not td.verify_vote(DOMAIN, order, user_sig, USER.address)


def malleable(signature):
    s = int.from_bytes(signature[32:64], "big")
    v = 55 - signature[64]  # 27 <-> 28
    return signature[:32] + (td.SECP256K1_N - s).to_bytes(32, "big") + bytes([v])


def test_the_malleable_twin_of_a_valid_signature_is_refused():
    order = an_order()
    signature = td.sign_order(DOMAIN, order, USER.key)
    twin = malleable(signature)
    # the twin is a valid ECDSA signature by the same key...
    assert Account.recover_message(td.order_message(DOMAIN, order), signature=twin) == USER.address
    # ...which FastPay refuses, like OpenZeppelin's ECDSA on-chain
    with pytest.raises(td.InvalidSignature, match="malleable"):
        td.recover_order_signer(DOMAIN, order, twin)
    assert not td.verify_order(DOMAIN, order, twin)


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda sig: sig[:64], "65 bytes"),
        (lambda sig: sig[:64] + b"\x01", "v must be"),
        (lambda sig: sig[:32] + bytes(32) + sig[64:], "malleable"),
    ],
)
def test_malformed_signatures_are_refused(mangle, message):
    signature = td.sign_order(DOMAIN, an_order(), USER.key)
    with pytest.raises(td.InvalidSignature, match=message):
        td.recover_order_signer(DOMAIN, an_order(), mangle(signature))


@pytest.mark.parametrize(
    "bad",
    [
        {"amount": 1.5},
        {"amount": True},
        {"amount": -1},
        {"sequence": 2**64},
        {"sender": "alice"},
    ],
)
def test_orders_refuse_floats_bools_negatives_and_non_addresses(bad):
    with pytest.raises(ValueError):
        an_order(**bad)


def test_addresses_are_normalised_to_checksum_form():
    order = an_order(recipient="0x" + "ab" * 20)
    assert order.recipient == "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"


@given(
    sender=st.binary(min_size=20, max_size=20),
    recipient=st.binary(min_size=20, max_size=20),
    sequence=st.integers(0, td.UINT64_MAX),
    token_id=st.integers(0, td.UINT32_MAX),
    amount=st.integers(0, td.UINT96_MAX),
)
def test_batch_items_pack_into_two_words_and_back(sender, recipient, sequence, token_id, amount):
    item = td.BatchItem("0x" + sender.hex(), sequence, token_id, "0x" + recipient.hex(), amount)
    head, tail = item.words()
    assert len(head) == len(tail) == 32
    assert td.BatchItem.from_words(head, tail) == item


def test_a_batch_item_amount_must_fit_96_bits():
    with pytest.raises(ValueError):
        td.BatchItem(USER.address, 0, 0, USER.address, 2**96)
    with pytest.raises(ValueError):
        td.BatchItem.redemption(USER.address, 0, 0, 2**96)


def test_a_redemption_item_pays_its_sender_in_the_documented_words():
    item = td.BatchItem.redemption(USER.address.lower(), 7, 3, 12_500_000)
    assert item.recipient == item.sender == USER.address and item.is_redemption
    head, tail = item.words()
    sender = int(USER.address, 16)
    assert int.from_bytes(head, "big") == sender << 96 | 7 << 32 | 3
    assert int.from_bytes(tail, "big") == sender << 96 | 12_500_000
    assert td.pack_batch_items([item]) == [head, tail]
    assert td.items_hash([head, tail]) == keccak(head + tail)


def test_only_redemptions_are_packed_for_the_committee():
    other = "0x" + "77" * 20
    transfer = td.BatchItem(USER.address, 1, 0, other, 9)
    assert not transfer.is_redemption
    with pytest.raises(ValueError, match="batch item 1 is not a redemption"):
        td.pack_batch_items([td.BatchItem.redemption(USER.address, 0, 0, 9), transfer])
    # decoding stays faithful to whatever words it is given
    assert td.BatchItem.from_words(*transfer.words()) == transfer


def test_quorum_is_more_than_two_thirds_of_the_stake():
    equal = {a.address: 1 for a in AUTHORITIES}
    addresses = [a.address for a in AUTHORITIES]
    assert td.quorum_reached(equal, addresses[:3])
    assert not td.quorum_reached(equal, addresses[:2])
    assert not td.quorum_reached(equal, [addresses[0]] * 3)  # one signer counts once
    weighted = {addresses[0]: 7, addresses[1]: 1, addresses[2]: 1, addresses[3]: 1}
    assert td.quorum_reached(weighted, addresses[:1])
    assert not td.quorum_reached({addresses[0]: 2, addresses[1]: 1}, addresses[:1])  # 2/3 exactly


def test_a_certificate_of_three_of_four_votes_verifies():
    order = an_order()
    stakes = {a.address: 100 for a in AUTHORITIES}
    certificate = td.sign_certificate(DOMAIN, order, [a.key for a in AUTHORITIES[:3]])
    assert len(certificate) == 3 * 65
    assert td.verify_certificate(DOMAIN, order, certificate, stakes)
    assert not td.verify_certificate(DOMAIN, an_order(amount=1), certificate, stakes)


def test_a_certificate_refuses_unsorted_duplicate_outsider_and_short_votes():
    order = an_order()
    stakes = {a.address: 100 for a in AUTHORITIES}
    votes = {a.address: td.sign_vote(DOMAIN, order, a.key) for a in AUTHORITIES[:3]}
    ordered = [votes[a] for a in sorted(votes, key=lambda a: int(a, 16))]
    outsider = Account.from_key(b"\x09" * 32)
    assert not td.verify_certificate(DOMAIN, order, b"".join(reversed(ordered)), stakes)
    assert not td.verify_certificate(DOMAIN, order, ordered[0] + ordered[0] + ordered[1], stakes)
    assert not td.verify_certificate(DOMAIN, order, b"".join(ordered[:2]), stakes)
    with_outsider = dict(list(votes.items())[:2])
    with_outsider[outsider.address] = td.sign_vote(DOMAIN, order, outsider.key)
    assert not td.verify_certificate(DOMAIN, order, td.pack_signatures(with_outsider), stakes)
    assert not td.verify_certificate(DOMAIN, order, b"", stakes)


def test_the_module_needs_no_django():
    import sys

    assert "django" not in {name.split(".")[0] for name in vars(td)}
    source = Path(td.__file__).read_text()
    assert "django" not in source.lower() and "celery" not in source.lower()
    assert "fastpay_protocol.typed_data" in sys.modules


def test_committee_batch_signatures_are_sorted_votes_on_the_batch_digest():
    words = td.pack_batch_items([td.BatchItem.redemption(USER.address, 1, 0, 9)])
    packed = td.sign_committee_batch(
        DOMAIN, 1, 4, words, [a.key for a in AUTHORITIES[:3]], processor=PROCESSOR, vault=VAULT
    )
    message = td.batch_message(DOMAIN, 1, 4, td.items_hash(words), processor=PROCESSOR, vault=VAULT)
    signers = [td.recover(message, packed[i : i + 65]) for i in range(0, len(packed), 65)]
    assert signers == sorted((a.address for a in AUTHORITIES[:3]), key=lambda a: int(a, 16))
