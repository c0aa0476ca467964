"""Gas per settled payment on FastPay's two settlement paths (figures, not a test).

    python bench/gas.py [--quick]

Prints a table of gas per settled payment for batch sizes 1, 10 and 100 (more without
--quick), committees 3-of-4 and 5-of-7, steady-state and cold workloads, for both paths:

- per-certificate: OfflinePaymentProcessor.submitBatch, each certificate with its own
  quorum of votes (ecrecover per vote per payment);
- committee batch: submitCommitteeBatch, one committee quorum over the whole batch.

Every payment is a redemption (the only kind that settles on-chain): a certificate whose
recipient is the processor's address, settled to the sender's own vault balance.

plus a plain ERC-20 `transfer` as the anchor; the LAST line is one JSON object with every
figure. Gas per payment = the whole transaction's gasUsed (21,000 base and calldata
included) / batch size. Steady state: every sender has redeemed before (its bitmap word is
set and it already holds a vault balance); cold: every sender is new (both slots fresh).

Runs under Brownie (.venv-brownie) against a private anvil (tools/contracts/with-anvil.sh).
Started with any other Python (e.g. `make bench` uses .venv), it builds what it needs with
`make brownie-venv solc-shim` and re-executes itself there.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BROWNIE_PYTHON = ROOT / ".venv-brownie" / "bin" / "python"
TARGET_GAS_PER_PAYMENT = 20_000


def _reexec_under_brownie() -> None:
    """Re-run this script with .venv-brownie's Python inside a private anvil."""
    subprocess.run(["make", "-s", "-C", str(ROOT), "brownie-venv", "solc-shim"], check=True)
    env = dict(os.environ, FASTPAY_BENCH_CHILD="1")
    argv = [
        str(ROOT / "tools/contracts/with-anvil.sh"),
        str(BROWNIE_PYTHON),
        __file__,
        *sys.argv[1:],
    ]
    os.execve(argv[0], argv, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch sizes 1, 10, 100 only")
    args = parser.parse_args()

    try:
        import brownie
    except ImportError:
        brownie = None
    if brownie is None or "FASTPAY_ANVIL_PORT" not in os.environ:
        if os.environ.get("FASTPAY_BENCH_CHILD"):
            raise SystemExit("bench/gas.py: Brownie or the private anvil is missing")
        _reexec_under_brownie()

    with contextlib.redirect_stdout(io.StringIO()):  # Brownie narrates every transaction
        results, anchor = run(batch_sizes=[1, 10, 100] if args.quick else [1, 10, 50, 100, 200])
    print_table(results, anchor)
    steady = next(
        r["gas_per_payment"]
        for r in results
        if (r["path"], r["committee"], r["workload"], r["batch_size"])
        == ("committee_batch", "3-of-4", "steady", 100)
    )
    summary = {
        "erc20_transfer": anchor,
        "results": results,
        "target": {
            "gas_per_payment_max": TARGET_GAS_PER_PAYMENT,
            "committee_batch_3_of_4_steady_100": steady,
            "met": steady <= TARGET_GAS_PER_PAYMENT and 2 * steady < anchor["warm"],
        },
    }
    print(json.dumps(summary, sort_keys=True))


# ---------------------------------------------------------------------------- under Brownie


class Deployment:
    """A fresh FastPay with one listed token, a funded pool and a committee of ``size``."""

    def __init__(self, p, admin, settler, authorities, size, quorum):
        from brownie import chain

        from fastpay_protocol import typed_data as td
        from scripts.deploy import deploy_fastpay, list_tokens, register_committee

        self.td, self.settler = td, settler
        self.system = deploy_fastpay(admin, settler=settler)
        self.token = p.MockUSDT.deploy({"from": admin})
        list_tokens(self.system, admin, [self.token])
        register_committee(self.system, admin, [(a.address, 10**18) for a in authorities[:size]])
        self.keys = [a.key for a in authorities[:quorum]]
        self.domain = td.Domain(chain_id=chain.id, verifying_contract=self.system.verifier.address)
        self.token.mint(admin, 10**30, {"from": admin})
        self.token.approve(self.system.vault, 2**256 - 1, {"from": admin})
        self.system.registry.registerUser({"from": admin})
        self.system.registry.depositTokens(self.token, 10**27, {"from": admin})
        self.next_batch_id = 0

    def committee_batch(self, senders, sequence):
        td = self.td
        words = td.pack_batch_items(td.BatchItem.redemption(s, sequence, 0, 10**6) for s in senders)
        batch_id, self.next_batch_id = self.next_batch_id, self.next_batch_id + 1
        processor = self.system.processor
        signatures = td.sign_committee_batch(
            self.domain,
            1,
            batch_id,
            words,
            self.keys,
            processor=processor.address,
            vault=self.system.vault.address,
        )
        method = self.system.processor.submitCommitteeBatch
        return self._settle(len(senders), method, 1, batch_id, words, signatures)

    def certificate_batch(self, senders, sequence):
        td = self.td
        redemption = self.system.processor.address
        orders = [
            td.TransferOrder(s, redemption, self.token.address, 10**6, sequence, 1) for s in senders
        ]
        sigs = [td.sign_certificate(self.domain, o, self.keys) for o in orders]
        method = self.system.processor.submitBatch
        return self._settle(len(senders), method, [o.as_tuple() for o in orders], sigs)

    def _settle(self, expected, method, *args):
        tx = method(*args, {"from": self.settler})
        settled = len(tx.events["PaymentSettled"]) if "PaymentSettled" in tx.events else 0
        if settled != expected:
            raise SystemExit(f"bench batch settled {settled} of {expected} payments")
        return tx.gas_used


def run(batch_sizes):
    from brownie import accounts, network, project
    from brownie._config import CONFIG

    sys.path.insert(0, str(ROOT))
    warnings.filterwarnings("ignore", category=FutureWarning)  # brownie's own rpc.* notices
    CONFIG.argv["silent"] = True
    loaded = project.get_loaded_projects()
    p = loaded[0] if loaded else project.load(ROOT, name="FastPayBench")
    p._add_to_main_namespace()  # `from brownie import TokenVault` (scripts/deploy.py)
    if not network.is_connected():
        network.connect("development")
    from eth_account import Account
    from eth_utils import keccak

    from scripts.anvil_receipts import install as wait_for_receipts

    wait_for_receipts()
    admin, settler = accounts[0], accounts[1]
    authorities = [Account.from_key(keccak(text=f"fastpay-bench-authority-{i}")) for i in range(7)]
    counter = iter(range(10**9))

    def fresh_address():
        return Account.from_key(keccak(text=f"fastpay-bench-user-{next(counter)}")).address

    results = []
    for size, quorum in ((4, 3), (7, 5)):
        bench = Deployment(p, admin, settler, authorities, size, quorum)
        for path, settle in (
            ("per_certificate", bench.certificate_batch),
            ("committee_batch", bench.committee_batch),
        ):
            for n in batch_sizes:
                for workload in ("steady", "cold"):
                    senders = [fresh_address() for _ in range(n)]
                    sequence = 0
                    if workload == "steady":
                        bench.committee_batch(senders, 0)  # each sender redeems once before
                        sequence = 1
                    gas = settle(senders, sequence)
                    results.append(
                        {
                            "path": path,
                            "committee": f"{quorum}-of-{size}",
                            "workload": workload,
                            "batch_size": n,
                            "tx_gas": gas,
                            "gas_per_payment": gas // n,
                        }
                    )

    token = p.MockUSDT.deploy({"from": admin})
    token.mint(admin, 10**24, {"from": admin})
    warm_to = fresh_address()
    token.transfer(warm_to, 1, {"from": admin})
    anchor = {
        "warm": token.transfer(warm_to, 10**18, {"from": admin}).gas_used,
        "cold": token.transfer(fresh_address(), 10**18, {"from": admin}).gas_used,
    }
    return results, anchor


def print_table(results, anchor) -> None:
    header = ("path", "committee", "workload", "batch", "gas/payment", "tx gas")
    print("{:<16} {:<9} {:<8} {:>5} {:>12} {:>11}".format(*header))
    for r in results:
        print(
            f"{r['path']:<16} {r['committee']:<9} {r['workload']:<8} {r['batch_size']:>5} "
            f"{r['gas_per_payment']:>12,} {r['tx_gas']:>11,}"
        )
    print(
        f"plain ERC-20 transfer: {anchor['warm']:,} gas (recipient already holds tokens), "
        f"{anchor['cold']:,} gas (new recipient)"
    )


if __name__ == "__main__":
    main()
