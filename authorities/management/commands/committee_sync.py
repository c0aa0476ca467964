import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from authorities.chain import ChainUnavailable
from authorities.services.committee import (
    InvalidCommittee,
    committee_sync_chain,
    committee_sync_file,
)


class Command(BaseCommand):
    help = (
        "Load the committee (epoch, members with address, stake and URL) into the registry "
        "from a committee file (default FASTPAY_COMMITTEE_FILE), or with --from-chain from "
        "AuthorityManager/CommitteeConsensus (URLs still come from the file)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", default=None, help="committee JSON (docs/protocol.md)")
        parser.add_argument(
            "--from-chain", action="store_true", help="members, stakes and slashing from the chain"
        )

    def handle(self, *args, file=None, from_chain=False, **options):
        path = file or settings.FASTPAY_COMMITTEE_FILE
        try:
            if from_chain:
                with open(path) as handle:
                    urls = {m["address"]: m["url"] for m in json.load(handle)["members"]}
                members = committee_sync_chain(urls=urls)
            else:
                members = committee_sync_file(path)
        except FileNotFoundError:
            raise CommandError(f"--file: no committee file at {path}") from None
        except (ValueError, KeyError) as exc:
            raise CommandError(f"--file: {path} is not a committee file ({exc})") from None
        except InvalidCommittee as exc:
            raise CommandError(f"--file: {exc.message}") from None
        except ChainUnavailable as exc:
            raise CommandError(f"--from-chain: {exc}") from None
        for member in members:
            self.stdout.write(
                f"  epoch {member.epoch}  {member.name:<14} {member.address}  {member.url}"
            )
        self.stdout.write(self.style.SUCCESS(f"{len(members)} member(s) synced"))
