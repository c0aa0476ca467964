# ruff: noqa: F811 - the fixtures imported from sender_fixtures are parameters here
"""The sender's operator side: ``manage.py chain_sender follow|show`` and the admin (the
transaction with its attempts inline, "rebroadcast" and "replace with a fee bump")."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import Client

from tests.wallets.chain.sender_fixtures import (  # noqa: F401
    automine_off,
    hd_keys,
    platform,
    set_native,
)
from wallets.chain.fees import Fees
from wallets.chain.models import OutgoingTransaction, TxPurpose, TxState
from wallets.chain.sender import nonce_cursor_ensure, tx_broadcast, tx_create
from wallets.chain.signer import signer_hd

GWEI = 10**9


@pytest.fixture
def hot(chain, platform, set_native):
    address = platform["hot"].address
    set_native(address, 10 * 10**18)
    nonce_cursor_ensure(chain, address)
    return address


def signed(chain, hot, key, fees=None):
    with transaction.atomic():
        return tx_create(
            chain=chain,
            signer=signer_hd(1, 0),
            from_address=hot,
            to="0x000000000000000000000000000000000000bEEF",
            value_wei=5,
            gas_limit=21_000,
            fees=fees or Fees(max_fee_per_gas=2 * GWEI, max_priority_fee_per_gas=GWEI),
            purpose=TxPurpose.OTHER,
            reference=f"ops:{key}",
            idempotency_key=f"ops:{key}",
            confirmations=1,
        )


def run(*args) -> str:
    out = StringIO()
    call_command("chain_sender", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def staff_client(admin_user):
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    return client


def test_follow_once_sends_what_was_signed_and_show_lists_it(chain, anvil, hot):
    tx = signed(chain, hot, "cmd")

    listing = run("show")
    assert f"{tx.pk:>6}" in listing and "signed" in listing and "ops:cmd" in listing

    assert "mined=1" in run("follow", "--once", "--chain", str(chain.chain_id))
    assert "confirmed=1" in run("follow", "--once")
    tx.refresh_from_db()
    assert tx.state == TxState.CONFIRMED

    detail = run("show", str(tx.pk))
    assert tx.mined_hash in detail and "[mined]" in detail and "confirmed" in detail
    assert "nothing in flight" in run("follow", "--once")
    assert "ops:cmd" not in run("show")  # in flight only, by default
    assert "ops:cmd" in run("show", "--state", "all")
    with pytest.raises(CommandError):
        run("show", "999999")


def test_the_admin_shows_attempts_and_replaces_with_a_fee_bump(
    chain, automine_off, hot, staff_client, django_capture_on_commit_callbacks
):
    anvil = automine_off
    tx = tx_broadcast(
        signed(chain, hot, "admin", Fees(max_fee_per_gas=GWEI, max_priority_fee_per_gas=GWEI // 10))
    )
    first = tx.attempts.get()

    page = staff_client.get(f"/admin/wallets/outgoingtransaction/{tx.pk}/change/")
    assert page.status_code == 200 and first.tx_hash in page.content.decode()
    listing = staff_client.get("/admin/wallets/outgoingtransaction/?state=broadcast")
    assert listing.status_code == 200
    for url in ("/admin/wallets/noncecursor/", "/admin/wallets/sweep/"):
        assert staff_client.get(url).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):  # the task is queued on commit
        answer = staff_client.post(
            "/admin/wallets/outgoingtransaction/",
            {"action": "replace_with_fee_bump", "_selected_action": [tx.pk]},
            follow=True,
        )
    assert answer.status_code == 200
    tx.refresh_from_db()
    assert tx.bump_count == 1 and tx.attempts.count() == 2  # no broker: the task ran in place
    second = tx.attempts.order_by("id").last()
    assert second.max_fee_per_gas_wei >= first.max_fee_per_gas_wei * 9 // 8

    answer = staff_client.post(
        "/admin/wallets/outgoingtransaction/",
        {"action": "rebroadcast", "_selected_action": [tx.pk]},
        follow=True,
    )
    assert "Rebroadcast 1 item" in answer.content.decode()
    anvil.mine(1)
    assert "confirmed=1" in run("follow", "--once")
    tx.refresh_from_db()
    assert tx.mined_hash == second.tx_hash

    # a confirmed transaction is refused by both actions, with its reason
    answer = staff_client.post(
        "/admin/wallets/outgoingtransaction/",
        {"action": "rebroadcast", "_selected_action": [tx.pk]},
        follow=True,
    )
    assert "nothing to rebroadcast" in answer.content.decode()
    assert OutgoingTransaction.objects.get(pk=tx.pk).attempts.count() == 2


def test_the_gauges_show_what_is_in_flight_and_what_went_wrong(chain, hot):
    from wallets.chain.sender_metrics import SenderCollector

    waiting = signed(chain, hot, "gauge-1")
    gone = signed(chain, hot, "gauge-2")
    OutgoingTransaction.objects.filter(pk=gone.pk).update(state=TxState.DROPPED)

    families = {f.name: f for f in SenderCollector().collect()}

    def samples(name):
        return {tuple(s.labels.values()): s.value for s in families[name].samples}

    chain_id = str(chain.chain_id)
    assert samples("fastpay_chain_tx_in_flight") == {(chain_id, "signed"): 1}
    assert samples("fastpay_chain_tx_outcomes") == {(chain_id, "dropped"): 1}
    assert samples("fastpay_chain_tx_oldest_in_flight_seconds")[(chain_id,)] >= 0
    assert waiting.state == TxState.SIGNED


def test_the_beat_task_follows_every_chain_with_transactions_in_flight(chain, anvil, hot):
    from wallets.tasks import chain_sender_follow_task

    assert chain_sender_follow_task() == {}  # nothing in flight: no chain is even asked
    tx = signed(chain, hot, "beat")

    assert chain_sender_follow_task() == {chain.chain_id: {"mined": 1}}
    assert chain_sender_follow_task() == {chain.chain_id: {"confirmed": 1}}
    tx.refresh_from_db()
    assert tx.state == TxState.CONFIRMED
