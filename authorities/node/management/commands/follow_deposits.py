"""Follow FastPayRegistry deposits and credit them (run_authority starts this itself)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from authorities.node.follower import DepositFollower, registry_from_deployment


class Command(BaseCommand):
    help = "Credit FastPayRegistry deposits after AUTHORITY_CONFIRMATIONS blocks, forever."
    requires_system_checks = []  # run_authority checked already; start following sooner

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one pass, then exit")

    def handle(self, *args, **options):
        if not settings.CHAIN_RPC_URL or not settings.DEPLOYMENT_JSON:
            raise CommandError("CHAIN_RPC_URL and DEPLOYMENT_JSON must both be set")
        try:
            registry, start = registry_from_deployment(settings.DEPLOYMENT_JSON)
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(f"DEPLOYMENT_JSON={settings.DEPLOYMENT_JSON!r}: {exc}") from None
        follower = DepositFollower(
            rpc_url=settings.CHAIN_RPC_URL,
            registry=registry,
            start_block=start,
            confirmations=settings.AUTHORITY_CONFIRMATIONS,
        )
        if options["once"]:
            self.stdout.write(f"credited {follower.step()} deposit(s)")
            return
        follower.run_forever(settings.AUTHORITY_POLL_MS / 1000)
