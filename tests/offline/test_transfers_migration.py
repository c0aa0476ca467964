"""The move of FastPayAccount, OfflineTransfer and PlatformAccount from authorities to
offline (authorities 0003, offline 0005) keeps an existing database's rows and staff
permissions."""

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("authorities", "0002_staff_permissions"), ("offline", "0004_covered_redemptions")]
AFTER = [("authorities", "0003_moves_to_offline"), ("offline", "0005_transfers_from_authorities")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


# serialized_rollback: the database is put back as the suite's migrations left it (seeded
# tokens, content types) for the tests that follow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_rows_and_group_permissions_survive_the_move_to_offline():
    old = migrate(BEFORE)
    User = old.get_model("wallets", "User")
    Token = old.get_model("wallets", "Token")
    user = User.objects.create(username="mover")
    # seeded by a migration, but a transactional test before may have flushed it
    token, _ = Token.objects.get_or_create(
        symbol="USDT",
        defaults={
            "name": "Tether USD",
            "chain_id": 56,
            "contract_address": "0x55d398326f99059fF775485246999027B3197955",
            "decimals": 18,
        },
    )
    old.get_model("authorities", "FastPayAccount").objects.create(
        user=user, address="0x" + "11" * 20
    )
    old.get_model("authorities", "PlatformAccount").objects.create(
        address="0x" + "22" * 20, next_sequence=7
    )
    transfer_id = uuid.uuid4()
    old.get_model("authorities", "OfflineTransfer").objects.create(
        id=transfer_id,
        user=user,
        direction="fund",
        token=token,
        amount=5_000_000,
        sender="0x" + "22" * 20,
        recipient="0x" + "11" * 20,
        sequence=6,
        epoch=0,
    )

    try:
        new = migrate(AFTER)
        assert new.get_model("offline", "FastPayAccount").objects.get().user_id == user.pk
        assert new.get_model("offline", "PlatformAccount").objects.get().next_sequence == 7
        transfer = new.get_model("offline", "OfflineTransfer").objects.get()
        assert (transfer.id, transfer.amount, transfer.sequence) == (transfer_id, 5_000_000, 6)
        tables = connection.introspection.table_names()
        assert "offline_offlinetransfer" in tables
        assert "authorities_offlinetransfer" not in tables
        Group = new.get_model("auth", "Group")
        reviewer = Group.objects.get(name="reviewer").permissions
        assert reviewer.filter(
            content_type__app_label="offline", codename="view_offlinetransfer"
        ).exists()
        assert (
            not new.get_model("contenttypes", "ContentType")
            .objects.filter(app_label="authorities", model="offlinetransfer")
            .exists()
        )
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
