"""Re-seal the platform's HD seed file under a new KEK (atomically; the seed is unchanged).

    FASTPAY_KEK=<old> NEW_FASTPAY_KEK=<new> manage.py wallet_rotate_kek
    FASTPAY_KEK=<old> manage.py wallet_rotate_kek --generate    (prints the new KEK)

Then restart the workers and the web tier with FASTPAY_KEK=<new> (docs/deposits.md, "KEK
rotation": the other envelopes under FASTPAY_KEK need re-sealing before the switch too).
"""

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from fastpay import keyvault
from wallets.chain import hd


class Command(BaseCommand):
    help = "Re-seal FASTPAY_HD_SEED_FILE under a new KEK."

    def add_arguments(self, parser):
        parser.add_argument("--new-kek-env", default="NEW_FASTPAY_KEK")
        parser.add_argument("--generate", action="store_true", help="make and print a new KEK")

    def handle(self, *args, **options):
        path = hd.seed_path()
        try:
            seed = hd.seed_load()  # opens with the old KEK, and is the accounts' seed
        except hd.HDError as exc:
            raise CommandError(str(exc)) from None
        new_text = (
            keyvault.new_kek_text()
            if options["generate"]
            else os.environ.get(options["new_kek_env"], "")
        )
        try:
            new = keyvault.kek_from_text(new_text)
        except keyvault.KeyVaultError as exc:
            raise CommandError(f"{options['new_kek_env']}: {exc}") from None
        old = keyvault.kek_from_text(settings.FASTPAY_KEK)
        envelope = keyvault.reseal(path.read_text(), old, new)
        if keyvault.unseal(envelope, new) != seed:  # opens with the new KEK before replacing
            raise CommandError("the re-sealed envelope does not open to the same seed")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(envelope)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
        self.stdout.write(f"{path} re-sealed under the new KEK (fingerprint unchanged:")
        self.stdout.write(f"  {hd.seed_fingerprint(seed)}); restart with FASTPAY_KEK=<new>")
        if options["generate"]:
            self.stdout.write(f"new FASTPAY_KEK: {new_text}")
