"""The cold Safe of a chain (docs/treasury.md).

  manage.py treasury_safe show [--chain-id N]
  manage.py treasury_safe set ADDRESS [--chain-id N]     production: an existing Safe
  manage.py treasury_safe deploy-dev [--chain-id N] [--owner-accounts 2,3,4] [--threshold 2]

``set`` reads the address's VERSION, owners and threshold first (refused when it does not
answer as a Safe). ``deploy-dev`` is for a local anvil only (it needs the node's unlocked
accounts): it deploys the audited Safe 1.4.1 singleton, proxy factory and fallback handler
from @safe-global/safe-contracts and a Safe owned by the node's accounts (default #2, #3,
#4, 2 of 3), and records it; a chain that already has a cold Safe with code is left as it
is. Without the Chain row (tokens_use_deployment not run) it says so and does nothing.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from web3 import Web3

from settlement.treasury import safe as safelib
from settlement.treasury import services
from settlement.treasury.models import HotWalletThreshold, SafeTransaction
from wallets.chain.models import Chain
from wallets.chain.rpc import RpcError, rpc_for

DEV_CHAIN_IDS = {31337, 1337}


class Command(BaseCommand):
    help = "Show, set (production) or deploy (local anvil) the chain's cold Safe."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["show", "set", "deploy-dev"])
        parser.add_argument("address", nargs="?")
        parser.add_argument("--chain-id", type=int)
        parser.add_argument("--owner-accounts", default="2,3,4")
        parser.add_argument("--threshold", type=int, default=2)

    def _chain(self, chain_id):
        chains = Chain.objects.filter(enabled=True)
        if chain_id is not None:
            chains = chains.filter(chain_id=chain_id)
        rows = list(chains)
        if len(rows) != 1:
            return None
        return rows[0]

    def handle(self, *args, action, address, chain_id, owner_accounts, threshold, **options):
        chain = self._chain(chain_id)
        if action == "deploy-dev":
            return self._deploy_dev(chain, owner_accounts, threshold)
        if chain is None:
            raise CommandError("name the chain: --chain-id (one enabled Chain row)")
        if action == "set":
            return self._set(chain, address)
        return self._show(chain)

    def _set(self, chain, address):
        if not address or not Web3.is_address(address):
            raise CommandError("give the Safe's address (0x + 40 hex digits)")
        rpc = rpc_for(chain)
        try:
            version = safelib.safe_version(rpc, address)
            state = safelib.safe_state(rpc, address)
        except (RpcError, Exception) as exc:
            raise CommandError(f"{address} does not answer as a Safe: {exc}") from None
        row = services.cold_set(chain, address)
        self.stdout.write(
            f"cold Safe of chain {chain.chain_id}: {row.address} (Safe {version}, "
            f"{state.threshold} of {len(state.owners)}: {', '.join(state.owners)})"
        )

    def _show(self, chain):
        safe = services.cold_of(chain)
        if safe is None:
            self.stdout.write(f"chain {chain.chain_id}: no cold Safe")
        else:
            try:
                state = safelib.safe_state(rpc_for(chain), safe)
                self.stdout.write(
                    f"cold Safe {safe}: {state.threshold} of {len(state.owners)} "
                    f"({', '.join(state.owners)}), nonce {state.nonce}"
                )
            except RpcError as exc:
                self.stdout.write(f"cold Safe {safe}: unreadable now ({exc})")
        for t in HotWalletThreshold.objects.select_related("token"):
            self.stdout.write(
                f"  {t.token.symbol}: level {t.level_units} (min {t.min_units}, "
                f"target {t.target_units}, max {t.max_units}) at {t.level_at}"
            )
        for row in SafeTransaction.objects.filter(chain=chain).order_by("-nonce")[:20]:
            self.stdout.write(
                f"  #{row.nonce} {row.kind} {row.state} {row.signatures.count()}/{row.threshold}"
                f" {row.safe_tx_hash}"
            )

    def _deploy_dev(self, chain, owner_accounts, threshold):
        if chain is None:
            self.stdout.write("treasury_safe deploy-dev: no Chain row yet (tokens_use_deployment)")
            return
        if chain.chain_id not in DEV_CHAIN_IDS:
            raise CommandError(f"deploy-dev is for a local anvil, not chain {chain.chain_id}")
        url = (chain.rpc_urls or [settings.FASTPAY_CHAIN_RPC_URL])[0]
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
        existing = services.cold_of(chain)
        if existing and w3.eth.get_code(existing) not in (b"", None):
            self.stdout.write(f"cold Safe of chain {chain.chain_id}: {existing} (kept)")
            return
        accounts = w3.eth.accounts
        try:
            owners = [accounts[int(i)] for i in owner_accounts.split(",")]
        except (IndexError, ValueError):
            raise CommandError(
                f"--owner-accounts {owner_accounts}: not the node's accounts"
            ) from None
        address = safelib.safe_deploy(w3, deployer=accounts[0], owners=owners, threshold=threshold)
        services.cold_set(chain, address)
        self.stdout.write(
            f"cold Safe of chain {chain.chain_id}: {address} ({threshold} of {len(owners)}: "
            f"{', '.join(owners)})"
        )
