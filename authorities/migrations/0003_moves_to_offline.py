"""FastPayAccount, OfflineTransfer and PlatformAccount belong to the offline app now: they
leave the authorities app's state only; offline 0005 takes over their tables."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("authorities", "0002_staff_permissions")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="OfflineTransfer"),
                migrations.DeleteModel(name="FastPayAccount"),
                migrations.DeleteModel(name="PlatformAccount"),
            ],
            database_operations=[],
        )
    ]
