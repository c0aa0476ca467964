"""FastPayAccount, OfflineTransfer and PlatformAccount move here from the authorities app
(authorities 0003 drops them from its state). Their tables already exist (authorities
0001 created them): the models enter the state on those tables, the tables are renamed
offline_*, and their content types (with the permissions and group grants hanging on
them) follow. Works on a fresh database and on one with transfers in it."""

import uuid

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

MODELS = ["fastpayaccount", "offlinetransfer", "platformaccount"]
# authorities 0002's grants: on a fresh database it can no longer make them (Django creates
# permissions for the models an app has now), so they are made here.
GROUPS = {
    "operator": ["view_fastpayaccount", "view_offlinetransfer"],
    "admin": ["view_fastpayaccount", "view_offlinetransfer"],
    "reviewer": ["view_offlinetransfer"],
}


def content_types_move(source: str, target: str):
    def move(apps, schema_editor):
        ContentType = apps.get_model("contenttypes", "ContentType")
        for model in MODELS:
            if ContentType.objects.filter(app_label=target, model=model).exists():
                continue
            ContentType.objects.filter(app_label=source, model=model).update(app_label=target)

    return move


def grant(apps, schema_editor):
    app_config = apps.get_app_config("offline")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="offline", codename__in=codenames)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("offline", "0004_covered_redemptions"),
        ("authorities", "0003_moves_to_offline"),
        ("wallets", "0002_append_only_tokens_groups"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="PlatformAccount",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "address",
                            models.CharField(
                                max_length=42,
                                unique=True,
                                validators=[
                                    django.core.validators.RegexValidator(
                                        "^0x[0-9a-fA-F]{40}$", "an 0x-prefixed 20-byte hex address"
                                    )
                                ],
                            ),
                        ),
                        ("next_sequence", models.PositiveBigIntegerField(default=0)),
                    ],
                    options={"db_table": "authorities_platformaccount"},
                ),
                migrations.CreateModel(
                    name="FastPayAccount",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "address",
                            models.CharField(
                                max_length=42,
                                unique=True,
                                validators=[
                                    django.core.validators.RegexValidator(
                                        "^0x[0-9a-fA-F]{40}$", "an 0x-prefixed 20-byte hex address"
                                    )
                                ],
                            ),
                        ),
                        ("linked_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "user",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="fastpay_account",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={"db_table": "authorities_fastpayaccount"},
                ),
                migrations.CreateModel(
                    name="OfflineTransfer",
                    fields=[
                        (
                            "id",
                            models.UUIDField(
                                default=uuid.uuid4,
                                editable=False,
                                primary_key=True,
                                serialize=False,
                            ),
                        ),
                        (
                            "direction",
                            models.CharField(
                                choices=[
                                    ("fund", "Online -> offline"),
                                    ("defund", "Offline -> online"),
                                ],
                                max_length=8,
                            ),
                        ),
                        ("amount", models.BigIntegerField(help_text="Ledger units.")),
                        (
                            "state",
                            models.CharField(
                                choices=[
                                    ("pending", "Pending (waiting for a certificate)"),
                                    ("done", "Done"),
                                    ("failed", "Failed"),
                                ],
                                db_index=True,
                                default="pending",
                                max_length=16,
                            ),
                        ),
                        (
                            "sender",
                            models.CharField(
                                max_length=42,
                                validators=[
                                    django.core.validators.RegexValidator(
                                        "^0x[0-9a-fA-F]{40}$", "an 0x-prefixed 20-byte hex address"
                                    )
                                ],
                            ),
                        ),
                        (
                            "recipient",
                            models.CharField(
                                max_length=42,
                                validators=[
                                    django.core.validators.RegexValidator(
                                        "^0x[0-9a-fA-F]{40}$", "an 0x-prefixed 20-byte hex address"
                                    )
                                ],
                            ),
                        ),
                        (
                            "sequence",
                            models.PositiveBigIntegerField(
                                help_text="The sender's FastPay sequence."
                            ),
                        ),
                        ("epoch", models.PositiveBigIntegerField()),
                        ("certificate", models.JSONField(blank=True, null=True)),
                        (
                            "idempotency_key",
                            models.CharField(blank=True, max_length=128, null=True),
                        ),
                        ("attempts", models.PositiveIntegerField(default=0)),
                        ("last_error", models.CharField(blank=True, max_length=255)),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "token",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="wallets.token",
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="offline_transfers",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "authorities_offlinetransfer",
                        "ordering": ["-created_at"],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("amount__gt", 0)),
                                name="offline_amount_positive",
                            ),
                            models.UniqueConstraint(
                                fields=("sender", "sequence"),
                                name="offline_transfer_unique_sequence",
                            ),
                            models.UniqueConstraint(
                                condition=models.Q(("idempotency_key__isnull", False)),
                                fields=("user", "idempotency_key"),
                                name="offline_transfer_unique_key",
                            ),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name="platformaccount", table=None),
        migrations.AlterModelTable(name="fastpayaccount", table=None),
        migrations.AlterModelTable(name="offlinetransfer", table=None),
        migrations.RunPython(
            content_types_move("authorities", "offline"),
            content_types_move("offline", "authorities"),
        ),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
