from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("offline", "0005_transfers_from_authorities"),
    ]

    operations = [
        migrations.AddField(
            model_name="redemption",
            name="next_attempt_at",
            field=models.DateTimeField(blank=True, db_index=True, null=True),
        ),
        migrations.AddField(
            model_name="redemption",
            name="last_error",
            field=models.CharField(blank=True, max_length=255),
        ),
    ]
