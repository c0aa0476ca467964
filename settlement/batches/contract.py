"""The OfflinePaymentProcessor and TokenVault as settlement sees them: call data of
``submitCommitteeBatch``, the views it reads, and a receipt's events read back into
per-item outcomes. No network and no Django here (the services do the I/O)."""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

# the custom errors a batch item can be skipped with, or a whole call revert with
# (contracts/OfflinePaymentProcessor.sol, TokenVault.sol, CertificateVerifier.sol)
ERRORS = (
    "SequenceAlreadyRedeemed()",
    "NotARedemption()",
    "ZeroRecipient()",
    "CreditFailed()",
    "BelowQuorum()",
    "InsufficientPool(address,uint256,uint256)",
    "UnknownTokenId(uint256)",
    "TokenNotListed(address)",
    "VaultMigrated()",
    "EnforcedPause()",
    "SettlementWindowClosed(uint64,uint64)",
    "BatchAlreadySettled(uint64)",
    "CertificateInvalid(bytes4)",
    "EmptyBatch()",
    "MalformedItems()",
    "MalformedSignatures()",
    "SignersNotAscending()",
    "SignerNotInCommittee()",
    "SignerSlashed()",
    "InvalidVoteSignature()",
    "UnknownEpoch()",
)


def selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


#: 0x-selector -> error name
ERROR_NAMES = {selector(sig): sig.split("(")[0] for sig in ERRORS}


def error_name(selector_hex: str) -> str:
    """The error's name for a 4-byte selector (the selector itself when unknown)."""
    return ERROR_NAMES.get(selector_hex.lower(), selector_hex.lower())


def _topic(signature: str) -> str:
    return "0x" + keccak(text=signature).hex()


TOPIC_PAYMENT_SETTLED = _topic("PaymentSettled(address,uint64,address,address,uint256)")
TOPIC_REJECTED = _topic("CertificateRejected(uint256,address,uint64,bytes4)")
TOPIC_BATCH_SETTLED = _topic("CommitteeBatchSettled(uint64,uint64,bytes32,uint256,uint256)")

_SUBMIT = keccak(text="submitCommitteeBatch(uint64,uint64,bytes32[],bytes)")[:4]
_IS_BATCH_SETTLED = keccak(text="isBatchSettled(uint64)")[:4]
_SETTLES_UNTIL = keccak(text="settlesUntil(uint64)")[:4]
_IS_REDEEMED = keccak(text="isRedeemed(address,uint64)")[:4]
_TOKEN_CONFIG = keccak(text="tokenConfig(address)")[:4]
_VAULT_BALANCE = keccak(text="balanceOf(address,address)")[:4]
_POOL_BALANCE = keccak(text="poolBalance(address)")[:4]

#: gas: a batch's fixed part and each item's (docs/contracts.md measures ~16.5k per steady
#: item and ~50k per cold one; the limit leaves room for cold senders and the quorum check)
GAS_BASE = 150_000
GAS_PER_ITEM = 70_000


def submit_data(epoch: int, batch_id: int, words: list[bytes], signatures: bytes) -> str:
    """0x call data of ``submitCommitteeBatch(epoch, batchId, items, signatures)``."""
    body = abi_encode(
        ["uint64", "uint64", "bytes32[]", "bytes"], [epoch, batch_id, words, signatures]
    )
    return "0x" + (_SUBMIT + body).hex()


def gas_limit(items: int) -> int:
    return GAS_BASE + GAS_PER_ITEM * items


def call(to: str, data: bytes) -> dict:
    return {"to": to, "data": "0x" + data.hex()}


def is_batch_settled_call(processor: str, batch_id: int) -> dict:
    return call(processor, _IS_BATCH_SETTLED + abi_encode(["uint64"], [batch_id]))


def settles_until_call(processor: str, epoch: int) -> dict:
    return call(processor, _SETTLES_UNTIL + abi_encode(["uint64"], [epoch]))


def is_redeemed_call(processor: str, sender: str, sequence: int) -> dict:
    return call(processor, _IS_REDEEMED + abi_encode(["address", "uint64"], [sender, sequence]))


def token_config_call(vault: str, token: str) -> dict:
    return call(vault, _TOKEN_CONFIG + abi_encode(["address"], [token]))


def vault_balance_call(vault: str, account: str, token: str) -> dict:
    return call(vault, _VAULT_BALANCE + abi_encode(["address", "address"], [account, token]))


def pool_balance_call(vault: str, token: str) -> dict:
    return call(vault, _POOL_BALANCE + abi_encode(["address"], [token]))


