from django.conf import settings
from django.db import migrations, models


def double_spends_to_admin(apps, schema_editor):
    """Double spends refused before covers existed wait for an admin's cover decision."""
    Redemption = apps.get_model("offline", "Redemption")
    Redemption.objects.filter(
        state="rejected", reason="double_spend", conflicting_with__isnull=False
    ).update(
        state="flagged",
        detail="the payer spent this voucher twice; synced before covers: held for an admin",
    )


def double_spends_back(apps, schema_editor):
    Redemption = apps.get_model("offline", "Redemption")
    Redemption.objects.filter(
        state="flagged", reason="double_spend", conflicting_with__isnull=False
    ).update(state="rejected")


class Migration(migrations.Migration):
    dependencies = [
        ("offline", "0006_redemption_settlement_retries"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="redemption",
            name="redemption_one_live_per_voucher",
        ),
        migrations.AddConstraint(
            model_name="redemption",
            constraint=models.UniqueConstraint(
                condition=models.Q(
                    ("conflicting_with__isnull", True),
                    ("state__in", ("received", "validated", "pending", "settled", "flagged")),
                ),
                fields=("voucher",),
                name="redemption_one_live_per_voucher",
            ),
        ),
        migrations.RunPython(double_spends_to_admin, double_spends_back),
    ]
