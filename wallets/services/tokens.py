"""Token configuration changes that are more than an admin form edit."""

from django.db import transaction

from fastpay.locks import for_update
from wallets.errors import UnknownToken
from wallets.models import Token


def tokens_use_chain(*, chain_id: int, tokens: list[dict]) -> list[Token]:
    """Point the ledger's tokens at contracts on another chain (e.g. a local anvil):
    `tokens` = [{"symbol", "address", "decimals"}]. Ledger decimals never change, so every
    balance keeps its meaning."""
    updated = []
    with transaction.atomic():
        for entry in tokens:
            token = for_update(Token.objects).filter(symbol=entry["symbol"]).first()
            if token is None:
                raise UnknownToken(f"no ledger token {entry['symbol']!r}", param="symbol")
            token.chain_id = chain_id
            token.contract_address = entry["address"]
            token.decimals = int(entry["decimals"])
            token.save(update_fields=["chain_id", "contract_address", "decimals"])
            updated.append(token)
    return updated
