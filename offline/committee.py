"""The committee as the offline app uses it: the platform's gateway (the epoch schedule
and platform key, authorities.gateway) and its long-lived CommitteeClient per epoch for
batches of already-signed orders (spends signed by voucher keys). "The current
committee" is the epoch active now by the platform's clock. Tests replace these
functions."""

from functools import cache

from authorities.gateway import gateway
from fastpay_protocol import signing
from fastpay_protocol.committee import CommitteeClient
from fastpay_protocol.messages import Committee
from fastpay_protocol.voucher import OfflineVerifier


def committee(epoch: int | None = None) -> Committee | None:
    """The current committee, or that of ``epoch`` (None when the platform does not know
    it)."""
    return gateway().committee_of(epoch)


def committees() -> dict[int, Committee]:
    """Every epoch the platform knows -> its committee (the current one included)."""
    return dict(gateway().committees)


def issuer() -> signing.Signer | None:
    """The key that signs voucher tickets: the platform's FastPay key (the ticket digest
    is domain-separated from every order, vote and batch digest)."""
    key = gateway().platform_key
    return None if key is None else _signer(bytes(key))


@cache
def _signer(key: bytes) -> signing.Signer:
    return signing.Signer(key)


def verifier() -> OfflineVerifier:
    signer = issuer()
    if signer is None:
        from offline.errors import PlatformNotConfigured

        raise PlatformNotConfigured()
    return _verifier(committee(), tuple(previous_committees()), signer.address)


def previous_committees() -> list[Committee]:
    """The committees of the other epochs the platform knows, oldest first: earlier
    epochs (their certificates stay valid under their own committee) and an announced
    one that is not active yet (a terminal configured now knows it at the boundary)."""
    gw = gateway()
    current = gw.committee
    return [c for e, c in sorted(gw.committees.items()) if e != current.epoch]


@cache
def _verifier(
    current: Committee, previous: tuple[Committee, ...], issuer_address: str
) -> OfflineVerifier:
    return OfflineVerifier(current, issuer_address, previous=previous)


def client(epoch: int | None = None) -> CommitteeClient | None:
    """The client of the current committee, or of ``epoch``'s (None when unknown)."""
    return gateway().client(epoch)
