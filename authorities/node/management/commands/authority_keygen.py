"""Create a node's sealed key: fresh, or imported from an environment variable (never from
the command line, where other users could read it in the process list).

    AUTHORITY_KEK=... manage.py authority_keygen --key-file var/authority-1.key
    AUTHORITY_KEK=... IMPORT_KEY=0x... manage.py authority_keygen --from-env IMPORT_KEY ...
"""

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from eth_account import Account

from fastpay import keyvault


def write_sealed_key(path: Path, private_key: bytes, kek: bytes) -> str:
    """Seal ``private_key`` under ``kek`` into ``path`` (mode 0600); returns the address."""
    address = Account.from_key(private_key).address
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(keyvault.seal(private_key, kek, label=address))
    tmp.chmod(0o600)
    tmp.replace(path)
    return address


class Command(BaseCommand):
    help = "Create this node's secp256k1 key, sealed under AUTHORITY_KEK."

    def add_arguments(self, parser):
        parser.add_argument("--key-file", default=None, help="default: AUTHORITY_KEY_FILE")
        parser.add_argument("--from-env", default=None, help="import the key from this env var")
        parser.add_argument("--force", action="store_true", help="overwrite an existing file")

    def handle(self, *args, **options):
        path = Path(options["key_file"] or settings.AUTHORITY_KEY_FILE or "")
        if not str(path) or str(path) == ".":
            raise CommandError("give --key-file or set AUTHORITY_KEY_FILE")
        if path.exists() and not options["force"]:
            raise CommandError(f"{path} exists (use --force to replace it)")
        try:
            kek = keyvault.kek_from_text(settings.AUTHORITY_KEK)
        except keyvault.KeyVaultError as exc:
            raise CommandError(f"AUTHORITY_KEK: {exc}") from None
        if options["from_env"]:
            raw = os.environ.get(options["from_env"], "").strip()
            try:
                private_key = bytes.fromhex(raw.removeprefix("0x"))
                Account.from_key(private_key)
            except ValueError:
                raise CommandError(f"{options['from_env']}: not a 32-byte hex key") from None
        else:
            private_key = secrets.token_bytes(32)
        address = write_sealed_key(path, private_key, kek)
        self.stdout.write(f"{address} sealed in {path}")
