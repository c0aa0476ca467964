"""The signers this node already knows for (digest, signature) pairs: the sender's
signature it recovered when voting on an order, and its own vote (it signed that digest
with its key). Confirming a certificate then recovers only the other authorities' votes:
2 secp256k1 recoveries of ~45 us instead of 4 for a certificate carrying this node's vote.
Likewise the EIP-712 digests of the orders it voted on (4 keccaks each).

A memo of ``recover_digest_bytes``, a pure function of (digest, signature): an entry is
only ever what a recovery returned, or what signing with this node's key guarantees one
would return. Any other bytes (another signature of the same digest, a high-s twin) miss
and are recovered and checked in full. Per process and bounded (oldest entries dropped
first): a miss only costs the recovery."""

from __future__ import annotations

import threading

from fastpay_protocol.signing import recover_digest_bytes

MAX_ENTRIES = 200_000  # ~2 per order voted on; ~50 MB at most

_known: dict[tuple[bytes, bytes], bytes] = {}
_digests: dict[tuple, tuple[bytes, bytes]] = {}
_lock = threading.Lock()


def digests_of(hasher, order) -> tuple[bytes, bytes]:
    """``hasher.order_and_vote(order)`` (the node's one Hasher; ``order`` a wire Order
    tuple), remembered for the order's certificate."""
    digests = _digests.get(order)
    if digests is None:
        digests = hasher.order_and_vote(order)
        with _lock:
            if len(_digests) >= MAX_ENTRIES // 4:  # ~0.6 kB an entry
                for key in list(_digests)[: MAX_ENTRIES // 16]:
                    del _digests[key]
            _digests[order] = digests
    return digests


def signer_note(digest: bytes, signature: bytes, signer: bytes) -> None:
    """``signature`` over ``digest`` recovers to ``signer`` (20 bytes): recovered here, or
    made here with the key of ``signer``."""
    with _lock:
        if len(_known) >= MAX_ENTRIES:
            for key in list(_known)[: MAX_ENTRIES // 4]:
                del _known[key]
        _known[(bytes(digest), bytes(signature))] = bytes(signer)


def signer_of(digest: bytes, signature: bytes) -> bytes:
    """The 20-byte address that signed ``digest`` (raises InvalidSignature like
    ``recover_digest_bytes``); known pairs cost no recovery."""
    signer = _known.get((digest, signature))
    return recover_digest_bytes(digest, signature) if signer is None else signer
