"""Watchers as real processes and threads against PostgreSQL (committed data, real row
locks): `manage.py chain_watch` SIGKILLed mid-batch and started again, two watcher
processes at once, watcher threads fighting over an instantly expiring lease. Every
deposit is credited exactly once; the ledger checks clean. Skipped on SQLite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection

from tests.authorities.nodes import ROOT
from tests.threads import run_threads
from tests.wallets.chain.watcher_fixtures import CONFIRMED, balance, ledger_clean, states
from wallets.chain.deposits import deposits_credit
from wallets.chain.models import Deposit, WatcherCursor
from wallets.chain.watcher import Watcher
from wallets.models import EntryKind, JournalEntry

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="watcher processes need PostgreSQL"
    ),
]

DEPOSITS = 30


def _database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def chain_watch(*args) -> subprocess.Popen:
    env = {**os.environ, "DEBUG": "1", "DATABASE_URL": _database_url()}
    return subprocess.Popen(
        [sys.executable, "manage.py", "chain_watch", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _wait(predicate, procs=(), timeout=60.0, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"chain_watch exited: {proc.stderr.read().decode()}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _kill(proc) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def _stop(proc) -> str:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    return err.decode(errors="replace")


@pytest.fixture
def many_deposits(anvil, chain, usdc, deposit_address):
    """DEPOSITS mints to 20 addresses, one block each, then the confirmations."""
    addresses = [deposit_address()[0] for _ in range(20)]
    for i in range(DEPOSITS):
        anvil.mint(usdc, addresses[i % 20].address, (i + 1) * 10**6)
    anvil.mine(3)
    expected = {
        a.pk: sum((i + 1) * 10**6 for i in range(DEPOSITS) if i % 20 == n)
        for n, a in enumerate(addresses)
    }
    return addresses, expected


def _all_credited(addresses, expected, usdc):
    assert Deposit.objects.count() == DEPOSITS
    assert set(states()) == {CONFIRMED}
    assert JournalEntry.objects.filter(kind=EntryKind.DEPOSIT).count() == DEPOSITS
    for address in addresses:
        assert balance(address.user, usdc) == expected[address.pk]
    ledger_clean()


def test_chain_watch_sigkilled_mid_batch_then_restarted_credits_each_deposit_once(
    anvil, chain, usdc, many_deposits
):
    addresses, expected = many_deposits
    start = WatcherCursor.objects.get(chain=chain).block_number
    head = anvil.w3.eth.block_number
    args = ["--chain", str(chain.chain_id), "--batch-blocks", "4", "--lease-seconds", "1"]
    for kill_at in (start + 12,):  # the process is killed past this block
        proc = chain_watch(*args)
        try:
            _wait(
                lambda at=kill_at: WatcherCursor.objects.get(chain=chain).block_number >= at,
                [proc],
                what=f"the watcher past block {kill_at}",
            )
        finally:
            _kill(proc)
        cursor = WatcherCursor.objects.get(chain=chain)
        assert cursor.block_number < head  # killed mid-way
        assert cursor.lease_owner  # a killed watcher leaves its lease behind: it expires
    proc = chain_watch(*args)
    try:
        _wait(
            lambda: (
                JournalEntry.objects.filter(kind=EntryKind.DEPOSIT).count() == DEPOSITS
                and WatcherCursor.objects.get(chain=chain).block_number >= head
            ),
            what="every deposit credited",
        )
        time.sleep(0.5)  # a few more ticks: nothing twice
    finally:
        err = _stop(proc)
    assert "Traceback" not in err, err
    _all_credited(addresses, expected, usdc)
    assert WatcherCursor.objects.get(chain=chain).lease_owner == ""  # released on SIGTERM


def test_two_watcher_processes_at_once_credit_each_deposit_once(anvil, chain, usdc, many_deposits):
    addresses, expected = many_deposits
    head = anvil.w3.eth.block_number
    args = ["--chain", str(chain.chain_id), "--batch-blocks", "3", "--lease-seconds", "0.2"]
    procs = [chain_watch(*args), chain_watch(*args)]
    try:
        _wait(
            lambda: (
                JournalEntry.objects.filter(kind=EntryKind.DEPOSIT).count() == DEPOSITS
                and WatcherCursor.objects.get(chain=chain).block_number >= head
            ),
            what="every deposit credited",
        )
        time.sleep(0.5)
    finally:
        errors = [_stop(proc) for proc in procs]
    for err in errors:
        assert "Traceback" not in err, err
    _all_credited(addresses, expected, usdc)


def test_watcher_threads_and_bare_credit_passes_at_once_credit_each_deposit_once(
    anvil, chain, usdc, many_deposits
):
    """Three watchers on a lease about as long as a tick (it changes hands, sometimes
    mid-tick: the tick transaction refuses a lost lease) and two credit passes that take
    no lease at all."""
    addresses, expected = many_deposits
    head = anvil.w3.eth.block_number
    stop = threading.Event()

    def done():
        return JournalEntry.objects.filter(kind=EntryKind.DEPOSIT).count() == DEPOSITS

    def watcher(n):
        def run():
            w = Watcher(chain, owner=f"racer-{n}", batch_blocks=4, lease_s=0.3)
            w.run(stop=stop, max_seconds=90)
            return {r.state for r in w.run(max_ticks=1)}

        return run

    def crediting():
        deadline = time.monotonic() + 90
        while not done() and time.monotonic() < deadline:
            deposits_credit(chain, head=head)
            time.sleep(0.01)
        stop.set()
        return "done" if done() else "gave up"

    results = run_threads([watcher(n) for n in range(3)] + [crediting, crediting])
    assert results[3:] == ["done", "done"], results
    for states_seen in results[:3]:
        assert not isinstance(states_seen, BaseException), states_seen
    _all_credited(addresses, expected, usdc)
