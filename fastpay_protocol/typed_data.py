"""FastPay EIP-712 typed data: the one domain and the TransferOrder, Vote and Batch types.

Exactly what the contracts hash (contracts/FastPayTypes.sol, contracts/CertificateVerifier.sol):

- domain: name "FastPay", version "1", the chain id, and the CertificateVerifier contract's
  address as verifyingContract (every FastPay digest, on or off chain, uses that domain);
- ``TransferOrder(address sender,address recipient,address token,uint256 amount,
  uint64 sequence,uint64 epoch)``, signed by the sender; ``amount`` is in ledger units
  (6 decimals whatever the token's on-chain decimals);
- ``Vote(TransferOrder order)``, signed by an authority for an order: its own type, so a vote
  can never pass for the sender's signature on the order, nor the other way round;
- ``Batch(uint64 epoch,uint64 batchId,address processor,address vault,bytes32 itemsHash)``,
  signed by the committee over packed settlement items (see ``BatchItem``); it names the
  OfflinePaymentProcessor that settles it (the redemption address) and the TokenVault it
  credits, so it cannot be replayed on a redeployed processor or against another vault.

Only REDEMPTIONS settle on-chain: certificates whose ``order.recipient`` is the
OfflinePaymentProcessor's address (the "redemption address"); they settle to the sender's
own vault balance. A committee-batch item's beneficiary is therefore its sender.

Signatures are 65 bytes (r, s, v with v in {27, 28}); high-s (malleable) signatures are
refused here as they are on-chain. Works with eth-account 0.13 and 0.14.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import SignableMessage, _hash_eip191_message, encode_typed_data
from eth_utils import keccak

from fastpay_protocol.addresses import canonical, checksum

DOMAIN_NAME = "FastPay"
DOMAIN_VERSION = "1"

#: secp256k1 group order; a signature with s above half of it is malleable.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

UINT64_MAX = 2**64 - 1
UINT96_MAX = 2**96 - 1
UINT256_MAX = 2**256 - 1
UINT32_MAX = 2**32 - 1

TRANSFER_ORDER_FIELDS = [
    {"name": "sender", "type": "address"},
    {"name": "recipient", "type": "address"},
    {"name": "token", "type": "address"},
    {"name": "amount", "type": "uint256"},
    {"name": "sequence", "type": "uint64"},
    {"name": "epoch", "type": "uint64"},
]

EIP712_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "TransferOrder": TRANSFER_ORDER_FIELDS,
    "Vote": [{"name": "order", "type": "TransferOrder"}],
    "Batch": [
        {"name": "epoch", "type": "uint64"},
        {"name": "batchId", "type": "uint64"},
        {"name": "processor", "type": "address"},
        {"name": "vault", "type": "address"},
        {"name": "itemsHash", "type": "bytes32"},
    ],
}

#: The encodeType strings, identical to the ones hashed in FastPayTypes.sol.
TRANSFER_ORDER_TYPE = (
    "TransferOrder(address sender,address recipient,address token,uint256 amount,"
    "uint64 sequence,uint64 epoch)"
)
VOTE_TYPE = "Vote(TransferOrder order)" + TRANSFER_ORDER_TYPE
BATCH_TYPE = "Batch(uint64 epoch,uint64 batchId,address processor,address vault,bytes32 itemsHash)"


class InvalidSignature(ValueError):
    """A signature that is malformed, malleable (high s) or does not recover."""


def _address(value: str, field: str) -> str:
    address = canonical(value)
    if address is None:
        raise ValueError(f"{field} is not an address: {value!r}")
    return address


def _uint(value: int, field: str, maximum: int) -> int:
    # int subclasses (web3/Brownie return some) are fine; bool is refused, and floats or
    # Decimals outright: money is never a float
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise ValueError(f"{field} must be an int in [0, {maximum}], got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Domain:
    """The FastPay EIP-712 domain on one chain (verifying contract: CertificateVerifier)."""

    chain_id: int
    verifying_contract: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "chain_id", _uint(self.chain_id, "chain_id", UINT256_MAX))
        object.__setattr__(
            self,
            "verifying_contract",
            _address(self.verifying_contract, "verifying_contract"),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }


@dataclass(frozen=True)
class TransferOrder:
    """A FastPay transfer order; ``amount`` in ledger units (int)."""

    sender: str
    recipient: str
    token: str
    amount: int
    sequence: int
    epoch: int

    def __post_init__(self) -> None:
        for field in ("sender", "recipient", "token"):
            object.__setattr__(self, field, _address(getattr(self, field), field))
        for field, maximum in (
            ("amount", UINT256_MAX),
            ("sequence", UINT64_MAX),
            ("epoch", UINT64_MAX),
        ):
            object.__setattr__(self, field, _uint(getattr(self, field), field, maximum))

    def as_message(self) -> dict[str, Any]:
        return {
            "sender": self.sender,
            "recipient": self.recipient,
            "token": self.token,
            "amount": self.amount,
            "sequence": self.sequence,
            "epoch": self.epoch,
        }

    def as_tuple(self) -> tuple[str, str, str, int, int, int]:
        """The Solidity struct as a tuple, in field order (for contract calls)."""
        return (self.sender, self.recipient, self.token, self.amount, self.sequence, self.epoch)


@dataclass(frozen=True)
class BatchItem:
    """One redemption in a committee batch, packed into two 32-byte words:

    word 0 = sender << 96 | sequence << 32 | token_id (the vault's token id)
    word 1 = recipient << 96 | amount (ledger units, < 2**96)

    ``recipient`` is the BENEFICIARY on-chain and must equal ``sender`` (a redemption pays
    the sender's own vault balance; the contract skips any other item with
    ``NotARedemption``). Build items with ``BatchItem.redemption``; the dataclass itself
    accepts any recipient so that ``from_words`` can decode whatever words it is given.
    """

    sender: str
    sequence: int
    token_id: int
    recipient: str
    amount: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "sender", _address(self.sender, "sender"))
        object.__setattr__(self, "recipient", _address(self.recipient, "recipient"))
        for field, maximum in (
            ("sequence", UINT64_MAX),
            ("token_id", UINT32_MAX),
            ("amount", UINT96_MAX),
        ):
            object.__setattr__(self, field, _uint(getattr(self, field), field, maximum))

    @classmethod
    def redemption(cls, sender: str, sequence: int, token_id: int, amount: int) -> BatchItem:
        """The item for a redemption certificate of ``sender`` (beneficiary = sender)."""
        return cls(sender, sequence, token_id, sender, amount)

    @property
    def is_redemption(self) -> bool:
        return self.recipient == self.sender

    def words(self) -> tuple[bytes, bytes]:
        head = (int(self.sender, 16) << 96) | (self.sequence << 32) | self.token_id
        tail = (int(self.recipient, 16) << 96) | self.amount
        return head.to_bytes(32, "big"), tail.to_bytes(32, "big")

    @classmethod
    def from_words(cls, head: bytes, tail: bytes) -> BatchItem:
        h, t = int.from_bytes(head, "big"), int.from_bytes(tail, "big")
        return cls(
            sender=checksum((h >> 96).to_bytes(20, "big")),
            sequence=(h >> 32) & UINT64_MAX,
            token_id=h & UINT32_MAX,
            recipient=checksum((t >> 96).to_bytes(20, "big")),
            amount=t & UINT96_MAX,
        )


def pack_batch_items(items: Iterable[BatchItem]) -> list[bytes]:
    """The ``bytes32[] items`` argument of submitCommitteeBatch.

    Raises ValueError for an item whose recipient is not its sender: the contract would
    skip it (``NotARedemption``), and a committee must never sign one."""
    words = []
    for index, item in enumerate(items):
        if not item.is_redemption:
            raise ValueError(
                f"batch item {index} is not a redemption: its recipient must be its sender"
            )
        words.extend(item.words())
    return words


def items_hash(words: Iterable[bytes]) -> bytes:
    """keccak256 of the concatenated item words (what the Batch struct commits to)."""
    return keccak(b"".join(words))


# ------------------------------------------------------------------ signable messages


def _typed(domain: Domain, primary: str, message: Mapping[str, Any]) -> SignableMessage:
    types = {"EIP712Domain": EIP712_TYPES["EIP712Domain"], primary: EIP712_TYPES[primary]}
    if primary == "Vote":
        types["TransferOrder"] = TRANSFER_ORDER_FIELDS
    return encode_typed_data(
        full_message={
            "types": types,
            "primaryType": primary,
            "domain": domain.as_dict(),
            "message": dict(message),
        }
    )


def order_message(domain: Domain, order: TransferOrder) -> SignableMessage:
    return _typed(domain, "TransferOrder", order.as_message())


def vote_message(domain: Domain, order: TransferOrder) -> SignableMessage:
    return _typed(domain, "Vote", {"order": order.as_message()})


def batch_message(
    domain: Domain,
    epoch: int,
    batch_id: int,
    hash_of_items: bytes,
    *,
    processor: str,
    vault: str,
) -> SignableMessage:
    """The committee's Batch for ``processor`` (the OfflinePaymentProcessor, i.e. the
    redemption address) settling into ``vault`` (its TokenVault)."""
    epoch = _uint(epoch, "epoch", UINT64_MAX)
    batch_id = _uint(batch_id, "batch_id", UINT64_MAX)
    if len(hash_of_items) != 32:
        raise ValueError("items hash must be 32 bytes")
    return _typed(
        domain,
        "Batch",
        {
            "epoch": epoch,
            "batchId": batch_id,
            "processor": _address(processor, "processor"),
            "vault": _address(vault, "vault"),
            "itemsHash": bytes(hash_of_items),
        },
    )


def digest(message: SignableMessage) -> bytes:
    """The 32-byte EIP-712 digest (what ecrecover sees on-chain)."""
    return bytes(_hash_eip191_message(message))


def order_digest(domain: Domain, order: TransferOrder) -> bytes:
    return digest(order_message(domain, order))


def vote_digest(domain: Domain, order: TransferOrder) -> bytes:
    return digest(vote_message(domain, order))


def batch_digest(
    domain: Domain, epoch: int, batch_id: int, hash_of_items: bytes, *, processor: str, vault: str
) -> bytes:
    return digest(
        batch_message(domain, epoch, batch_id, hash_of_items, processor=processor, vault=vault)
    )


# ------------------------------------------------------------------ sign and verify


def sign(message: SignableMessage, private_key: bytes | str) -> bytes:
    """65-byte r || s || v signature (v in {27, 28}, low s)."""
    return bytes(Account.sign_message(message, private_key).signature)


def sign_order(domain: Domain, order: TransferOrder, private_key: bytes | str) -> bytes:
    return sign(order_message(domain, order), private_key)


def sign_vote(domain: Domain, order: TransferOrder, private_key: bytes | str) -> bytes:
    return sign(vote_message(domain, order), private_key)


def sign_batch(
    domain: Domain,
    epoch: int,
    batch_id: int,
    words: Iterable[bytes],
    private_key: bytes | str,
    *,
    processor: str,
    vault: str,
) -> bytes:
    message = batch_message(
        domain, epoch, batch_id, items_hash(words), processor=processor, vault=vault
    )
    return sign(message, private_key)


def check_signature_form(signature: bytes) -> None:
    """Raise InvalidSignature unless ``signature`` is 65 bytes, v in {27, 28} and low s."""
    if len(signature) != 65:
        raise InvalidSignature("signature must be 65 bytes (r, s, v)")
    s = int.from_bytes(signature[32:64], "big")
    if signature[64] not in (27, 28):
        raise InvalidSignature("v must be 27 or 28")
    if not 0 < s <= SECP256K1_N // 2:
        raise InvalidSignature("malleable signature (s in the upper half of the curve order)")


def recover(message: SignableMessage, signature: bytes) -> str:
    """Checksummed address that signed ``message``; raises InvalidSignature."""
    signature = bytes(signature)
    check_signature_form(signature)
    try:
        return checksum(Account.recover_message(message, signature=signature))
    except Exception as exc:  # eth-keys raises several types for unrecoverable input
        raise InvalidSignature(str(exc)) from exc


def recover_order_signer(domain: Domain, order: TransferOrder, signature: bytes) -> str:
    return recover(order_message(domain, order), signature)


def recover_vote_signer(domain: Domain, order: TransferOrder, signature: bytes) -> str:
    return recover(vote_message(domain, order), signature)


def verify_order(domain: Domain, order: TransferOrder, signature: bytes) -> bool:
    """True when ``signature`` is the order's sender's signature on it."""
    try:
        return recover_order_signer(domain, order, signature) == order.sender
    except InvalidSignature:
        return False


def verify_vote(domain: Domain, order: TransferOrder, signature: bytes, authority: str) -> bool:
    """True when ``signature`` is ``authority``'s vote for ``order``."""
    try:
        return recover_vote_signer(domain, order, signature) == _address(authority, "authority")
    except InvalidSignature:
        return False


