from django.core.management.base import BaseCommand, CommandError

from fastpay.errors import DomainError
from fastpay.money import AmountError, parse_units
from wallets.models import Token, User
from wallets.services.adjustments import ledger_adjust


class Command(BaseCommand):
    help = (
        "Credit or debit a user's available balance against CUSTODY. "
        'Example: ledger_adjust --user alice --token USDT --amount 25.50 --reason "wire 881" '
        "--key wire-881 --operator ops1   (use --debit to take money out)"
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="username of the account holder")
        parser.add_argument("--token", required=True, help="token symbol, e.g. USDT")
        parser.add_argument("--amount", required=True, help='decimal token amount, e.g. "25.50"')
        parser.add_argument("--debit", action="store_true", help="debit instead of credit")
        parser.add_argument("--reason", required=True, help="why (kept in the journal)")
        parser.add_argument("--key", required=True, help="idempotency key: rerunning is safe")
        parser.add_argument("--operator", required=True, help="username of the staff operator")

    def handle(self, *args, **opts):
        user = User.objects.filter(username=opts["user"]).first()
        if user is None:
            raise CommandError(f"--user: no user named {opts['user']!r}")
        operator = User.objects.filter(username=opts["operator"]).first()
        if operator is None:
            raise CommandError(f"--operator: no user named {opts['operator']!r}")
        token = Token.objects.filter(symbol=opts["token"].upper()).first()
        if token is None:
            symbols = ", ".join(Token.objects.values_list("symbol", flat=True))
            raise CommandError(f"--token: unknown token {opts['token']!r} (known: {symbols})")
        try:
            units = parse_units(opts["amount"], token.ledger_decimals)
        except AmountError as exc:
            raise CommandError(f"--amount: {exc}") from None
        try:
            entry = ledger_adjust(
                user=user,
                token=token,
                amount=-units if opts["debit"] else units,
                reason=opts["reason"],
                operator=operator,
                idempotency_key=opts["key"],
            )
        except DomainError as exc:
            param = f"--{exc.param}: " if exc.param else ""
            raise CommandError(f"{param}{exc.message}") from None
        self.stdout.write(self.style.SUCCESS(f"journal entry #{entry.pk} ({entry.memo})"))
