"""The cold wallet's Safe (Safe{Wallet} 1.4.1, the audited contracts of
``@safe-global/safe-contracts``): the EIP-712 SafeTx hash, owner signatures, the
``execTransaction`` call, reads of the Safe's owners, threshold and nonce, and (development
and tests only) deploying a Safe from the package's compiled artifacts.

The hash is computed here rather than with safe-eth-py: that package brings py-evm, trie
and the safe-pysha3 C extension for what is thirty lines of EIP-712, and its releases are
tested against web3 7, not the web3 8 this project pins. Every proposal is cross-checked
against the Safe's own ``getTransactionHash`` on-chain (``safe_tx_hash_onchain``), so a
mistake here could not go unnoticed.

Signatures (65 bytes r || s || v, the Safe's encoding):

- v 27/28: an ECDSA signature of the safeTxHash itself (``cast wallet sign --no-hash``,
  ``tools/safe_sign.py``, hardware wallets' "sign hash");
- v 31/32: an ``eth_sign`` signature (the hash behind "\\x19Ethereum Signed Message:\\n32"),
  v + 4 as the Safe wants it. A v 27/28 signature that only recovers to an owner once
  prefixed (``cast wallet sign`` without ``--no-hash``, a wallet's personal_sign) is taken
  as such and stored with v + 4.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.conf import settings
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_keys import keys
from eth_keys.exceptions import BadSignature as _EthBadSignature
from eth_utils import keccak, to_checksum_address

ZERO_ADDRESS = "0x" + "0" * 40
SAFE_VERSION = "1.4.1"
CALL = 0

DOMAIN_TYPEHASH = keccak(text="EIP712Domain(uint256 chainId,address verifyingContract)")
SAFE_TX_TYPEHASH = keccak(
    text="SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,"
    "uint256 baseGas,uint256 gasPrice,address gasToken,address refundReceiver,uint256 nonce)"
)
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

SEL_GET_OWNERS = "0xa0e67e2b"  # getOwners()
SEL_GET_THRESHOLD = "0xe75235b8"  # getThreshold()
SEL_NONCE = "0xaffed0e0"  # nonce()
SEL_VERSION = "0xffa1ad74"  # VERSION()
SEL_GET_TX_HASH = "0xd8d11f78"  # getTransactionHash(address,uint256,bytes,uint8,...,uint256)
SEL_EXEC = "0x6a761202"  # execTransaction(address,uint256,bytes,uint8,...,bytes)
SAFE_TX_ARGS = [
    "address",
    "uint256",
    "bytes",
    "uint8",
    "uint256",
    "uint256",
    "uint256",
    "address",
    "address",
]


class SignatureInvalid(ValueError):
    """Not a 65-byte signature, or one nothing can be recovered from."""


@dataclass(frozen=True, slots=True)
class SafeTx:
    """The fields of a Safe transaction the platform proposes: a CALL with no refund
    (safeTxGas, baseGas, gasPrice 0; the executor pays the gas)."""

    safe: str
    chain_id: int
    to: str
    value: int
    data: bytes
    nonce: int
    operation: int = CALL

    def _fields(self) -> list:
        return [self.to, self.value, self.data, self.operation, 0, 0, 0, ZERO_ADDRESS, ZERO_ADDRESS]


def domain_separator(chain_id: int, safe: str) -> bytes:
    return keccak(abi_encode(["bytes32", "uint256", "address"], [DOMAIN_TYPEHASH, chain_id, safe]))


def safe_tx_hash(tx: SafeTx) -> bytes:
    """EIP-712 hash of a SafeTx, as Safe 1.4.1 ``getTransactionHash`` computes it."""
    struct = abi_encode(
        [
            "bytes32",
            "address",
            "uint256",
            "bytes32",
            "uint8",
            "uint256",
            "uint256",
            "uint256",
            "address",
            "address",
            "uint256",
        ],
        [
            SAFE_TX_TYPEHASH,
            tx.to,
            tx.value,
            keccak(tx.data),
            tx.operation,
            0,
            0,
            0,
            ZERO_ADDRESS,
            ZERO_ADDRESS,
            tx.nonce,
        ],
    )
    return keccak(b"\x19\x01" + domain_separator(tx.chain_id, tx.safe) + keccak(struct))


def _eth_signed(digest: bytes) -> bytes:
    return keccak(b"\x19Ethereum Signed Message:\n32" + digest)


def signature_bytes(text: str) -> bytes:
    """The 65 bytes of a pasted 0x-hex signature (whitespace around is ignored)."""
    text = (text or "").strip()
    if text.startswith(("0x", "0X")):
        text = text[2:]
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise SignatureInvalid("a signature is 0x followed by 130 hexadecimal digits") from None
    if len(raw) != 65:
        raise SignatureInvalid(f"a signature is 65 bytes (r, s, v); this one is {len(raw)}")
    return raw


def _recover(digest: bytes, r: int, s: int, v: int) -> str | None:
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N):
        return None
    try:
        key = keys.Signature(vrs=(v, r, s)).recover_public_key_from_msg_hash(digest)
    except (_EthBadSignature, ValueError):
        return None
    return key.to_checksum_address()


def signature_owner(safe_hash: bytes, raw: bytes, owners: list[str]) -> tuple[str | None, bytes]:
    """Who signed ``safe_hash``: (the recovered address, the signature in the Safe's
    encoding). The address is None when nothing can be recovered. An owner is looked for
    both as a plain hash signature and as an eth_sign one (see the module's docstring)."""
    r = int.from_bytes(raw[:32], "big")
    s = int.from_bytes(raw[32:64], "big")
    v = raw[64]
    owners_lower = {owner.lower() for owner in owners}
    candidates: list[tuple[bytes, int, int]] = []  # (digest, recovery id, Safe's v)
    if v in (0, 1, 27, 28):
        rid = v % 27
        candidates = [(safe_hash, rid, 27 + rid), (_eth_signed(safe_hash), rid, 31 + rid)]
    elif v in (31, 32):
        candidates = [(_eth_signed(safe_hash), v - 31, v)]
    else:
        raise SignatureInvalid(
            f"v is {v}: a Safe owner signature has v 27/28 (hash) or 31/32 (eth_sign)"
        )
    first = None
    for digest, rid, safe_v in candidates:
        who = _recover(digest, r, s, rid)
        if who is None:
            continue
        encoded = raw[:64] + bytes([safe_v])
        if who.lower() in owners_lower:
            return who, encoded
        first = first or (who, encoded)
    if first is None:
        raise SignatureInvalid("no address can be recovered from this signature")
    return first


def signatures_packed(signatures: list[tuple[str, bytes]]) -> bytes:
    """The Safe's ``signatures`` argument: each owner's 65 bytes, owners ascending."""
    return b"".join(sig for _, sig in sorted(signatures, key=lambda item: int(item[0], 16)))


def exec_data(tx: SafeTx, signatures: bytes) -> str:
    args = abi_encode([*SAFE_TX_ARGS, "bytes"], [*tx._fields(), signatures])
    return SEL_EXEC + args.hex()


# ------------------------------------------------------------------ reads (network I/O)


@dataclass(frozen=True, slots=True)
class SafeState:
    owners: list[str]
    threshold: int
    nonce: int


def _read(rpc, safe: str, selector: str, block) -> bytes:
    return rpc.call({"to": safe, "data": selector}, block)


def safe_state(rpc, safe: str, block="latest") -> SafeState:
    """Owners, threshold and nonce, read from the Safe (RpcError/RpcRevert when it is not
    one: no code, or another contract)."""
    from wallets.chain.rpc import RpcError

    try:
        (owners,) = abi_decode(["address[]"], _read(rpc, safe, SEL_GET_OWNERS, block))
        (threshold,) = abi_decode(["uint256"], _read(rpc, safe, SEL_GET_THRESHOLD, block))
        (nonce,) = abi_decode(["uint256"], _read(rpc, safe, SEL_NONCE, block))
    except Exception as exc:  # eth_abi's decoding errors: an empty or odd answer
        if isinstance(exc, RpcError):
            raise
        raise RpcError(f"{safe} does not answer as a Safe: {exc}") from None
    if not owners or not 1 <= threshold <= len(owners):
        raise RpcError(f"{safe} answers {len(owners)} owners and threshold {threshold}")
    return SafeState([to_checksum_address(o) for o in owners], int(threshold), int(nonce))


def safe_version(rpc, safe: str) -> str:
    (version,) = abi_decode(["string"], rpc.call({"to": safe, "data": SEL_VERSION}))
    return version


def safe_tx_hash_onchain(rpc, tx: SafeTx) -> bytes:
    data = SEL_GET_TX_HASH + abi_encode([*SAFE_TX_ARGS, "uint256"], [*tx._fields(), tx.nonce]).hex()
    return rpc.call({"to": tx.safe, "data": data})


# ------------------------------------------------------------------ deployment (dev/tests)

ARTIFACTS = {
    "Safe": "Safe.sol/Safe.json",
    "SafeProxyFactory": "proxies/SafeProxyFactory.sol/SafeProxyFactory.json",
    "CompatibilityFallbackHandler": (
        "handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json"
    ),
}


def artifacts_dir() -> Path:
    return (
        Path(settings.BASE_DIR)
        / "node_modules/@safe-global/safe-contracts/build/artifacts/contracts"
    )


@cache
def artifact(name: str) -> dict:
    """The shipped compiled artifact (abi, bytecode) of ``name`` (npm package pinned in
    package.json: ``make node_modules`` installs it)."""
    path = artifacts_dir() / ARTIFACTS[name]
    if not path.exists():
        raise FileNotFoundError(f"{path}: run `make node_modules` (@safe-global/safe-contracts)")
    return json.loads(path.read_text())


def safe_deploy(w3, *, deployer: str, owners: list[str], threshold: int, salt: int = 0) -> str:
    """Deploy the Safe singleton, proxy factory and fallback handler from the package's
    artifacts, then a Safe proxy with ``owners`` and ``threshold``; returns its address.
    ``deployer``: an unlocked account of the node (anvil). Development and tests only: in
    production the cold Safe already exists (``treasury_safe set``)."""

    def deploy(name: str) -> object:
        art = artifact(name)
        contract = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        receipt = w3.eth.wait_for_transaction_receipt(
            contract.constructor().transact({"from": deployer})
        )
        if receipt.status != 1:
            raise RuntimeError(f"deploying {name} reverted")
        return w3.eth.contract(address=receipt.contractAddress, abi=art["abi"])

    singleton = deploy("Safe")
    factory = deploy("SafeProxyFactory")
    handler = deploy("CompatibilityFallbackHandler")
    setup = singleton.encode_abi(
        "setup",
        [
            [to_checksum_address(o) for o in owners],
            threshold,
            ZERO_ADDRESS,
            b"",
            handler.address,
            ZERO_ADDRESS,
            0,
            ZERO_ADDRESS,
        ],
    )
    receipt = w3.eth.wait_for_transaction_receipt(
        factory.functions.createProxyWithNonce(singleton.address, setup, salt).transact(
            {"from": deployer}
        )
    )
    if receipt.status != 1:
        raise RuntimeError("creating the Safe proxy reverted")
    from web3.logs import DISCARD  # the Safe's own SafeSetup log is another ABI's

    (event,) = factory.events.ProxyCreation().process_receipt(receipt, errors=DISCARD)
    return to_checksum_address(event.args.proxy)
