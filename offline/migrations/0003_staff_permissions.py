"""Operators and admins see vouchers, redemptions and double-spend evidence, release or
reject flagged redemptions and edit offline limits; reviewers see them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = ["view_voucher", "view_redemption", "view_doublespend", "view_offlinelimit"]
GROUPS = {
    "operator": [*VIEW, "decide_redemption", "change_offlinelimit", "add_offlinelimit"],
    "admin": [*VIEW, "decide_redemption", "change_offlinelimit", "add_offlinelimit"],
    "reviewer": VIEW,
}


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
        ("offline", "0002_redemption_unique_per_vendor"),
        ("wallets", "0002_append_only_tokens_groups"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="redemption",
            options={
                "ordering": ["-created_at"],
                "permissions": [("decide_redemption", "Can release or reject flagged redemptions")],
            },
        ),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
