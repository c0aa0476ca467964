from django.core.management.base import BaseCommand, CommandError

from wallets.services.checks import ledger_check_run


class Command(BaseCommand):
    help = "Verify every ledger invariant; exit non-zero when anything drifted."

    def add_arguments(self, parser):
        parser.add_argument("--no-record", action="store_true", help="do not store the result")

    def handle(self, *args, no_record=False, **options):
        run = ledger_check_run(record=not no_record)
        for problem in run.details:
            self.stdout.write(f"  {problem}")
        if run.drift_count:
            raise CommandError(f"ledger drift: {run.drift_count} problem(s)")
        self.stdout.write(self.style.SUCCESS("ledger clean: every invariant holds"))
