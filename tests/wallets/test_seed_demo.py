from django.contrib.auth import authenticate
from django.core.management import call_command

from wallets.models import LedgerAccount, User
from wallets.services.checks import ledger_check_run


def test_the_demo_users_can_log_in_and_hold_balances(db, settings, capsys):
    settings.DEBUG = True
    call_command("seed_demo")
    call_command("seed_demo")  # safe to run twice

    out = capsys.readouterr().out
    assert out.count("API key for merchant 'shop' (shown once)") == 1
    for username in ["admin", "reviewer", "operator", "alice", "shop"]:
        assert authenticate(username=username, password="fastpay-demo-2026") is not None
    alice = User.objects.get(username="alice")
    assert LedgerAccount.objects.get(
        owner=alice, token__symbol="USDT", kind="available"
    ).balance == (5_000 * 10**6)
    assert ledger_check_run(record=False).drift_count == 0
