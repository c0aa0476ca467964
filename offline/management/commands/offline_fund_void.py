from django.core.management.base import BaseCommand, CommandError

from fastpay.errors import DomainError
from offline.services.fund_void import offline_fund_void


class Command(BaseCommand):
    help = (
        "Void a stuck FUND transfer by replacement (docs/offline.md): certify another order "
        "at its sequence, then move its money from CLEARING back to the user's balance. "
        "Refused, with the reason, while the original order can still be certified."
    )

    def add_arguments(self, parser):
        parser.add_argument("transfer_id", nargs="+", help="OfflineTransfer id(s)")

    def handle(self, *args, **options):
        failed = False
        for transfer_id in options["transfer_id"]:
            try:
                transfer = offline_fund_void(transfer_id=transfer_id)
            except DomainError as exc:
                failed = True
                self.stderr.write(f"{transfer_id}: refused: {exc.message}")
                continue
            self.stdout.write(f"{transfer.pk}: {transfer.state} ({transfer.amount} units back)")
        if failed:
            raise CommandError("some transfers were not voided")
