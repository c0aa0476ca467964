"""Usernames unique ignoring case and look-alikes; idempotency keys up to 255 characters.

Existing accounts whose usernames clash (equal ignoring case, or with equal skeletons) keep
working: the oldest keeps its name and each later one is renamed "<username>-<id>", printed
here so an operator can tell those users. Run on the data it finds, idempotently.
"""

import django.db.models.functions.text
from django.db import migrations, models

from wallets.usernames import username_skeleton


def _free_name(base: str, pk: int, taken_lower: set[str], taken_skeletons: set[str]) -> str:
    name, n = f"{base}-{pk}"[:150], 1
    while name.lower() in taken_lower or username_skeleton(name) in taken_skeletons:
        name, n = f"{base}-{pk}-{n}"[:150], n + 1
    return name


def skeletons_fill(apps, schema_editor):
    User = apps.get_model("wallets", "User")
    taken_lower: set[str] = set()
    taken_skeletons: set[str] = set()
    users = list(User.objects.order_by("pk").only("pk", "username"))
    all_lower = {user.username.lower() for user in users}
    for user in users:
        skeleton = username_skeleton(user.username)
        if user.username.lower() in taken_lower or skeleton in taken_skeletons:
            old = user.username
            user.username = _free_name(old, user.pk, all_lower | taken_lower, taken_skeletons)
            skeleton = username_skeleton(user.username)
            print(
                f"\n  user {user.pk}: {old!r} clashes with an older account, renamed {user.username!r}"
            )
        taken_lower.add(user.username.lower())
        taken_skeletons.add(skeleton)
        User.objects.filter(pk=user.pk).update(username=user.username, username_skeleton=skeleton)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("wallets", "0006_claim_write_off"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="username_skeleton",
            field=models.TextField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(skeletons_fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="user",
            name="username_skeleton",
            field=models.TextField(blank=True, editable=False, null=True, unique=True),
        ),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("username"),
                name="user_username_unique_ignoring_case",
                violation_error_message="A user with that username already exists.",
            ),
        ),
        migrations.AlterField(
            model_name="journalentry",
            name="idempotency_key",
            field=models.CharField(blank=True, max_length=255, null=True, unique=True),
        ),
        migrations.AlterField(
            model_name="payment",
            name="idempotency_key",
            field=models.CharField(blank=True, max_length=255, null=True),
        ),
        migrations.AlterField(
            model_name="refund",
            name="idempotency_key",
            field=models.CharField(blank=True, max_length=255, null=True),
        ),
    ]
