"""manage.py chain_sender follow [--chain ID] [--once] [--sweeps] | show [--chain ID]
[--state S] [--limit N] [TX_ID]: the outgoing-transaction sender (docs/deposits.md,
"Sending").

``follow`` loops at the chain's poll_interval_ms until SIGTERM/SIGINT: broadcasts what was
signed and never sent (a crashed worker's), follows receipts to depth, replaces stuck
transactions, records outcomes; ``--sweeps`` also starts and advances sweeps each round.
Several followers may run at once (outcomes are compare-and-set under row locks).
``show`` lists transactions (in flight by default) with their attempts, oldest nonce first.
"""

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from wallets.chain.models import Chain, OutgoingTransaction, TxState
from wallets.chain.rpc import RpcError
from wallets.chain.sender import IN_FLIGHT, attempt_status, tx_follow


class Command(BaseCommand):
    help = "Follow outgoing chain transactions to their outcome, or show them."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        follow = sub.add_parser("follow", help="broadcast, follow receipts, replace stuck")
        follow.add_argument("--chain", type=int, help="chain id (default: every enabled one)")
        follow.add_argument("--once", action="store_true", help="one round, then exit")
        follow.add_argument("--sweeps", action="store_true", help="run sweeps each round")
        follow.add_argument("--stuck-seconds", type=int, help="override FASTPAY_CHAIN_TX_STUCK_S")
        follow.add_argument("--max-rounds", type=int, help="stop after this many rounds")
        show = sub.add_parser("show", help="transactions and their attempts")
        show.add_argument("tx_id", nargs="?", type=int, help="one transaction, in full")
        show.add_argument("--chain", type=int)
        show.add_argument(
            "--state", choices=[*TxState.values, "all"], help="default: those in flight"
        )
        show.add_argument("--limit", type=int, default=50)

    def handle(self, *args, **options):
        if options["action"] == "follow":
            return self._follow(options)
        return self._show(options)

    # ---------------------------------------------------------------- follow

    def _chains(self, chain_id):
        chains = Chain.objects.filter(enabled=True)
        if chain_id is not None:
            chains = chains.filter(chain_id=chain_id)
        found = list(chains)
        if not found:
            raise CommandError(f"no enabled chain {chain_id or ''}".rstrip())
        return found

    def _follow(self, options):
        chains = self._chains(options["chain"])
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        max_rounds = 1 if options["once"] else options["max_rounds"]
        interval = min(c.poll_interval_ms for c in chains) / 1000
        self.stdout.write(f"following {', '.join(str(c) for c in chains)}")
        self.stdout.flush()
        rounds = 0
        while not stop.is_set():
            for chain in chains:
                self._round(chain, options)
            rounds += 1
            if max_rounds is not None and rounds >= max_rounds:
                break
            stop.wait(interval)

    def _round(self, chain, options):
        try:
            counts = tx_follow(chain, stuck_after_s=options["stuck_seconds"])
        except RpcError as exc:
            self.stderr.write(f"{chain}: {exc}")
            return
        if options["sweeps"]:
            from wallets.chain.sweeps import sweeps_run

            try:
                sweeps = sweeps_run(chain)
            except RpcError as exc:
                self.stderr.write(f"{chain} sweeps: {exc}")
            else:
                counts.update({f"sweeps_{k}": v for k, v in sweeps.items() if v})
        if counts or options["once"]:
            summary = " ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "nothing in flight"
            self.stdout.write(f"{chain.chain_id}: {summary}")
            self.stdout.flush()

    # ---------------------------------------------------------------- show

    def _show(self, options):
        rows = OutgoingTransaction.objects.select_related("chain").prefetch_related("attempts")
        if options["tx_id"] is not None:
            tx = rows.filter(pk=options["tx_id"]).first()
            if tx is None:
                raise CommandError(f"no outgoing transaction {options['tx_id']}")
            return self._one(tx)
        if options["chain"] is not None:
            rows = rows.filter(chain__chain_id=options["chain"])
        state = options["state"]
        if state != "all":
            rows = rows.filter(state=state) if state else rows.filter(state__in=IN_FLIGHT)
        rows = rows.order_by("chain__chain_id", "from_address", "nonce")[: options["limit"]]
        header = f"{'id':>6} {'chain':>6} {'purpose':<10} {'state':<9} {'nonce':>6} {'bumps':>5}"
        self.stdout.write(f"{header} from -> to  reference  latest hash")
        for tx in rows:
            latest = max(tx.attempts.all(), key=lambda a: a.pk)
            self.stdout.write(
                f"{tx.pk:>6} {tx.chain.chain_id:>6} {tx.purpose:<10} {tx.state:<9} "
                f"{tx.nonce:>6} {tx.bump_count:>5} {tx.from_address} -> {tx.to_address}  "
                f"{tx.reference}  {tx.mined_hash or latest.tx_hash}"
            )

    def _one(self, tx):
        for label, value in (
            ("transaction", f"{tx.pk} {tx.purpose} {tx.reference} ({tx.idempotency_key})"),
            ("chain", tx.chain),
            ("state", tx.state + (f": {tx.error}" if tx.error else "")),
            ("from", f"{tx.from_address} nonce {tx.nonce} signed by {tx.signer}"),
            ("to", f"{tx.to_address} value {tx.value_wei} wei, gas limit {tx.gas_limit}"),
            ("mined", f"{tx.mined_hash} in #{tx.block_number}" if tx.mined_hash else "-"),
            ("fee", f"{tx.fee_wei} wei ({tx.gas_used} gas)" if tx.fee_wei else "-"),
            ("depth", f"{tx.confirmations_required} confirmations required"),
        ):
            self.stdout.write(f"{label:>12}: {value}")
        for attempt in sorted(tx.attempts.all(), key=lambda a: a.pk):
            price = (
                f"gasPrice {attempt.gas_price_wei}"
                if attempt.gas_price_wei is not None
                else f"maxFee {attempt.max_fee_per_gas_wei} tip {attempt.max_priority_fee_wei}"
            )
            error = f" refused: {attempt.broadcast_error}" if attempt.broadcast_error else ""
            self.stdout.write(
                f"{'attempt':>12}: {attempt.tx_hash} {price} [{attempt_status(tx, attempt)}]{error}"
            )
