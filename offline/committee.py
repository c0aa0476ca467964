"""The committee as the offline app uses it: the platform's gateway (committee file and
platform key, authorities.gateway) and its long-lived CommitteeClient for batches of
already-signed orders (spends signed by voucher keys). Tests replace these functions."""

from functools import cache

from authorities.gateway import gateway
from fastpay_protocol import signing
from fastpay_protocol.committee import CommitteeClient
from fastpay_protocol.messages import Committee
from fastpay_protocol.voucher import OfflineVerifier


def committee() -> Committee:
    return gateway().committee


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
        from authorities.services.offline import PlatformNotConfigured

        raise PlatformNotConfigured()
    return _verifier(committee(), signer.address)


@cache
def _verifier(current: Committee, issuer_address: str) -> OfflineVerifier:
    return OfflineVerifier(current, issuer_address)


def client() -> CommitteeClient:
    return gateway().client()
