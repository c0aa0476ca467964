"""manage.py chain_watch [--chain ID] [--once] [--from-block N]: follow a chain's blocks
and credit deposits (docs/deposits.md, "The watcher"). Loops at the chain's
poll_interval_ms (at once while behind) until SIGTERM/SIGINT; a second watcher of the same
chain waits for the first one's lease."""

import logging
import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from wallets.chain.models import Chain, WatcherCursor
from wallets.chain.watcher import BATCH_BLOCKS, LEASE_S, Watcher

logger = logging.getLogger("wallets.chain.watcher")


class Command(BaseCommand):
    help = "Follow a chain's new blocks: record deposits on sight, credit them at depth."
    # a worker, restarted by its supervisor: `manage.py check` runs at deploy, not here
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--chain", type=int, help="chain id (default: the only enabled one)")
        parser.add_argument("--once", action="store_true", help="one tick, then exit")
        parser.add_argument(
            "--from-block",
            type=int,
            help="a chain never watched: start after this block (default: at the head)",
        )
        parser.add_argument("--batch-blocks", type=int, default=BATCH_BLOCKS)
        parser.add_argument("--lease-seconds", type=float, default=LEASE_S)
        parser.add_argument("--max-ticks", type=int, help="stop after this many ticks")

    def handle(self, *args, **options):
        chain = self._chain(options["chain"])
        if options["from_block"] is not None:
            self._start_at(chain, options["from_block"])
        watcher = Watcher(
            chain, batch_blocks=options["batch_blocks"], lease_s=options["lease_seconds"]
        )
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        max_ticks = 1 if options["once"] else options["max_ticks"]
        self.stdout.write(f"watching {chain} as {watcher.owner}")
        self.stdout.flush()
        results = watcher.run(stop=stop, max_ticks=max_ticks)
        if options["once"] and results:
            r = results[-1]
            self.stdout.write(
                f"{r.state}: head {r.head} cursor {r.cursor} recorded {r.recorded} "
                f"credited {r.credited} orphaned {r.orphaned} {r.detail}".rstrip()
            )

    def _chain(self, chain_id):
        chains = Chain.objects.filter(enabled=True)
        if chain_id is not None:
            chains = chains.filter(chain_id=chain_id)
        found = list(chains[:2])
        if not found:
            raise CommandError(f"no enabled chain {chain_id or ''}".rstrip())
        if len(found) > 1:
            raise CommandError("several chains are enabled: name one with --chain")
        return found[0]

    def _start_at(self, chain, number):
        if WatcherCursor.objects.filter(chain=chain).exists():
            raise CommandError(f"{chain} already has a cursor: --from-block only starts a new one")
        from wallets.chain.rpc import ChainRpc

        block = ChainRpc(chain).block(number)
        WatcherCursor.objects.create(
            chain=chain, block_number=block["number"], block_hash=block["hash"]
        )
        self.stdout.write(f"cursor of {chain} created at block {number}")
