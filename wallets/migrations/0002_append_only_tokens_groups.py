"""Postings are append-only (database triggers), USDT and USDC are seeded, staff groups exist."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SQLITE_TRIGGERS = [
    """CREATE TRIGGER wallets_posting_no_update BEFORE UPDATE ON wallets_posting
       BEGIN SELECT RAISE(ABORT, 'postings are append-only'); END""",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS wallets_posting_no_update"]

# PostgreSQL also refuses DELETE (TRUNCATE, used by test teardown, fires no row trigger).
# SQLite's test teardown deletes row by row, so there only UPDATE is refused.
POSTGRES_TRIGGERS = [
    """CREATE OR REPLACE FUNCTION wallets_posting_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'postings are append-only'; END; $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER wallets_posting_no_update_delete BEFORE UPDATE OR DELETE
       ON wallets_posting FOR EACH ROW EXECUTE FUNCTION wallets_posting_append_only()""",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS wallets_posting_no_update_delete ON wallets_posting",
    "DROP FUNCTION IF EXISTS wallets_posting_append_only()",
]

# BSC mainnet BEP-20 contracts; both use 18 decimals on BSC.
TOKENS = [
    ("USDT", "Tether USD", 56, "0x55d398326f99059fF775485246999027B3197955", 18),
    ("USDC", "USD Coin", 56, "0x8AC76a51cc950d9822D68b83fE1Ad97B32Cd580d", 18),
]

GROUPS = {
    "reviewer": [
        "wallets.review_payment",
        "wallets.view_payment",
        "wallets.view_user",
        "wallets.view_ledgeraccount",
        "wallets.view_journalentry",
        "wallets.view_posting",
        "wallets.view_refund",
    ],
    "operator": [
        "wallets.adjust_balance",
        "wallets.view_payment",
        "wallets.view_user",
        "wallets.change_user",
        "wallets.view_token",
        "wallets.change_token",
        "wallets.view_ledgeraccount",
        "wallets.view_journalentry",
        "wallets.view_posting",
        "wallets.view_refund",
        "wallets.view_ledgercheckrun",
        "fastpay.view_outboxevent",
        "fastpay.view_apikey",
    ],
    "admin": None,  # every permission of the wallets and fastpay apps
}


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


def seed(apps, schema_editor):
    Token = apps.get_model("wallets", "Token")
    for symbol, name, chain_id, address, decimals in TOKENS:
        Token.objects.get_or_create(
            symbol=symbol,
            defaults={
                "name": name,
                "chain_id": chain_id,
                "contract_address": address,
                "decimals": decimals,
                "ledger_decimals": 6,
            },
        )
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        if codenames is None:
            perms = Permission.objects.filter(content_type__app_label__in=["wallets", "fastpay"])
        else:
            perms = [
                Permission.objects.get(content_type__app_label=label, codename=codename)
                for label, codename in (c.split(".") for c in codenames)
            ]
        group.permissions.add(*perms)


class Migration(migrations.Migration):
    dependencies = [("wallets", "0001_initial"), ("fastpay", "0002_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_TRIGGERS, "postgresql": POSTGRES_TRIGGERS}),
            _run({"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
