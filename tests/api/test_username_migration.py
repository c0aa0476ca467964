"""wallets.0007 on existing data: clashing usernames are renamed, never lost or refused."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("wallets", "0006_claim_write_off")]
AFTER = [("wallets", "0007_usernames_unique_ignoring_case_and_lookalikes")]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_migration_keeps_the_oldest_and_renames_later_clashes(capsys):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        _check_the_renames(capsys)
    finally:  # back to the latest schema: later migrations (wallets 0008, offline 0009...)
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def _check_the_renames(capsys):
    executor = MigrationExecutor(connection)
    old_apps = executor.loader.project_state(BEFORE).apps
    User = old_apps.get_model("wallets", "User")
    names = ["alice", "ALICE", "al1ce", "bob", "\u0430lice"]  # the last with a Cyrillic a
    ids = [User.objects.create(username=name, password="!").pk for name in names]

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)

    User = executor.loader.project_state(AFTER).apps.get_model("wallets", "User")
    got = dict(User.objects.filter(pk__in=ids).values_list("pk", "username"))
    assert [got[pk] for pk in ids] == [
        "alice",
        f"ALICE-{ids[1]}",
        f"al1ce-{ids[2]}",
        "bob",
        f"\u0430lice-{ids[4]}",
    ]
    skeletons = list(User.objects.filter(pk__in=ids).values_list("username_skeleton", flat=True))
    assert None not in skeletons and len(set(skeletons)) == len(ids)
    assert "renamed" in capsys.readouterr().out
