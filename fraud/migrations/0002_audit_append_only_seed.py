"""The audit log is append-only (database triggers); rule thresholds are seeded from the code
defaults; the staff groups get the fraud permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SQLITE_TRIGGERS = [
    """CREATE TRIGGER fraud_auditlog_no_update BEFORE UPDATE ON fraud_auditlog
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS fraud_auditlog_no_update"]

# As for postings: PostgreSQL also refuses DELETE (test teardown uses TRUNCATE, which fires
# no row trigger); SQLite's teardown deletes row by row, so there only UPDATE is refused.
POSTGRES_TRIGGERS = [
    """CREATE OR REPLACE FUNCTION fraud_auditlog_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'the audit log is append-only'; END; $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER fraud_auditlog_no_update_delete BEFORE UPDATE OR DELETE
       ON fraud_auditlog FOR EACH ROW EXECUTE FUNCTION fraud_auditlog_append_only()""",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS fraud_auditlog_no_update_delete ON fraud_auditlog",
    "DROP FUNCTION IF EXISTS fraud_auditlog_append_only()",
]

GROUPS = {
    "reviewer": [
        "view_review",
        "view_assessment",
        "view_auditlog",
        "view_ruleconfig",
        "view_circuitbreaker",
        "view_riskprofile",
        "view_fraud_dashboard",
    ],
    "operator": [
        "view_circuitbreaker",
        "reset_circuitbreaker",
        "view_ruleconfig",
        "view_auditlog",
        "view_assessment",
        "view_riskprofile",
        "change_riskprofile",
        "view_doublespendevidence",
        "view_fraud_dashboard",
    ],
    "admin": None,  # every fraud permission
}

# The code defaults when this migration was written (fraud/thresholds.py DEFAULTS).
SEED = {
    "scoring": {"review_at": 50, "block_at": 95},
    "geofence": {"max_km": 20, "last_location_max_age_hours": 6, "score": 50},
    "impossible_travel": {"max_kmh": 900, "min_km": 5, "score": 70},
    "rate_limit": {"capacity": 10, "per_seconds": 60},
    "large_amount": {"review_at_tokens": 0, "score": 60},
    "tier_limits": {
        "tiers": {
            "0": {"single_tokens": 500, "day_sum_tokens": 1000, "day_count": 20},
            "1": {"single_tokens": 2000, "day_sum_tokens": 10000, "day_count": 50},
            "2": {"single_tokens": 20000, "day_sum_tokens": 200000, "day_count": 500},
        },
        "score": 50,
    },
    "burst": {"max_count": 5, "window_minutes": 10, "score": 50},
    "new_payee": {"above_tokens": 500, "score": 50},
    "structuring": {"band_pct": 10, "min_count": 3, "window_minutes": 60, "score": 60},
    "dormant": {"idle_days": 90, "above_tokens": 200, "score": 50},
    "double_spend": {"score": 100},
    "circuit_breaker": {
        "window_minutes": 15,
        "min_assessments": 20,
        "flagged_share_pct": 50,
        "token_volume_tokens": 1000000,
        "vendor_volume_tokens": 100000,
    },
    "four_eyes": {"above_tokens": 5000},
}


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


def seed(apps, schema_editor):
    RuleConfig = apps.get_model("fraud", "RuleConfig")
    for rule, params in SEED.items():
        RuleConfig.objects.get_or_create(rule=rule, defaults={"params": params})
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = Permission.objects.filter(content_type__app_label="fraud")
        if codenames is not None:
            perms = perms.filter(codename__in=codenames)
        group.permissions.add(*perms)


class Migration(migrations.Migration):
    dependencies = [("fraud", "0001_initial"), ("wallets", "0002_append_only_tokens_groups")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_TRIGGERS, "postgresql": POSTGRES_TRIGGERS}),
            _run({"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
