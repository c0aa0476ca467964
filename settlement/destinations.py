"""Where a withdrawal may go: the destination checks (docs/withdrawals.md, "Destinations").

In order, each with its own error code: the address's shape (``invalid_address``), its
EIP-55 checksum (``invalid_checksum``: an address must be sent checksummed, a one-letter
typo then fails instead of sending money nowhere), the zero address (``zero_address``),
one of the platform's own addresses (``own_address``: deposit addresses, the hot wallet
and the other platform addresses, token contracts, the deployed FastPay contracts, and
what other apps register with ``own_addresses_register``), and the optional sanctions
list file (settings FASTPAY_SANCTIONS_FILE, ``sanctioned_address``). Every check is a
database or file read: no chain call (this runs inside the request's transaction).
"""

import logging
import os
import re
from collections.abc import Callable, Iterable
from functools import lru_cache

from django.conf import settings
from eth_utils import to_checksum_address

from settlement.errors import (
    InvalidAddress,
    InvalidChecksum,
    OwnAddress,
    SanctionedAddress,
    ZeroAddress,
)
from settlement.models import ZERO_ADDRESS
from wallets.chain.models import Chain, DepositAddress, PlatformAddress
from wallets.models import Token

logger = logging.getLogger(__name__)

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_own_sources: list[Callable[[Chain], Iterable[str]]] = []


def own_addresses_register(source: Callable[[Chain], Iterable[str]]) -> None:
    """Another app's addresses on a chain that no withdrawal may pay (e.g. the cold Safe,
    a batch-transfer contract)."""
    if source not in _own_sources:
        _own_sources.append(source)


def address_checksummed(raw: object, *, param: str = "destination") -> str:
    """The address if it is well formed and EIP-55 checksummed, else its error."""
    if not isinstance(raw, str) or _ADDRESS.fullmatch(raw) is None:
        raise InvalidAddress(param=param)
    checksummed = to_checksum_address(raw)
    if raw != checksummed:
        raise InvalidChecksum(
            "the EIP-55 checksum (the mix of upper and lower case) is wrong: copy the "
            "address from the wallet that will receive the money",
            param=param,
        )
    if raw.lower() == ZERO_ADDRESS:
        raise ZeroAddress(param=param)
    return checksummed


def destination_check(raw: object, *, chain: Chain, param: str = "destination") -> str:
    """Every check above; return the checksummed address."""
    address = address_checksummed(raw, param=param)
    if _is_own(address, chain):
        raise OwnAddress(param=param)
    if address.lower() in sanctioned():
        logger.warning("withdrawal to a sanctioned address %s refused", address)
        raise SanctionedAddress(param=param)
    return address


def _is_own(address: str, chain: Chain) -> bool:
    lowered = address.lower()
    if DepositAddress.objects.filter(chain=chain, address__iexact=address).exists():
        return True
    if PlatformAddress.objects.filter(chain=chain, address__iexact=address).exists():
        return True
    if Token.objects.filter(chain_id=chain.chain_id, contract_address__iexact=address).exists():
        return True
    if lowered in _deployed_contracts():
        return True
    return any(lowered in {a.lower() for a in source(chain)} for source in _own_sources)


def _deployed_contracts() -> frozenset[str]:
    """The FastPay contracts of the deployment file (vault, registry, processor ...)."""
    path = settings.FASTPAY_DEPLOYMENT_JSON
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        return frozenset()
    return _contracts_at(path, stamp)


@lru_cache(maxsize=4)
def _contracts_at(path: str, stamp: int) -> frozenset[str]:
    import json

    try:
        contracts = json.loads(open(path).read()).get("contracts", {})  # noqa: SIM115
    except (OSError, ValueError, AttributeError):
        return frozenset()
    return frozenset(
        str(entry.get("address", "")).lower()
        for entry in contracts.values()
        if isinstance(entry, dict) and entry.get("address")
    )


def sanctioned() -> frozenset[str]:
    """The lower-cased addresses of FASTPAY_SANCTIONS_FILE, read again when it changes. A
    configured file that cannot be read refuses every withdrawal (fail closed)."""
    path = settings.FASTPAY_SANCTIONS_FILE
    if not path:
        return frozenset()
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError as exc:
        logger.error("sanctions list %s unreadable: %s", path, exc)
        raise SanctionedAddress(
            "the sanctions list cannot be read: withdrawals are refused until it can",
            param="destination",
        ) from None
    return _sanctions_at(path, stamp)


@lru_cache(maxsize=4)
def _sanctions_at(path: str, stamp: int) -> frozenset[str]:
    found = set()
    with open(path) as lines:
        for line in lines:
            text = line.split("#", 1)[0].strip()
            if _ADDRESS.fullmatch(text):
                found.add(text.lower())
    return frozenset(found)
