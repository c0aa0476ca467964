"""Create (or restore) the platform's HD seed and record its public keys.

    FASTPAY_KEK=... manage.py wallet_init --backup-to /media/usb/fastpay-mnemonic.txt
    FASTPAY_KEK=... manage.py wallet_init --mnemonic-file backup.txt     (restore)
    FASTPAY_KEK=... manage.py wallet_init --chain 56                     (a chain added later)

The seed is sealed under FASTPAY_KEK into FASTPAY_HD_SEED_FILE (0600; never overwritten).
The mnemonic is never printed or logged: ``--backup-to`` writes it to a new 0600 file for a
paper backup (only when the seed is created here: it is not kept anywhere else). The
database gets the accounts' xpubs, the seed fingerprint and the platform addresses (hot
wallet, gas station, settler) of every enabled chain, or of ``--chain``. Running it again
with the same seed changes nothing; a different seed than the recorded one is refused.
"""

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from wallets.chain import hd
from wallets.chain.keys import keys_check, keys_record
from wallets.chain.models import Chain


def _write_new_secret_file(path: Path, text: str) -> None:
    """Create ``path`` (mode 0600 from the start; refuses an existing file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


class Command(BaseCommand):
    help = "Create or restore the platform's HD seed (sealed) and record its public keys."

    def add_arguments(self, parser):
        parser.add_argument(
            "--mnemonic-file", default=None, help="import this BIP-39 mnemonic (a restore)"
        )
        parser.add_argument(
            "--backup-to", default=None, help="write the new mnemonic to this new 0600 file"
        )
        parser.add_argument(
            "--chain", type=int, default=None, help="only this chain id's platform addresses"
        )
        parser.add_argument("--words", type=int, default=24, help="mnemonic length (new seed)")

    def handle(self, *args, **opts):
        try:
            self._run(opts)
        except hd.HDError as exc:
            raise CommandError(str(exc)) from None

    def _run(self, opts):
        chains = self._chains(opts["chain"])
        path = hd.seed_path()
        backup = Path(opts["backup_to"]) if opts["backup_to"] else None
        imported = self._mnemonic(opts["mnemonic_file"])
        if path.exists():
            seed = hd.seed_load(check_fingerprint=False)
            if imported is not None and hd.seed_from_mnemonic(imported) != seed:
                raise CommandError(
                    f"{path} holds another seed than --mnemonic-file's: refusing (a seed "
                    "file is never replaced)"
                )
            if backup is not None:
                raise CommandError(
                    "--backup-to: the seed exists and its mnemonic is not kept anywhere; "
                    "a backup is written only when the seed is created"
                )
            keys_check(seed)
            origin = f"the existing seed in {path}"
        else:
            if backup is not None and backup.exists():
                raise CommandError(f"--backup-to: {backup} exists (a backup is never overwritten)")
            mnemonic, seed = (
                (imported, hd.seed_from_mnemonic(imported))
                if imported is not None
                else hd.seed_create(opts["words"])
            )
            keys_check(seed)  # a restore of the wrong mnemonic writes nothing
            if backup is not None:
                _write_new_secret_file(backup, mnemonic + "\n")
            try:
                hd.seed_seal(seed, path)
            except BaseException:
                if backup is not None:
                    backup.unlink(missing_ok=True)
                raise
            origin = "a mnemonic imported" if imported is not None else "a new seed"
            self.stdout.write(f"{origin} sealed under FASTPAY_KEK in {path} (mode 0600)")
            if backup is not None:
                self.stdout.write(f"mnemonic written to {backup} (mode 0600): print it, then")
                self.stdout.write("  delete the file; keep the paper with the KEK apart")
            elif imported is None:
                self.stdout.write("no --backup-to: this seed has no backup but the sealed file")
        recorded = keys_record(seed=seed, chains=chains)
        self.stdout.write(f"seed fingerprint {hd.seed_fingerprint(seed)} ({origin})")
        for item in recorded:
            state = "recorded" if item.created else "unchanged"
            self.stdout.write(f"  {item.what} {item.name}: {item.value} ({state})")
        if not any(item.created for item in recorded):
            self.stdout.write("nothing to do: every key was already recorded")

    def _chains(self, chain_id):
        if chain_id is None:
            return list(Chain.objects.filter(enabled=True))
        chain = Chain.objects.filter(chain_id=chain_id).first()
        if chain is None:
            raise CommandError(f"--chain: no chain with chain id {chain_id}")
        return [chain]

    def _mnemonic(self, name):
        if name is None:
            return None
        try:
            text = Path(name).read_text()
        except OSError as exc:
            raise CommandError(f"--mnemonic-file: {exc.strerror}") from None
        return " ".join(text.split())
