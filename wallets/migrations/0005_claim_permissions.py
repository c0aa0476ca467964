"""Staff see claims on users; operators and admins (who hold adjust_balance) may also
trigger their recovery from the admin."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor):
    app_config = apps.get_app_config("wallets")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.get(content_type__app_label="wallets", codename="view_claim")
    for name in ["reviewer", "operator", "admin"]:
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(view)


class Migration(migrations.Migration):
    dependencies = [("wallets", "0004_receivable_claims")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
