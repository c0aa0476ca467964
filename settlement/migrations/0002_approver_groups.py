"""Reviewers may approve, reject and cancel withdrawals; admins hold every settlement
permission (policies, limits, allowed addresses); operators see them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CODENAMES = ["approve_withdrawal", "view_withdrawal", "view_withdrawalapproval"]


def grant(apps, schema_editor):
    app_config = apps.get_app_config("settlement")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.filter(content_type__app_label="settlement", codename__in=CODENAMES)
    reviewer, _ = Group.objects.get_or_create(name="reviewer")
    reviewer.permissions.add(*perms)
    admin, _ = Group.objects.get_or_create(name="admin")
    admin.permissions.add(*Permission.objects.filter(content_type__app_label="settlement"))
    operator, _ = Group.objects.get_or_create(name="operator")
    operator.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="settlement", codename__startswith="view_"
        )
    )


class Migration(migrations.Migration):
    dependencies = [("settlement", "0001_initial")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
