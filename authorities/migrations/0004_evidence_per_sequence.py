"""Equivocation evidence is keyed on (authority, sender, sequence) across epochs, and its
submission has two more states (being submitted; already slashed on-chain)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("authorities", "0003_moves_to_offline"),
    ]

    operations = [
        migrations.AlterField(
            model_name="equivocationevidence",
            name="status",
            field=models.CharField(
                choices=[
                    ("new", "New"),
                    ("submitting", "Being submitted"),
                    ("submitted", "Submitted on-chain"),
                    ("already_slashed", "Already slashed on-chain"),
                    ("failed", "Submission failed"),
                ],
                default="new",
                max_length=16,
            ),
        ),
        migrations.RemoveConstraint(
            model_name="equivocationevidence",
            name="evidence_unique",
        ),
        migrations.AddConstraint(
            model_name="equivocationevidence",
            constraint=models.UniqueConstraint(
                fields=("authority", "sender", "sequence"), name="evidence_unique_sequence"
            ),
        ),
    ]
