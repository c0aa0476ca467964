from django.core.management.base import BaseCommand, CommandError

from fastpay.errors import DomainError
from fastpay.money import format_amount
from wallets.models import Claim, User
from wallets.services.claims import claim_write_off


class Command(BaseCommand):
    help = (
        "Write off what is still owed on a claim (RECEIVABLE -> WRITE_OFF, the platform's "
        'loss). Example: claim_write_off --reference redemption:3f2c… --reason "payer '
        'bankrupt, ticket 4411" --operator ops1'
    )

    def add_arguments(self, parser):
        parser.add_argument("--reference", required=True, help="the claim's reference (admin)")
        parser.add_argument("--reason", required=True, help="why (kept in the journal)")
        parser.add_argument("--operator", required=True, help="username of the staff operator")

    def handle(self, *args, **opts):
        claim = Claim.objects.select_related("token").filter(reference=opts["reference"]).first()
        if claim is None:
            raise CommandError(f"--reference: no claim {opts['reference']!r} (see admin: Claims)")
        operator = User.objects.filter(username=opts["operator"]).first()
        if operator is None:
            raise CommandError(f"--operator: no user named {opts['operator']!r}")
        try:
            claim = claim_write_off(claim=claim, reason=opts["reason"], operator=operator)
        except DomainError as exc:
            param = f"--{exc.param}: " if exc.param else ""
            raise CommandError(f"{param}{exc.message}") from None
        amount = format_amount(claim.written_off, claim.token)
        self.stdout.write(self.style.SUCCESS(f"claim {claim.reference}: {amount} written off"))
