"""Demo data for `make run`: staff, customers, vendors and merchants with balances."""

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from fastpay.api_keys import api_key_create
from fastpay.models import ApiKey, ApiKeyScope
from wallets.models import Token, User, UserRole, UserStatus
from wallets.services.adjustments import ledger_adjust
from wallets.services.users import user_approve

DEMO_PASSWORD = "fastpay-demo-2026"

STAFF = [("admin", "admin", True), ("reviewer", "reviewer", False), ("operator", "operator", False)]
PEOPLE = [
    ("alice", UserRole.CUSTOMER, {"USDT": 5_000, "USDC": 2_500}),
    ("bob", UserRole.CUSTOMER, {"USDT": 1_200, "USDC": 300}),
    ("carol", UserRole.CUSTOMER, {"USDT": 50_000}),
    ("kiosk", UserRole.VENDOR, {"USDT": 100}),
    ("cafe", UserRole.VENDOR, {}),
    ("shop", UserRole.MERCHANT, {"USDT": 10_000, "USDC": 10_000}),
]


class Command(BaseCommand):
    help = "Seed demo users, balances and a merchant API key (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="allow with DEBUG off")

    def handle(self, *args, force=False, **options):
        if not settings.DEBUG and not force:
            raise CommandError("seed_demo creates known passwords: run it with DEBUG=1 or --force")
        with transaction.atomic():
            lines = self._seed()
        self.stdout.write("\n".join(lines))

    def _seed(self) -> list[str]:
        lines = [f"Demo users (password for all: {DEMO_PASSWORD})"]
        for username, group, superuser in STAFF:
            user, _ = User.objects.get_or_create(
                username=username,
                defaults={
                    "role": UserRole.STAFF,
                    "is_staff": True,
                    "is_superuser": superuser,
                    "status": UserStatus.APPROVED,
                    "email": f"{username}@fastpay.local",
                },
            )
            self._password(user)
            user.groups.add(Group.objects.get(name=group))
            lines.append(f"  staff    {username:<9} group={group}")
        tokens = {t.symbol: t for t in Token.objects.all()}
        for username, role, balances in PEOPLE:
            user, _ = User.objects.get_or_create(
                username=username, defaults={"role": role, "email": f"{username}@fastpay.local"}
            )
            self._password(user)
            user_approve(user_id=user.pk, by=None)
            for symbol, whole in balances.items():
                token = tokens[symbol]
                ledger_adjust(
                    user=user,
                    token=token,
                    amount=whole * 10**token.ledger_decimals,
                    reason="demo funding",
                    operator=None,
                    idempotency_key=f"demo-funding:{username}:{symbol}",
                )
            funded = ", ".join(f"{v} {k}" for k, v in balances.items()) or "no balance"
            lines.append(f"  {role:<8} {username:<9} {funded}")
        merchant = User.objects.get(username="shop")
        if not ApiKey.objects.filter(user=merchant, name="demo").exists():
            _, secret = api_key_create(user=merchant, name="demo", scopes=list(ApiKeyScope.values))
            lines.append(f"API key for merchant 'shop' (shown once): {secret}")
        else:
            lines.append("API key for 'shop' already exists (shown only when first created)")
        lines.append(
            "Admin: http://127.0.0.1:8000/admin/  API docs: http://127.0.0.1:8000/api/docs/"
        )
        return lines

    @staticmethod
    def _password(user: User) -> None:
        # A user made by get_or_create has an empty password, which Django counts as
        # "usable": check the hash itself, and never reset a password someone changed.
        if not user.password:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