# ------------------------------------------------------------------ certificates


def quorum_reached(stakes: Mapping[str, int], signers: Iterable[str]) -> bool:
    """More than 2/3 of the total stake signed (distinct signers): the one rule,
    ``membership.quorum_stake``."""
    from fastpay_protocol.membership import quorum_stake  # membership imports this module

    stakes = {_address(a, "member"): _uint(w, "stake", UINT256_MAX) for a, w in stakes.items()}
    signed = sum(stakes.get(_address(a, "signer"), 0) for a in set(signers))
    return signed >= quorum_stake(sum(stakes.values()))


def pack_signatures(signatures_by_signer: Mapping[str, bytes]) -> bytes:
    """Concatenate signatures sorted by ascending signer address, as the contract expects."""
    ordered = sorted(signatures_by_signer.items(), key=lambda item: int(item[0], 16))
    return b"".join(bytes(sig) for _, sig in ordered)


def sign_certificate(
    domain: Domain, order: TransferOrder, private_keys: Iterable[bytes | str]
) -> bytes:
    """Votes of the given authorities for ``order``, packed for the contract."""
    votes = {}
    for key in private_keys:
        votes[Account.from_key(key).address] = sign_vote(domain, order, key)
    return pack_signatures(votes)


def sign_committee_batch(
    domain: Domain,
    epoch: int,
    batch_id: int,
    words: Iterable[bytes],
    private_keys: Iterable[bytes | str],
    *,
    processor: str,
    vault: str,
) -> bytes:
    """Batch signatures of the given authorities, packed for ``processor``'s
    submitCommitteeBatch (``vault``: the processor's vault)."""
    words = list(words)
    votes = {}
    for key in private_keys:
        votes[Account.from_key(key).address] = sign_batch(
            domain, epoch, batch_id, words, key, processor=processor, vault=vault
        )
    return pack_signatures(votes)


def verify_certificate(
    domain: Domain, order: TransferOrder, signatures: bytes, stakes: Mapping[str, int]
) -> bool:
    """Off-chain mirror of CertificateVerifier: ascending distinct committee signers with
    valid low-s votes whose stake is more than 2/3 of ``stakes`` (the order's epoch)."""
    signatures = bytes(signatures)
    if not signatures or len(signatures) % 65:
        return False
    committee = {_address(a, "member") for a in stakes}
    signers, previous = [], -1
    for i in range(0, len(signatures), 65):
        try:
            signer = recover_vote_signer(domain, order, signatures[i : i + 65])
        except InvalidSignature:
            return False
        if int(signer, 16) <= previous or signer not in committee:
            return False
        previous = int(signer, 16)
        signers.append(signer)
    return quorum_reached(stakes, signers)
