import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from fastpay.errors import DomainError
from wallets.chain.chains import chain_ensure
from wallets.services.tokens import tokens_use_chain

#: blocks a local deposit waits before it is credited (docs/deposits.md)
LOCAL_CONFIRMATIONS = 2


def _rpc_chain_id(url: str) -> int:
    from web3 import HTTPProvider, Web3

    return int(Web3(HTTPProvider(url, request_kwargs={"timeout": 10})).eth.chain_id)


class Command(BaseCommand):
    help = (
        "Point USDT/USDC at the token contracts of a deployment JSON (default "
        "FASTPAY_DEPLOYMENT_JSON), e.g. the local anvil of `make run`; create that "
        "chain's Chain row (FASTPAY_CHAIN_RPC_URL) and its native gas token."
    )

    def add_arguments(self, parser):
        parser.add_argument("--deployment", default=None)
        parser.add_argument("--confirmations", type=int, default=LOCAL_CONFIRMATIONS)

    def handle(self, *args, deployment=None, confirmations=LOCAL_CONFIRMATIONS, **options):
        path = Path(deployment or settings.FASTPAY_DEPLOYMENT_JSON)
        try:
            data = json.loads(path.read_text())
            self._rpc_check(int(data["chain_id"]))  # before anything is written
            tokens = tokens_use_chain(chain_id=int(data["chain_id"]), tokens=data["tokens"])
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(f"--deployment: cannot use {path}: {exc}") from None
        except DomainError as exc:
            raise CommandError(f"--deployment: {exc.message}") from None
        for token in tokens:
            self.stdout.write(
                f"  {token.symbol} -> chain {token.chain_id} {token.contract_address}"
            )
        self._chain(int(data["chain_id"]), confirmations)

    def _rpc_check(self, chain_id: int) -> None:
        url = settings.FASTPAY_CHAIN_RPC_URL
        try:
            answered = _rpc_chain_id(url)
        except Exception as exc:  # any transport or decoding failure: the node is not usable
            raise CommandError(f"FASTPAY_CHAIN_RPC_URL={url}: no chain id ({exc})") from None
        if answered != chain_id:
            raise CommandError(
                f"FASTPAY_CHAIN_RPC_URL={url} is chain {answered}, the deployment's is {chain_id}"
            )

    def _chain(self, chain_id: int, confirmations: int) -> None:
        url = settings.FASTPAY_CHAIN_RPC_URL
        name = "local anvil" if chain_id == 31337 else f"chain {chain_id}"
        chain, native = chain_ensure(
            chain_id=chain_id, name=name, rpc_url=url, confirmations=confirmations
        )
        self.stdout.write(
            f"  chain {chain.chain_id} ({chain.name}) at {url}, {chain.confirmations} "
            f"confirmations; native {native.symbol} (gas only)"
        )
