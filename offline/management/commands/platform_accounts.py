from django.core.management.base import BaseCommand, CommandError

from authorities.gateway import CommitteeUnavailable
from fastpay.errors import DomainError
from offline.services.platform_accounts import (
    platform_account_check,
    platform_account_resume,
    platform_accounts_ensure,
)


class Command(BaseCommand):
    help = (
        "List the platform's FastPay accounts (FASTPAY_PLATFORM_ACCOUNTS, derived from the "
        "platform key), compare each one's sequence with the committee's (--check), or "
        "resume funding on a paused one (--resume ADDRESS [--next-sequence N])."
    )

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true")
        parser.add_argument("--resume", metavar="ADDRESS")
        parser.add_argument("--next-sequence", type=int)

    def handle(self, *args, **options):
        try:
            accounts = platform_accounts_ensure()
        except DomainError as exc:
            raise CommandError(exc.message) from None
        if options["resume"]:
            match = [a for a in accounts if a.address.lower() == options["resume"].lower()]
            if not match:
                raise CommandError(f"{options['resume']} is not a platform account")
            try:
                platform_account_resume(
                    account_id=match[0].pk, next_sequence=options["next_sequence"]
                )
            except DomainError as exc:
                raise CommandError(exc.message) from None
        for account in accounts:
            if options["check"]:
                try:
                    account = platform_account_check(account_id=account.pk)
                except CommitteeUnavailable as exc:
                    self.stderr.write(f"{account.address}: cannot check: {exc}")
            account.refresh_from_db()
            state = f"PAUSED ({account.paused_reason})" if account.funding_paused_at else "ok"
            self.stdout.write(
                f"#{account.index} {account.address} next={account.next_sequence} "
                f"committee={account.committee_sequence} {state}"
            )
