"""The operator's side of reconciliation: `manage.py reconcile`, the daily beat task, the
fastpay_custody_drift_units gauge and the admin pages (runs with their lines)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from prometheus_client import generate_latest

from tests.wallets.chain.reconcile_fixtures import cursor_to_head, deposit_record, platform_address
from tests.wallets.factories import UserFactory
from wallets.chain.models import ReconciliationRun, ReconciliationState
from wallets.chain.reconcile_metrics import custody_drift_latest
from wallets.tasks import custody_reconcile_task

pytestmark = pytest.mark.django_db

USDT = 10**18


def test_the_command_prints_the_lines_and_fails_on_drift(
    chain, usdt, anvil, deposit_address, capsys
):
    alice, _ = deposit_address()
    deposit_record(usdt, alice, anvil.mint(usdt, alice.address, 5 * USDT))
    cursor = cursor_to_head(chain, anvil)
    call_command("reconcile", "--chain", str(chain.chain_id))
    out = capsys.readouterr().out
    assert f"at block {cursor}" in out and "CLEAN" in out

    hot, _ = platform_address(chain)
    anvil.mint(usdt, hot.address, USDT)
    cursor_to_head(chain, anvil)
    with pytest.raises(CommandError, match="drift"):
        call_command("reconcile", "--chain", str(chain.chain_id))
    out = capsys.readouterr().out
    assert "DRIFT" in out and hot.address in out and "diff +1000000" in out


def test_the_command_refuses_a_block_beyond_the_watcher(chain, usdt, anvil):
    cursor = cursor_to_head(chain, anvil)
    with pytest.raises(CommandError, match="not watched yet"):
        call_command("reconcile", "--chain", str(chain.chain_id), "--block", str(cursor + 5))
    with pytest.raises(CommandError, match="needs --chain"):
        call_command("reconcile", "--block", "1")
    with pytest.raises(CommandError, match="no chain"):
        call_command("reconcile", "--chain", "999999")


def test_the_beat_task_and_the_gauge(chain, usdt, anvil, deposit_address):
    alice, _ = deposit_address()
    deposit_record(usdt, alice, anvil.mint(usdt, alice.address, 5 * USDT))
    hot, _ = platform_address(chain)
    anvil.mint(usdt, hot.address, 3 * USDT)
    cursor_to_head(chain, anvil)

    assert custody_reconcile_task() == {str(chain.chain_id): ReconciliationState.DRIFT}

    assert custody_drift_latest()["USDT"] == 3_000_000
    scraped = generate_latest().decode()
    assert 'fastpay_custody_drift_units{token="USDT"} 3e+06' in scraped
    assert 'fastpay_custody_drift_units{token="USDC"} 0.0' in scraped


def test_the_admin_shows_runs_with_their_lines_read_only(
    chain, usdt, anvil, deposit_address, client
):
    alice, _ = deposit_address()
    deposit_record(usdt, alice, anvil.mint(usdt, alice.address, 5 * USDT))
    cursor_to_head(chain, anvil)
    custody_reconcile_task()
    run = ReconciliationRun.objects.get()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    listing = client.get(reverse("admin:wallets_reconciliationrun_changelist"))
    page = client.get(reverse("admin:wallets_reconciliationrun_change", args=[run.pk]))

    assert listing.status_code == 200 and page.status_code == 200
    assert alice.address in page.content.decode()
    assert (
        client.post(reverse("admin:wallets_reconciliationrun_delete", args=[run.pk])).status_code
        == 403
    )
