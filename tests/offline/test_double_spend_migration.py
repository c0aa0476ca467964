"""offline 0007: double spends refused before covers existed wait FLAGGED for an admin's
cover; a second spend no longer claims the voucher in the one-live-per-voucher index."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("offline", "0006_redemption_settlement_retries")]
AFTER = [("offline", "0007_double_spend_not_live")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _voucher(apps):
    User = apps.get_model("wallets", "User")
    Token = apps.get_model("wallets", "Token")
    now = timezone.now()
    return apps.get_model("offline", "Voucher").objects.create(
        user=User.objects.create(username="payer"),
        address="0x" + "11" * 20,
        payer="0x" + "22" * 20,
        # seeded by a migration, but a transactional test before may have flushed it
        token=Token.objects.get_or_create(
            symbol="USDT",
            defaults={
                "name": "Tether USD",
                "chain_id": 56,
                "contract_address": "0x55d398326f99059fF775485246999027B3197955",
                "decimals": 18,
            },
        )[0],
        amount=5_000_000,
        sequence=0,
        epoch=0,
        certificate={},
        not_before=now,
        not_after=now + timedelta(hours=1),
        ticket="0x" + "33" * 65,
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_old_double_spends_wait_for_an_admin_and_no_longer_hold_the_voucher():
    old = migrate(BEFORE)
    voucher = _voucher(old)
    User = old.get_model("wallets", "User")
    Redemption = old.get_model("offline", "Redemption")
    first = Redemption.objects.create(
        spend_id="a" * 64,
        vendor=User.objects.create(username="bob_shop"),
        voucher=voucher,
        amount=4_000_000,
        payment="FP1",
        state="pending",
    )
    second = Redemption.objects.create(
        spend_id="b" * 64,
        vendor=User.objects.create(username="carol_shop"),
        voucher=voucher,
        amount=5_000_000,
        payment="FP2",
        state="rejected",
        reason="double_spend",
        conflicting_with=first,
    )
    with pytest.raises(IntegrityError), transaction.atomic():  # the old index: one live
        Redemption.objects.filter(pk=second.pk).update(state="flagged")

    try:
        new = migrate(AFTER)
        moved = new.get_model("offline", "Redemption").objects.get(pk=second.pk)
        assert (moved.state, moved.reason) == ("flagged", "double_spend")
        assert "held for an admin" in moved.detail
        assert new.get_model("offline", "Redemption").objects.get(pk=first.pk).state == "pending"
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
