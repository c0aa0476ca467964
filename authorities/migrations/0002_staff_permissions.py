"""Operators and admins see the committee registry; they may submit slashing evidence."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = [
    "view_committeemember",
    "view_equivocationevidence",
    "view_fastpayaccount",
    "view_offlinetransfer",
]
GROUPS = {
    "operator": [*VIEW, "submit_evidence"],
    "admin": [*VIEW, "submit_evidence"],
    "reviewer": ["view_committeemember", "view_offlinetransfer"],
}


def grant(apps, schema_editor):
    app_config = apps.get_app_config("authorities")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(
                content_type__app_label="authorities", codename__in=codenames
            )
        )


class Migration(migrations.Migration):
    dependencies = [("authorities", "0001_initial"), ("wallets", "0002_append_only_tokens_groups")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