def decode_uint(raw: bytes) -> int:
    return abi_decode(["uint256"], bytes(raw))[0]


def decode_bool(raw: bytes) -> bool:
    return bool(abi_decode(["bool"], bytes(raw))[0])


@dataclass(frozen=True)
class TokenConfig:
    scale: int  # ledger units -> base units; 0: not listed
    token_id: int
    decimals: int
    ledger_decimals: int


def decode_token_config(raw: bytes) -> TokenConfig:
    scale, token_id, decimals, ledger_decimals, _ = abi_decode(
        ["uint128", "uint16", "uint8", "uint8", "bool"], bytes(raw)
    )
    return TokenConfig(scale, token_id, decimals, ledger_decimals)


# ------------------------------------------------------------------ receipts


@dataclass(frozen=True)
class ItemOutcome:
    index: int  # position in the batch
    sender: str
    sequence: int
    settled: bool
    units: int = 0
    reason: str = ""  # the error's name (skipped items)
    selector: str = ""


@dataclass(frozen=True)
class BatchOutcome:
    batch_id: int
    epoch: int
    items_hash: str
    items: int
    settled: int
    outcomes: tuple[ItemOutcome, ...]


def _hex(value) -> str:
    if isinstance(value, str):
        return value.lower()
    return "0x" + bytes(value).hex()


def _data(log: dict) -> bytes:
    data = log.get("data", b"")
    if isinstance(data, str):
        return bytes.fromhex(data.removeprefix("0x"))
    return bytes(data)


def _address_topic(topic) -> str:
    return to_checksum_address("0x" + _hex(topic)[-40:])


def batch_outcome(receipt: dict, processor: str, batch_id: int, size: int) -> BatchOutcome | None:
    """The per-item outcome of batch ``batch_id`` in ``receipt`` (the processor's
    PaymentSettled / CertificateRejected events before its CommitteeBatchSettled); None
    when the receipt settled no such batch. Items are told apart by position: a rejection
    names its index, a settlement follows the items in order (the contract emits one event
    per item, in order)."""
    processor = processor.lower()
    pending: list[dict] = []
    for log in receipt.get("logs", []):
        if _hex(log["address"]) != processor:
            continue
        topics = [_hex(t) for t in log["topics"]]
        if not topics:
            continue
        if topics[0] in (TOPIC_PAYMENT_SETTLED, TOPIC_REJECTED):
            pending.append(log)
            continue
        if topics[0] != TOPIC_BATCH_SETTLED or int(topics[1], 16) != batch_id:
            pending = []  # another batch's (one transaction settles one batch here)
            continue
        epoch = int(topics[2], 16)
        items_hash, items, settled = abi_decode(["bytes32", "uint256", "uint256"], _data(log))
        if items != size:
            raise ValueError(f"batch {batch_id} settled {items} items, {size} expected")
        outcomes: list[ItemOutcome] = []
        for event in pending:
            event_topics = [_hex(t) for t in event["topics"]]
            data = _data(event)
            if event_topics[0] == TOPIC_REJECTED:
                index = int(event_topics[1], 16)
                sender = _address_topic(event_topics[2])
                sequence, reason = abi_decode(["uint64", "bytes4"], data)
                sel = "0x" + bytes(reason).hex()
                outcomes.append(
                    ItemOutcome(index, sender, sequence, False, 0, error_name(sel), sel)
                )
            else:
                sequence, _token, units = abi_decode(["uint64", "address", "uint256"], data)
                sender = _address_topic(event_topics[1])
                outcomes.append(ItemOutcome(-1, sender, sequence, True, units=units))
        # settlements take the positions the rejections left, in order
        taken = {o.index for o in outcomes if not o.settled}
        free = iter(i for i in range(size) if i not in taken)
        placed = []
        for outcome in outcomes:
            if outcome.settled:
                outcome = ItemOutcome(
                    next(free), outcome.sender, outcome.sequence, True, outcome.units
                )
            placed.append(outcome)
        if len(placed) != size or sum(o.settled for o in placed) != settled:
            raise ValueError(f"batch {batch_id}: {len(placed)} item events for {size} items")
        return BatchOutcome(
            batch_id,
            epoch,
            "0x" + bytes(items_hash).hex(),
            items,
            settled,
            tuple(sorted(placed, key=lambda o: o.index)),
        )
    return None


def revert_error(message: str) -> str:
    """The custom error named in a revert message (the sender records the node's text,
    which carries the 4-byte selector), or ''."""
    text = (message or "").lower()
    for sel, name in ERROR_NAMES.items():
        if sel in text or name.lower() in text:
            return name
    return ""
