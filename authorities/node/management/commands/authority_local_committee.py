"""Write a local 4-node committee (anvil dev accounts #5-#8) for `make run` and tests.

    manage.py authority_local_committee --out var/authorities \\
        --deployment var/deployment.json --rpc-url http://127.0.0.1:8545

Each node then starts with the environment in var/authorities/nodes.json (or the
authority-N.env file next to it): `env $(cat var/authorities/authority-1.env) \\
.venv/bin/python manage.py run_authority --port 9101`. Local use only: the KEK is written
next to the keys it protects.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from authorities.node.local import write_local_committee


class Command(BaseCommand):
    help = "Write keys, committee.json and per-node environments of a local committee."

    def add_arguments(self, parser):
        parser.add_argument("--out", default="var/authorities")
        parser.add_argument("--deployment", default="", help="var/deployment.json (optional)")
        parser.add_argument("--rpc-url", default="", help="anvil's URL, to follow deposits")
        parser.add_argument("--base-port", type=int, default=9101)
        parser.add_argument("--confirmations", type=int, default=1)

    def handle(self, *args, **options):
        if options["deployment"] and not Path(options["deployment"]).is_file():
            raise CommandError(f"--deployment {options['deployment']}: no such file")
        try:
            nodes = write_local_committee(
                Path(options["out"]),
                deployment_path=options["deployment"],
                rpc_url=options["rpc_url"],
                ports=[options["base_port"] + i for i in range(4)],
                confirmations=options["confirmations"],
            )
        except (ValueError, KeyError) as exc:
            raise CommandError(str(exc)) from None
        for entry in nodes:
            env_file = Path(options["out"]) / f"{entry['name']}.env"
            env_file.write_text("".join(f"{k}={v}\n" for k, v in entry["env"].items()))
            env_file.chmod(0o600)
            self.stdout.write(f"{entry['name']}  {entry['address']}  {entry['url']}  {env_file}")
