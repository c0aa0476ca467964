"""Chain rows the platform sets up itself: the local anvil of `make run` (manage.py
tokens_use_deployment) with its native coin's Token (gas only: the ledger records gas spent
as CHAIN_FEE entries in it; never a deposit token)."""

from __future__ import annotations

from django.db import transaction

from wallets.chain.addresses import NATIVE_CONTRACT
from wallets.chain.models import Chain
from wallets.models import Token

NATIVE_DECIMALS = 18
NATIVE_LEDGER_DECIMALS = 12


def chain_ensure(
    *, chain_id: int, name: str, rpc_url: str, confirmations: int, native_symbol: str = "ETH"
) -> tuple[Chain, Token]:
    """The Chain ``chain_id`` (created with these settings, or its RPC URL list set to
    ``[rpc_url]`` if it exists: other settings an operator changed stay) and its native
    Token (symbol ``native_symbol``, contract 0x0, 18 decimals, 12 in the ledger, disabled)."""
    with transaction.atomic():
        chain, created = Chain.objects.get_or_create(
            chain_id=chain_id,
            defaults={
                "name": name,
                "rpc_urls": [rpc_url],
                "confirmations": confirmations,
                "native_symbol": native_symbol,
            },
        )
        if not created and chain.rpc_urls != [rpc_url]:
            chain.rpc_urls = [rpc_url]
            chain.save(update_fields=["rpc_urls"])
        native, _ = Token.objects.get_or_create(
            chain_id=chain_id,
            contract_address=NATIVE_CONTRACT,
            defaults={
                "symbol": chain.native_symbol,
                "name": f"{chain.native_symbol} (native, gas)",
                "decimals": NATIVE_DECIMALS,
                "ledger_decimals": NATIVE_LEDGER_DECIMALS,
                "enabled": False,
            },
        )
    return chain, native
