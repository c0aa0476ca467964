from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("fraud", "0003_assessment_payer_offline"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditlog",
            name="client_ip",
            field=models.GenericIPAddressField(blank=True, null=True),
        ),
    ]
