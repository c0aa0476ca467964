"""Recording the platform's HD keys in the database (manage.py wallet_init): the accounts'
xpubs and the seed's fingerprint (HDAccount), and the platform's own addresses on each
chain (PlatformAddress: m/44'/60'/1'/0/0 hot wallet, /1 gas station, /2 settler).

Only public material reaches the database. Idempotent: recording what is there changes
nothing; a different seed than the recorded one is refused (KeysMismatch) before anything
is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from wallets.chain import hd
from wallets.chain.addresses import OPERATIONS_ACCOUNT
from wallets.chain.models import AddressRole, Chain, HDAccount, PlatformAddress

#: roles derived from the "operations" account, by index
OPERATIONS_ROLES = {AddressRole.HOT: 0, AddressRole.GAS_STATION: 1, AddressRole.SETTLER: 2}


class KeysMismatch(hd.HDError):
    """The seed is not the one the database's HD accounts or platform addresses came from."""


@dataclass(frozen=True)
class Recorded:
    what: str  # "account" | "address"
    name: str
    value: str
    created: bool


def keys_check(seed: bytes) -> None:
    """KeysMismatch unless every recorded platform account and derived platform address
    is this seed's."""
    fingerprint = hd.seed_fingerprint(seed)
    for account in HDAccount.objects.filter(name__in=hd.ACCOUNTS):
        expected = hd.account_xpub(seed, account.account_index)
        if account.seed_fingerprint != fingerprint or account.xpub != expected:
            raise KeysMismatch(
                f"HD account {account.name!r} was made from the seed with fingerprint "
                f"{account.seed_fingerprint}, not this one ({fingerprint}): refusing a "
                "different seed (restore the original seed, or start from an empty database)"
            )
    for row in PlatformAddress.objects.filter(account__name__in=hd.ACCOUNTS).select_related(
        "account"
    ):
        if hd.address_at(row.account.xpub, row.index) != row.address:
            raise KeysMismatch(f"platform address {row.role} {row.address} is not derived here")


def keys_record(*, seed: bytes, chains: list[Chain]) -> list[Recorded]:
    """Record the HD accounts of ``seed`` and the derived platform addresses of ``chains``;
    returns what is there, with ``created`` for what this call wrote."""
    done: list[Recorded] = []
    with transaction.atomic():
        keys_check(seed)
        fingerprint = hd.seed_fingerprint(seed)
        accounts = {}
        for name, index in hd.ACCOUNTS.items():
            account, created = HDAccount.objects.get_or_create(
                name=name,
                defaults={
                    "account_index": index,
                    "xpub": hd.account_xpub(seed, index),
                    "seed_fingerprint": fingerprint,
                },
            )
            accounts[name] = account
            done.append(Recorded("account", name, account.xpub, created))
        operations = accounts[OPERATIONS_ACCOUNT]
        for chain in chains:
            for role, index in OPERATIONS_ROLES.items():
                row, created = PlatformAddress.objects.get_or_create(
                    chain=chain,
                    role=role,
                    defaults={
                        "account": operations,
                        "index": index,
                        "address": hd.address_at(operations.xpub, index),
                    },
                )
                done.append(Recorded("address", f"{chain.chain_id}/{role}", row.address, created))
    return done
