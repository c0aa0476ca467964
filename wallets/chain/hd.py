"""The platform's HD keys: BIP-39 seed, BIP-32 derivation, BIP-44 paths m/44'/60'/a'/c/i.

bip_utils does the cryptography (pinned in requirements.txt: eth-account derives private
keys from a mnemonic but cannot export or derive from an account xpub, and the web tier
must derive deposit addresses from the xpub alone, watch-only).

- The seed lives in one file, ``settings.FASTPAY_HD_SEED_FILE``, sealed with
  fastpay.keyvault under ``settings.FASTPAY_KEK`` (label "fastpay-hd-seed", mode 0600);
  ``manage.py wallet_init`` writes it. Never in clear on disk, never in a log.
- The database holds each account's xpub (HDAccount) and the seed's fingerprint (the
  BIP-32 master key fingerprint, 8 hex digits, as wallets show it in ``[73c5da0a/44'/..]``).
- ``address_at(xpub, i)`` needs only the xpub and refuses an xprv; ``private_key_at`` needs
  the seed and is called only where a transaction is signed (wallets/chain/signer.py).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from bip_utils import (
    Base58ChecksumError,
    Bip32KeyError,
    Bip32PathError,
    Bip32Secp256k1,
    Bip39MnemonicGenerator,
    Bip39MnemonicValidator,
    Bip39SeedGenerator,
    Bip39WordsNum,
    EthAddrEncoder,
    MnemonicChecksumError,
)
from django.conf import settings

from fastpay import keyvault

SEED_LABEL = "fastpay-hd-seed"
#: the platform's BIP-44 accounts (HDAccount.name -> account index): deposit addresses
#: m/44'/60'/0'/0/i; operations m/44'/60'/1'/0/i (0 hot wallet, 1 gas station, 2 settler)
ACCOUNTS = {"deposits": 0, "operations": 1}
PURPOSE = 44
COIN_ETHEREUM = 60
#: depth of an account key m/44'/60'/a'
ACCOUNT_DEPTH = 3
HARDENED = 2**31
_SEED_LENGTHS = (16, 32, 64)  # BIP-32 allows 128..512 bits; BIP-39 seeds are 64 bytes


class HDError(ValueError):
    """A key, path or seed that cannot be used (never carries secret material)."""


class SeedUnavailable(HDError):
    """No sealed seed file, or no KEK to open it (wallet_init not run here)."""


class SeedMismatch(HDError):
    """The seed opened is not the one the HD accounts in the database came from."""


# ------------------------------------------------------------------ seed


def seed_create(words: int = 24) -> tuple[str, bytes]:
    """A fresh BIP-39 mnemonic (256 bits of entropy by default) and its 64-byte seed."""
    try:
        count = Bip39WordsNum(words)
    except ValueError:
        raise HDError("a mnemonic has 12, 15, 18, 21 or 24 words") from None
    mnemonic = str(Bip39MnemonicGenerator().FromWordsNumber(count))
    return mnemonic, seed_from_mnemonic(mnemonic)


def seed_from_mnemonic(mnemonic: str, passphrase: str = "") -> bytes:
    """The BIP-39 seed of an English mnemonic (checksum verified; spaces normalised)."""
    words = " ".join(str(mnemonic).split())
    try:
        Bip39MnemonicValidator().Validate(words)
    except (MnemonicChecksumError, ValueError):
        raise HDError("not a valid BIP-39 mnemonic (unknown word or bad checksum)") from None
    return bytes(Bip39SeedGenerator(words).Generate(passphrase))


def seed_fingerprint(seed: bytes) -> str:
    """The BIP-32 fingerprint of the master key (8 hex digits): names a seed, reveals nothing."""
    return _master(seed).FingerPrint().ToHex()


def _kek() -> bytes:
    if not settings.FASTPAY_KEK:
        raise SeedUnavailable("FASTPAY_KEK is not set: the HD seed cannot be sealed or opened")
    return keyvault.kek_from_text(settings.FASTPAY_KEK)


def seed_path() -> Path:
    return Path(settings.FASTPAY_HD_SEED_FILE)


def seed_seal(seed: bytes, path: Path | str | None = None) -> Path:
    """Seal ``seed`` under FASTPAY_KEK into the seed file (mode 0600, written atomically);
    refuses to replace an existing file (a restore starts from an empty place)."""
    _check_seed(seed)
    target = Path(path) if path is not None else seed_path()
    envelope = keyvault.seal(bytes(seed), _kek(), label=SEED_LABEL)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(envelope)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, target)  # fails if the target exists: never overwrites a seed
        except FileExistsError:
            raise HDError(f"{target} exists: the HD seed is never overwritten") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


def seed_load(path: Path | str | None = None, *, check_fingerprint: bool = True) -> bytes:
    """Open the sealed seed file. With ``check_fingerprint`` (the default) the seed must be
    the one the database's HD accounts were made from (SeedMismatch otherwise)."""
    target = Path(path) if path is not None else seed_path()
    try:
        envelope = target.read_text()
    except FileNotFoundError:
        raise SeedUnavailable(f"{target}: no HD seed file (run manage.py wallet_init)") from None
    except OSError as exc:
        raise SeedUnavailable(f"{target}: cannot read the HD seed file ({exc.strerror})") from None
    try:
        seed = keyvault.unseal(envelope, _kek())
    except keyvault.KeyVaultError as exc:
        raise HDError(f"{target}: {exc}") from None
    _check_seed(seed)
    if check_fingerprint:
        seed_check(seed)
    return seed


