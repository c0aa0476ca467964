"""A defund whose committee call stalls, and meanwhile another user's payment: the
scenario of tests/offline/test_defund_stall.py, importable (PostgreSQL, in the test
process) and runnable as a script against a fresh SQLite file, the embedded default
(``python tests/offline/stall_scenario.py DB_PATH`` prints the figures as JSON).

Fake authorities over real HTTP answer every request after ``STALL_S`` seconds; the
defund and the payment run in two threads, each with its own database connection.
"""

import json
import os
import sys
import threading
import time
from pathlib import Path

STALL_S = 3.0
UNIT = 1_000_000


def run() -> dict:
    """Run the scenario on the configured database (migrated, with its seeded tokens);
    return the statuses, durations and what was written."""
    from eth_account import Account
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    from authorities import gateway as gateway_module
    from fastpay.models import IdempotencyRecord
    from fastpay_protocol import typed_data as td
    from offline.models import FastPayAccount, OfflineTransfer, TransferDirection
    from offline.services import transfers
    from tests.authorities.fake_authority import TOKEN, start_committee
    from tests.threads import run_threads
    from tests.wallets.factories import UserFactory
    from wallets.models import Payment, Token
    from wallets.services.adjustments import ledger_adjust

    authorities, committee = start_committee(4)
    gateway = gateway_module.Gateway(committee, b"\x42" * 32, timeout_s=STALL_S + 5)
    real_gateway, transfers.gateway = transfers.gateway, lambda: gateway
    try:
        alice, bob, carol = (UserFactory(username=n) for n in ("s-alice", "s-bob", "s-carol"))
        usdt = Token.objects.get(symbol="USDT")
        Token.objects.filter(pk=usdt.pk).update(contract_address=TOKEN)
        ledger_adjust(
            user=bob, token=usdt, amount=10 * UNIT, reason="scenario", operator=None,
            idempotency_key="stall-scenario-bob",
        )  # fmt: skip
        wallet = Account.create()
        FastPayAccount.objects.create(user=alice, address=wallet.address)
        for authority in authorities:
            authority.fund(wallet.address, 5 * UNIT)
        order = td.TransferOrder(wallet.address, gateway.platform_address, TOKEN, 2 * UNIT, 0, 0)
        certificate = gateway.client().transfer(order, bytes(wallet.key)).to_json()
        called = threading.Event()  # set when the defund's committee call has begun
        for authority in authorities:  # from now on every answer takes STALL_S
            authority.delay = STALL_S
            authority.handle = _signalling(authority.handle, called)

        def api(user) -> APIClient:
            client = APIClient()
            token = RefreshToken.for_user(user).access_token
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            return client

        def defund():
            started = time.monotonic()
            response = api(alice).post(
                "/api/v1/offline/defund/",
                {"certificate": certificate},
                format="json",
                HTTP_IDEMPOTENCY_KEY="defund-1",
            )
            return response.status_code, time.monotonic() - started

        def payment():
            assert called.wait(timeout=60), "the defund never called the committee"
            time.sleep(0.2)
            started = time.monotonic()
            response = api(bob).post(
                "/api/v1/payments/",
                {"payee": carol.username, "token": "USDT", "amount": "1"},
                format="json",
                HTTP_IDEMPOTENCY_KEY="pay-1",
            )
            status = response.status_code
            return status, time.monotonic() - started, _transactions_open_elsewhere()

        (defund_status, defund_s), (payment_status, payment_s, open_elsewhere) = run_threads(
            [defund, payment]
        )
        return {
            "defund_status": defund_status,
            "defund_s": defund_s,
            "payment_status": payment_status,
            "payment_s": payment_s,
            "open_transactions_during_the_stall": open_elsewhere,
            "payments": Payment.objects.filter(payer=bob).count(),
            "defunds": OfflineTransfer.objects.filter(
                direction=TransferDirection.DEFUND, user=alice
            ).count(),
            "stored": sorted(
                [key, status]
                for key, status in IdempotencyRecord.objects.filter(
                    user__in=[alice, bob]
                ).values_list("key", "response_status")
            ),
        }
    finally:
        transfers.gateway = real_gateway
        for authority in authorities:
            authority.stop()


def _signalling(handle, event):
    def signalling(method, raw_path, body):
        event.set()
        return handle(method, raw_path, body)

    return signalling


def _transactions_open_elsewhere() -> int | None:
    """PostgreSQL: sessions of this database idle inside a transaction (one held across
    the committee call would be one); None on SQLite."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def main(db_path: str) -> None:
    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root))
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fastpay.settings")
    os.environ["FASTPAY_RISK_ASSESSOR"] = "wallets.risk.large_amount_review"
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(json.dumps(run()))


if __name__ == "__main__":
    main(sys.argv[1])
