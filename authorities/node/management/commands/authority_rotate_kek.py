"""Rotate the KEK of a node's sealed key: re-wrap it under a new KEK (atomically).

    AUTHORITY_KEK=<old> NEW_AUTHORITY_KEK=<new> manage.py authority_rotate_kek
    AUTHORITY_KEK=<old> manage.py authority_rotate_kek --generate   (prints the new KEK)

Then restart the node with AUTHORITY_KEK=<new>.
"""

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from fastpay import keyvault


class Command(BaseCommand):
    help = "Re-seal AUTHORITY_KEY_FILE under a new KEK."

    def add_arguments(self, parser):
        parser.add_argument("--key-file", default=None, help="default: AUTHORITY_KEY_FILE")
        parser.add_argument("--new-kek-env", default="NEW_AUTHORITY_KEK")
        parser.add_argument("--generate", action="store_true", help="make and print a new KEK")

    def handle(self, *args, **options):
        path = Path(options["key_file"] or settings.AUTHORITY_KEY_FILE or "")
        if not path.is_file():
            raise CommandError(f"AUTHORITY_KEY_FILE={str(path)!r}: no such file")
        try:
            old = keyvault.kek_from_text(settings.AUTHORITY_KEK)
        except keyvault.KeyVaultError as exc:
            raise CommandError(f"AUTHORITY_KEK: {exc}") from None
        if options["generate"]:
            new_text = keyvault.new_kek_text()
        else:
            new_text = os.environ.get(options["new_kek_env"], "")
        try:
            new = keyvault.kek_from_text(new_text)
        except keyvault.KeyVaultError as exc:
            raise CommandError(f"{options['new_kek_env']}: {exc}") from None
        try:
            envelope = keyvault.reseal(path.read_text(), old, new)
        except keyvault.KeyVaultError as exc:
            raise CommandError(f"AUTHORITY_KEY_FILE / AUTHORITY_KEK: {exc}") from None
        keyvault.unseal(envelope, new)  # opens with the new KEK before it replaces the file
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(envelope)
        tmp.chmod(0o600)
        tmp.replace(path)
        self.stdout.write(f"{path} re-sealed under the new KEK; restart the node with it")
        if options["generate"]:
            self.stdout.write(f"new AUTHORITY_KEK: {new_text}")
