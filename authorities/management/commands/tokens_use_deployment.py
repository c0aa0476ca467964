import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from fastpay.errors import DomainError
from wallets.services.tokens import tokens_use_chain


class Command(BaseCommand):
    help = (
        "Point USDT/USDC at the token contracts of a deployment JSON (default "
        "FASTPAY_DEPLOYMENT_JSON), e.g. the local anvil of `make run`."
    )

    def add_arguments(self, parser):
        parser.add_argument("--deployment", default=None)

    def handle(self, *args, deployment=None, **options):
        path = Path(deployment or settings.FASTPAY_DEPLOYMENT_JSON)
        try:
            data = json.loads(path.read_text())
            tokens = tokens_use_chain(chain_id=int(data["chain_id"]), tokens=data["tokens"])
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(f"--deployment: cannot use {path}: {exc}") from None
        except DomainError as exc:
            raise CommandError(f"--deployment: {exc.message}") from None
        for token in tokens:
            self.stdout.write(
                f"  {token.symbol} -> chain {token.chain_id} {token.contract_address}"
            )