def seed_check(seed: bytes) -> None:
    """Refuse a seed whose fingerprint differs from the platform HD accounts' (the ones
    wallet_init records, ACCOUNTS) with SeedMismatch."""
    from wallets.chain.models import HDAccount

    have = seed_fingerprint(seed)
    accounts = HDAccount.objects.filter(name__in=ACCOUNTS)
    recorded = set(accounts.values_list("seed_fingerprint", flat=True))
    if recorded and recorded != {have}:
        raise SeedMismatch(
            f"the HD seed's fingerprint {have} is not the accounts' "
            f"({', '.join(sorted(recorded))}): wrong seed file"
        )


def _check_seed(seed: bytes) -> None:
    if not isinstance(seed, bytes | bytearray) or len(seed) not in _SEED_LENGTHS:
        raise HDError("an HD seed is 16, 32 or 64 bytes")


# ------------------------------------------------------------------ derivation


def _master(seed: bytes) -> Bip32Secp256k1:
    _check_seed(seed)
    return Bip32Secp256k1.FromSeed(bytes(seed))


def _check_index(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < HARDENED:
        raise HDError(f"{what} must be a whole number from 0 to 2^31-1")
    return value


def account_path(account_index: int) -> str:
    return f"m/{PURPOSE}'/{COIN_ETHEREUM}'/{_check_index(account_index, 'account_index')}'"


def address_path(account_index: int, index: int, change: int = 0) -> str:
    return f"{account_path(account_index)}/{_check_change(change)}/{_check_index(index, 'index')}"


def _check_change(change: int) -> int:
    if change not in (0, 1) or isinstance(change, bool):
        raise HDError("change is 0 (external) or 1 (internal)")
    return change


def derive_path(seed: bytes, path: str) -> tuple[str, str]:
    """(xprv, xpub) of any BIP-32 path ("m/0'/1/2'"): for test vectors and tooling."""
    try:
        node = _master(seed).DerivePath(path)
    except (Bip32PathError, Bip32KeyError, ValueError):
        raise HDError(f"not a BIP-32 path: {path!r}") from None
    return node.PrivateKey().ToExtended(), node.PublicKey().ToExtended()


def account_xpub(seed: bytes, account_index: int) -> str:
    """The extended public key of m/44'/60'/``account_index``' (what HDAccount.xpub holds)."""
    return _master(seed).DerivePath(account_path(account_index)).PublicKey().ToExtended()


@lru_cache(maxsize=64)
def _public_branch(xpub: str, change: int) -> Bip32Secp256k1:
    """The xpub's change branch (cached: 10,000 addresses reuse it)."""
    if not isinstance(xpub, str) or not xpub.startswith("xpub"):
        raise HDError("an account xpub (extended public key) is expected, not a private key")
    try:
        node = Bip32Secp256k1.FromExtendedKey(xpub)
    except (Bip32KeyError, Base58ChecksumError, ValueError):
        raise HDError("not a valid extended public key") from None
    if not node.IsPublicOnly():
        raise HDError("an account xpub (extended public key) is expected, not a private key")
    if node.Depth().ToInt() != ACCOUNT_DEPTH:
        raise HDError("the xpub is not an account key (m/44'/60'/a', depth 3)")
    return node.ChildKey(change)


def address_at(xpub: str, index: int, change: int = 0) -> str:
    """The EIP-55 address at ``<xpub>/change/index``, from the public key alone."""
    _check_index(index, "index")
    node = _public_branch(xpub, _check_change(change)).ChildKey(index)
    return EthAddrEncoder.EncodeKey(node.PublicKey().KeyObject())


def private_key_at(seed: bytes, account_index: int, index: int, change: int = 0) -> bytes:
    """The 32-byte private key at m/44'/60'/account'/change/index (signing only)."""
    node = _master(seed).DerivePath(address_path(account_index, index, change))
    return bytes(node.PrivateKey().Raw().ToBytes())
