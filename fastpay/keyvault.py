"""Envelope encryption for private keys at rest (AES-256-GCM), Django-free.

A random data key encrypts the secret; the key-encryption key (KEK: 32 bytes from the
environment or a KMS) encrypts the data key. Rotating the KEK re-wraps the data key only.
An envelope is a JSON string, safe to keep in a file or a database column.
"""

import base64
import json
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = 1


class KeyVaultError(ValueError):
    """Wrong KEK, tampered envelope, or a malformed key."""


def kek_from_text(text: str) -> bytes:
    """A KEK from its base64 (or 64-hex-digit) text form; 32 bytes exactly."""
    text = (text or "").strip()
    try:
        raw = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except ValueError:
        raise KeyVaultError("the KEK must be 32 bytes, base64 or 64 hex digits") from None
    if len(raw) != 32:
        raise KeyVaultError("the KEK must be 32 bytes, base64 or 64 hex digits")
    return raw


def new_kek_text() -> str:
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def seal(secret: bytes, kek: bytes, *, label: str = "") -> str:
    """Encrypt `secret` under a fresh data key wrapped by `kek`. `label` (e.g. the key's
    address) is authenticated, so an envelope cannot be swapped for another one's."""
    dek = AESGCM.generate_key(bit_length=256)
    n_dek, n_secret = os.urandom(12), os.urandom(12)
    aad = label.encode()
    return json.dumps(
        {
            "v": VERSION,
            "label": label,
            "wrapped_key": _b64(AESGCM(kek).encrypt(n_dek, dek, aad)),
            "key_nonce": _b64(n_dek),
            "ciphertext": _b64(AESGCM(dek).encrypt(n_secret, secret, aad)),
            "nonce": _b64(n_secret),
        }
    )


def unseal(envelope: str, kek: bytes) -> bytes:
    try:
        data = json.loads(envelope)
        aad = data["label"].encode()
        dek = AESGCM(kek).decrypt(
            base64.b64decode(data["key_nonce"]), base64.b64decode(data["wrapped_key"]), aad
        )
        return AESGCM(dek).decrypt(
            base64.b64decode(data["nonce"]), base64.b64decode(data["ciphertext"]), aad
        )
    except Exception:  # InvalidTag, bad JSON, missing fields: all mean "cannot open"
        raise KeyVaultError("cannot open this envelope: wrong KEK or tampered data") from None


def reseal(envelope: str, old_kek: bytes, new_kek: bytes) -> str:
    """Rotate the KEK: re-wrap the secret under `new_kek` (a fresh data key too)."""
    label = json.loads(envelope).get("label", "")
    return seal(unseal(envelope, old_kek), new_kek, label=label)
