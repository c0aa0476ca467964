"""Run the epoch handovers by hand (each run_authority worker runs them in a thread
already): pre-sync before an epoch this node joins, the verified handover once it is
active (authorities.node.services.handover). ``--once`` for one pass."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Pre-sync and complete epoch handovers for this node, forever."
    requires_system_checks = []  # run_authority checked already

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one pass, then exit")

    def handle(self, *args, **options):
        from authorities.node.runtime import node
        from authorities.node.services.handover import handover_forever, handover_step

        try:
            node()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        if options["once"]:
            handover_step()
            return
        handover_forever(settings.AUTHORITY_HANDOVER_POLL_MS / 1000)
