from django.core.management.base import BaseCommand, CommandError

from wallets.chain.models import Chain, ReconciliationState
from wallets.chain.reconcile import ReconcileError, reconcile_run


class Command(BaseCommand):
    help = (
        "Reconcile the ledger's CUSTODY with on-chain balances per token at a block (default: "
        "the watcher cursor's); prints the lines that differ, exits non-zero on drift or error."
    )

    def add_arguments(self, parser):
        parser.add_argument("--chain", type=int, help="chain id (default: every enabled chain)")
        parser.add_argument("--block", type=int, help="block number (needs --chain)")
        parser.add_argument("--all-lines", action="store_true", help="print every line")

    def handle(self, *args, chain=None, block=None, all_lines=False, **options):
        if block is not None and chain is None:
            raise CommandError("--block needs --chain")
        chains = Chain.objects.filter(enabled=True)
        if chain is not None:
            chains = Chain.objects.filter(chain_id=chain)
            if not chains.exists():
                raise CommandError(f"no chain {chain}")
        failed = []
        for row in chains:
            try:
                run = reconcile_run(chain=row, block=block)
            except ReconcileError as exc:
                failed.append(f"chain {row.chain_id}: {exc.message}")
                continue
            self.stdout.write(
                f"{row} at block {run.block_number} ({run.block_hash or '-'}): run {run.pk} "
                f"{run.state.upper()}"
            )
            if run.error:
                self.stdout.write(f"  {run.error}")
            for line in run.lines.select_related("token").order_by("token", "kind", "address"):
                if all_lines or line.difference_units or not line.explained or line.kind == "total":
                    flag = " " if line.explained else "!"
                    self.stdout.write(
                        f" {flag} {line.token.symbol:<6} {line.kind:<20} {line.address or '-':<42} "
                        f"chain {line.onchain_units:>16} ledger {line.ledger_units:>16} "
                        f"diff {line.difference_units:+d}  {line.note}"
                    )
            if run.state in (ReconciliationState.DRIFT, ReconciliationState.ERROR):
                failed.append(f"chain {row.chain_id}: {run.state} (run {run.pk})")
        if failed:
            raise CommandError("; ".join(failed))
