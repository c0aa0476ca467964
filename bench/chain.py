"""Money in from the chain: the block watcher, deposit credits and reconciliation on a
private anvil (figures, not a test).

    DEBUG=1 .venv/bin/python bench/chain.py [--quick] [--database-url postgres://...]

On its own anvil (automine off: the bench mines), with MockUSDT (18 decimals) and N
deposit addresses (10,000; 2,000 with --quick), it measures in one run:

1. catch-up: the watcher (wallets.chain.watcher.Watcher.tick, as `chain_watch` runs it)
   over E empty blocks from a cursor behind the head: blocks/s;
2. deposits: one mint (an ERC-20 Transfer) to each address, 100 per block, then the
   watcher from the cursor until every deposit is CONFIRMED (recorded SEEN, then credited:
   CUSTODY -> the user's AVAILABLE): deposits credited/s, with where the watcher's time
   went (its per-tick timings: headers, logs, record, credit);
3. latency: the watcher running (Watcher.run, Chain.poll_interval_ms 50) while blocks are
   mined every 250 ms with deposits in them: p50/p95 from the moment the confirming block
   (depth = Chain.confirmations) was mined to the deposit's credit (Deposit.confirmed_at);
4. gas per sweep: wallets.chain.sweeps on a few HD-derived deposit addresses (the
   development mnemonic sealed in a temporary seed file): the gas top-up and the ERC-20
   transfer, gasUsed of each;
5. reconciliation (wallets.chain.reconcile.reconcile_run) over all the addresses;
6. the ceiling, against the same anvil: raw eth_getLogs (the watcher's query: the token's
   Transfer logs over a 100-block range holding 10,000 logs, and over an empty range) and
   eth_getBlockByNumber (one call; and JSON-RPC batches of 100 as the watcher sends)
   calls/s over keep-alive HTTP.

Last line: one JSON object with every figure. Targets (issue 13): 200 blocks/s catch-up,
1,000 deposits/s credited, p95 under 1 s from confirmation to credit.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ANVIL = ROOT / "node_modules" / ".bin" / "anvil"
ARTIFACTS = ROOT / "build" / "contracts"
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
DEV_MNEMONIC = "test test test test test test test test test test test junk"
TOKEN = 10**18
PER_BLOCK = 100
CONFIRMATIONS = 3


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a run under one minute")
    parser.add_argument("--addresses", type=int, default=10_000, help="deposit addresses")
    parser.add_argument("--empty-blocks", type=int, default=5_000, help="catch-up blocks")
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--sweeps", type=int, default=3)
    parser.add_argument("--ceiling-seconds", type=float, default=3.0)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", ""),
        help="the platform's database (default: SQLite in a temporary directory)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the deposit phase")
    parser.add_argument(
        "--inline-dispatch",
        action="store_true",
        help="dispatch outbox events in the watcher's thread after each commit (the embedded "
        "default without a broker); by default a worker's job, timed on its own",
    )
    args = parser.parse_args()
    if args.quick:
        args.addresses = min(args.addresses, 500)
        args.empty_blocks = min(args.empty_blocks, 500)
        args.latency_samples = min(args.latency_samples, 20)
        args.sweeps = min(args.sweeps, 1)
        args.ceiling_seconds = min(args.ceiling_seconds, 1.0)
    return args


# ---------------------------------------------------------------------- anvil


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_anvil():
    from web3 import Web3

    if not ANVIL.exists() or not (ARTIFACTS / "MockUSDT.json").exists():
        raise SystemExit("needs anvil and build/contracts: run `make node_modules contracts`")
    port = free_port()
    proc = subprocess.Popen(
        [
            str(ANVIL),
            *("--host", "127.0.0.1", "--port", str(port), "--silent"),
            *("--hardfork", "cancun", "--gas-limit", "300000000", "--base-fee", "0"),
            "--no-mining",
        ],
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
    try:
        for _ in range(200):
            with contextlib.suppress(Exception):
                if w3.eth.chain_id:
                    break
            time.sleep(0.05)
        yield w3, url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


class Rpc:
    """Raw JSON-RPC over one keep-alive HTTP connection (the bench's own driver)."""

    def __init__(self, url: str):
        import httpx

        self.url = url
        self.client = httpx.Client(timeout=120)

    def call(self, method: str, params: list):
        answer = self.client.post(
            self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        ).json()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def batch(self, calls: list[tuple[str, list]]) -> list:
        body = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)
        ]
        answers = self.client.post(self.url, json=body).json()
        errors = [a["error"] for a in answers if "error" in a]
        if errors:
            raise RuntimeError(f"batch: {errors[0]}")
        return [a["result"] for a in sorted(answers, key=lambda a: a["id"])]

    def mine(self, n: int = 1) -> None:
        self.call("anvil_mine", [hex(n)])

    def head(self) -> int:
        return int(self.call("eth_blockNumber", []), 16)


def deploy(w3, name: str):
    art = json.loads((ARTIFACTS / f"{name}.json").read_text())
    contract = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    tx = contract.constructor().transact({"from": w3.eth.accounts[0]})
    w3.provider.make_request("anvil_mine", ["0x1"])
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    return w3.eth.contract(address=receipt.contractAddress, abi=art["abi"])


def mints_send(rpc: Rpc, token, minter: str, addresses: list[str], amounts: list[int]) -> None:
    """eth_sendTransaction mint(to, amount) from the unlocked minter, one batch."""
    calls = []
    for to, amount in zip(addresses, amounts, strict=True):
        data = token.functions.mint(to, amount)._encode_transaction_data()
        calls.append(
            (
                "eth_sendTransaction",
                [{"from": minter, "to": token.address, "data": data, "gas": hex(90_000)}],
            )
        )
    rpc.batch(calls)


# ---------------------------------------------------------------------- platform


def sqlite_template() -> Path:
    """A migrated SQLite database kept in the temp directory per migration set: a fresh
    migrate costs ~20 CPU-seconds, more than --quick's whole budget."""
    import hashlib
    import shutil

    names = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("*/migrations/0*.py"))
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"fastpay-bench-chain-{digest}.sqlite3"
    if not path.exists():
        scratch = path.with_suffix(".partial")
        env = dict(os.environ, DATABASE_URL=f"sqlite:///{scratch}", DEBUG="1")
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], env=env, check=True
        )
        shutil.move(scratch, path)
    return path


def django_setup(database_url: str, tmp: Path, inline_dispatch: bool) -> None:
    import shutil

    os.environ.setdefault("DEBUG", "1")
    if not database_url:
        shutil.copy(sqlite_template(), tmp / "platform.sqlite3")
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{tmp}/platform.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fastpay.settings")
    import django

    django.setup()
    import logging

    from django.core.management import call_command

    if database_url:
        call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0)
    for name in ("wallets.chain.watcher", "wallets.chain.reconcile", "celery", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if not inline_dispatch:
        from fastpay import events

        events._callbacks.clear()  # as with a broker: a worker dispatches (timed apart)


def platform_setup(url: str, chain_id: int, usdt, n: int):
    from eth_utils import to_checksum_address

    from wallets.chain.models import Chain, DepositAddress, HDAccount, TokenPolicy, WatcherCursor
    from wallets.models import Token, User, UserStatus

    chain = Chain.objects.create(
        chain_id=chain_id,
        name="bench-anvil",
        rpc_urls=[url],
        confirmations=CONFIRMATIONS,
        block_window=256,
        max_log_range=5000,
        poll_interval_ms=50,
    )
    # update_or_create: a flushed database (--database-url) lost the seeded rows
    token, _ = Token.objects.update_or_create(
        symbol="USDT",
        defaults={
            "name": "Tether USD",
            "chain_id": chain_id,
            "contract_address": usdt.address,
            "decimals": 18,
            "ledger_decimals": 6,
            "enabled": True,
        },
    )
    Token.objects.exclude(pk=token.pk).update(enabled=False)
    token.refresh_from_db()
    TokenPolicy.objects.get_or_create(token=token)
    account = HDAccount.objects.create(
        name="bench", account_index=77, xpub="xpub-bench-placeholder", seed_fingerprint="bench"
    )
    users = User.objects.bulk_create(
        [User(username=f"bench{i}", status=UserStatus.APPROVED) for i in range(n)],
        batch_size=2000,
    )
    rows = DepositAddress.objects.bulk_create(
        [
            DepositAddress(
                chain=chain,
                account=account,
                index=i,
                address=to_checksum_address(os.urandom(20)),
                user=user,
            )
            for i, user in enumerate(users)
        ],
        batch_size=2000,
    )
    head = usdt.w3.eth.get_block("latest")
    WatcherCursor.objects.create(
        chain=chain,
        block_number=head.number,
        block_hash=head.hash.to_0x_hex(),
        head_number=head.number,
    )
    return chain, token, [r.address for r in rows]


def watch_until(watcher, done, timeout: float = 3600.0) -> tuple[float, dict, int]:
    """Tick until ``done()``; (seconds, summed timings, ticks)."""
    timings: dict[str, float] = {}
    ticks = 0
    started, cpu = time.perf_counter(), time.process_time()
    while not done():
        result = watcher.tick()
        ticks += 1
        for key, value in (result.timings or {}).items():
            timings[key] = timings.get(key, 0.0) + value
        if result.state in ("error", "rpc_error", "stalled"):
            raise SystemExit(f"watcher: {result.state} {result.detail}")
        if time.perf_counter() - started > timeout:
            raise SystemExit("watcher: timed out")
    timings["cpu"] = time.process_time() - cpu
    return time.perf_counter() - started, timings, ticks


# ---------------------------------------------------------------------- phases


def phase_catch_up(rpc: Rpc, chain, blocks: int) -> dict:
    from wallets.chain.models import WatcherCursor
    from wallets.chain.watcher import Watcher

    first = rpc.head() + 1
    rpc.mine(blocks)
    target = rpc.head()
    watcher = Watcher(chain, owner="bench")
    seconds, timings, ticks = watch_until(
        watcher, lambda: WatcherCursor.objects.get(chain=chain).block_number >= target
    )
    watcher.lease_release()
    figures = {
        "blocks": blocks,
        "range": [first, target],
        "seconds": round(seconds, 3),
        "blocks_per_s": round(blocks / seconds, 1),
        "blocks_per_cpu_s": round(blocks / max(timings["cpu"], 1e-9), 1),
        "ticks": ticks,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }
    print(
        f"catch-up: {blocks} empty blocks in {seconds:.2f} s = {figures['blocks_per_s']} blocks/s"
    )
    return figures


def phase_deposits(rpc: Rpc, w3, chain, usdt, addresses: list[str], profile: bool) -> dict:
    from wallets.chain.models import Deposit, DepositState
    from wallets.chain.watcher import Watcher

    minter = w3.eth.accounts[0]
    started = time.perf_counter()
    first = rpc.head() + 1
    for start in range(0, len(addresses), PER_BLOCK):
        chunk = addresses[start : start + PER_BLOCK]
        mints_send(rpc, usdt, minter, chunk, [(5 + i % 7) * TOKEN for i in range(len(chunk))])
        rpc.mine(1)
    last = rpc.head()
    rpc.mine(CONFIRMATIONS)
    sent = time.perf_counter() - started
    logs = len(
        rpc.call(
            "eth_getLogs",
            [
                {
                    "fromBlock": hex(first),
                    "toBlock": hex(last),
                    "address": usdt.address,
                    "topics": [TRANSFER_TOPIC],
                }
            ],
        )
    )
    assert logs == len(addresses), (logs, len(addresses))
    print(f"deposits: {len(addresses)} mints in {last - first + 1} blocks sent in {sent:.1f} s")

    n = len(addresses)
    watcher = Watcher(chain, owner="bench")
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    seconds, timings, ticks = watch_until(
        watcher,
        lambda: Deposit.objects.filter(chain=chain, state=DepositState.CONFIRMED).count() >= n,
    )
    if profiler:
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
        stats.print_stats(r"wallets/|fastpay/|django/db/models/query.py", 30)
        print(out.getvalue())
    watcher.lease_release()
    from notifications.dispatch import outbox_dispatch_all

    dispatch_started = time.perf_counter()
    outbox_dispatch_all()
    dispatch_s = time.perf_counter() - dispatch_started
    figures = {
        "dispatch_s": round(dispatch_s, 3),
        "deposits": n,
        "blocks": last - first + 1 + CONFIRMATIONS,
        "seconds": round(seconds, 3),
        "credited_per_s": round(n / seconds, 1),
        "credited_per_cpu_s": round(n / max(timings["cpu"], 1e-9), 1),
        "ticks": ticks,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }
    print(
        f"deposits: {n} recorded and credited in {seconds:.2f} s = "
        f"{figures['credited_per_s']} deposits/s, {figures['credited_per_cpu_s']} per CPU-second "
        f"({ticks} ticks; {figures['timings_s']}); "
        f"their {2 * n} outbox events dispatched in {dispatch_s:.2f} s apart"
    )
    return figures


def phase_latency(rpc: Rpc, w3, chain, usdt, addresses: list[str], samples: int) -> dict:
    from django.db import connection

    from wallets.chain.models import Deposit, DepositState
    from wallets.chain.watcher import Watcher

    per_block = 5
    targets = addresses[:samples]
    stop = threading.Event()

    def run():
        try:
            Watcher(chain, owner="bench-live").run(stop=stop)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    mined_at: dict[int, float] = {}
    block_of: dict[str, int] = {}
    minter = w3.eth.accounts[0]
    pending = list(targets)
    deadline = time.time() + 120
    from django.utils import timezone

    since = timezone.now()
    while time.time() < deadline:
        chunk = []
        if pending:
            chunk, pending = pending[:per_block], pending[per_block:]
            mints_send(rpc, usdt, minter, chunk, [TOKEN] * len(chunk))
        rpc.mine(1)
        number = rpc.head()
        mined_at[number] = time.time()
        for address in chunk:
            block_of.setdefault(address, number)
        credited = Deposit.objects.filter(
            chain=chain, state=DepositState.CONFIRMED, seen_at__gte=since
        ).count()
        if not pending and credited >= len(targets):
            break
        time.sleep(0.25)
    stop.set()
    thread.join(timeout=30)
    rows = Deposit.objects.filter(chain=chain, seen_at__gte=since, state=DepositState.CONFIRMED)
    latencies = []
    for block_number, confirmed_at in rows.values_list("block_number", "confirmed_at"):
        confirming = block_number + CONFIRMATIONS - 1
        if confirming in mined_at:
            latencies.append(confirmed_at.timestamp() - mined_at[confirming])
    latencies.sort()
    if len(latencies) < 2:
        return {"samples": len(latencies)}
    q = statistics.quantiles(latencies, n=100)
    figures = {
        "samples": len(latencies),
        "block_interval_s": 0.25,
        "p50_s": round(statistics.median(latencies), 3),
        "p95_s": round(q[94], 3),
        "max_s": round(latencies[-1], 3),
    }
    print(
        f"latency (confirming block mined -> credited), {len(latencies)} deposits: "
        f"p50 {figures['p50_s']} s, p95 {figures['p95_s']} s, max {figures['max_s']} s"
    )
    return figures


def phase_sweeps(rpc: Rpc, w3, chain, tmp: Path, n: int) -> dict:
    """Sweeps of ``n`` HD-derived deposit addresses through wallets.chain.sweeps and the
    sender (automine on for this phase: each transaction mined as sent), in MockUSDC (6
    decimals): the only token with a sweep threshold, so the bench's other addresses
    (random, not derived from the seed) are not candidates."""
    from django.conf import settings

    from fastpay import keyvault
    from wallets.chain import hd
    from wallets.chain.models import (
        AddressRole,
        DepositAddress,
        HDAccount,
        PlatformAddress,
        Sweep,
        SweepState,
        TokenPolicy,
    )
    from wallets.chain.sender import tx_follow
    from wallets.chain.sweeps import sweeps_run
    from wallets.chain.watcher import Watcher
    from wallets.models import Token, User, UserStatus

    usdc = deploy(w3, "MockUSDC")
    token, _ = Token.objects.update_or_create(
        symbol="USDC",
        defaults={
            "name": "USD Coin",
            "chain_id": chain.chain_id,
            "contract_address": usdc.address,
            "decimals": 6,
            "ledger_decimals": 6,
            "enabled": True,
        },
    )
    token.refresh_from_db()
    TokenPolicy.objects.get_or_create(token=token)
    settings.FASTPAY_KEK = keyvault.new_kek_text()
    settings.FASTPAY_HD_SEED_FILE = str(tmp / "hd-seed.json")
    seed = hd.seed_from_mnemonic(DEV_MNEMONIC)
    hd.seed_seal(seed)
    accounts = {}
    for name, index in (("deposits", 0), ("operations", 1)):
        accounts[name] = HDAccount.objects.create(
            name=name,
            account_index=index,
            xpub=hd.account_xpub(seed, index),
            seed_fingerprint=hd.seed_fingerprint(seed),
        )
    for role, index in ((AddressRole.HOT, 0), (AddressRole.GAS_STATION, 1)):
        PlatformAddress.objects.create(
            chain=chain,
            role=role,
            address=hd.address_at(accounts["operations"].xpub, index),
            account=accounts["operations"],
            index=index,
        )
    station = PlatformAddress.objects.get(chain=chain, role=AddressRole.GAS_STATION).address
    rpc.call("anvil_setBalance", [station, hex(10**20)])
    TokenPolicy.objects.filter(token=token).update(sweep_threshold_units=1_000_000)
    rows = []
    for i in range(n):
        user = User.objects.create(username=f"sweeper{i}", status=UserStatus.APPROVED)
        address = hd.address_at(accounts["deposits"].xpub, 1000 + i)
        rows.append(
            DepositAddress.objects.create(
                chain=chain,
                account=accounts["deposits"],
                index=1000 + i,
                address=address,
                user=user,
            )
        )
    mints_send(rpc, usdc, w3.eth.accounts[0], [r.address for r in rows], [50 * 10**6] * n)
    rpc.mine(1 + CONFIRMATIONS)
    watcher = Watcher(chain, owner="bench")
    while watcher.tick().state != "idle":
        pass
    watcher.lease_release()
    rpc.call("evm_setAutomine", [True])
    started = time.perf_counter()
    sweeps_run(chain)
    for _ in range(60):
        rpc.mine(1)
        tx_follow(chain)
        sweeps_run(chain)
        if not Sweep.objects.exclude(state__in=(SweepState.DONE, SweepState.FAILED)).exists():
            break
    seconds = time.perf_counter() - started
    rpc.call("evm_setAutomine", [False])
    done = list(Sweep.objects.filter(state=SweepState.DONE).select_related("topup", "transfer"))
    failed = Sweep.objects.filter(state=SweepState.FAILED).count()
    if not done:
        return {"sweeps": 0, "failed": failed}
    topup = [s.topup.gas_used for s in done if s.topup_id]
    transfer = [s.transfer.gas_used for s in done]
    figures = {
        "sweeps": len(done),
        "failed": failed,
        "gas_topup": round(statistics.mean(topup)) if topup else 0,
        "gas_transfer": round(statistics.mean(transfer)),
        "gas_per_sweep": round(statistics.mean(topup or [0]) + statistics.mean(transfer)),
        "seconds": round(seconds, 2),
    }
    print(
        f"sweeps: {len(done)} done ({failed} failed): gas top-up {figures['gas_topup']} + "
        f"transfer {figures['gas_transfer']} = {figures['gas_per_sweep']} per sweep"
    )
    return figures


def phase_reconcile(chain) -> dict:
    from wallets.chain.reconcile import reconcile_run

    started = time.perf_counter()
    run = reconcile_run(chain=chain)
    seconds = time.perf_counter() - started
    lines = run.lines.count()
    print(f"reconcile: {run.state} at block {run.block_number} in {seconds:.2f} s ({lines} lines)")
    return {"state": run.state, "seconds": round(seconds, 3), "lines": lines, "error": run.error}


def phase_ceiling(rpc: Rpc, usdt, deposit_blocks, empty_blocks, seconds: float) -> dict:
    first, last = deposit_blocks
    head = rpc.head()
    logs_query = {
        "fromBlock": hex(first),
        "toBlock": hex(min(last, first + 99)),
        "address": [usdt.address],
        "topics": [TRANSFER_TOPIC],
    }
    empty_query = {
        "fromBlock": hex(empty_blocks[0]),
        "toBlock": hex(min(empty_blocks[1], empty_blocks[0] + 99)),
        "address": [usdt.address],
        "topics": [TRANSFER_TOPIC],
    }
    n_logs = len(rpc.call("eth_getLogs", [logs_query]))

    def rate(fn) -> float:
        calls, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            fn()
            calls += 1
        return calls / (time.perf_counter() - started)

    figures = {
        "get_logs_full_per_s": round(rate(lambda: rpc.call("eth_getLogs", [logs_query])), 1),
        "get_logs_full_logs": n_logs,
        "get_logs_empty_per_s": round(rate(lambda: rpc.call("eth_getLogs", [empty_query])), 1),
        "get_block_per_s": round(
            rate(lambda: rpc.call("eth_getBlockByNumber", [hex(head - 5), False])), 1
        ),
    }
    batch = [("eth_getBlockByNumber", [hex(n), False]) for n in range(max(1, head - 99), head + 1)]
    figures["get_block_batch100_per_s"] = round(rate(lambda: rpc.batch(batch)), 1)
    figures["headers_per_s_batched"] = round(figures["get_block_batch100_per_s"] * len(batch), 1)
    print(
        f"ceiling: eth_getLogs {figures['get_logs_full_per_s']}/s ({n_logs} logs each), "
        f"{figures['get_logs_empty_per_s']}/s (empty 100-block range); eth_getBlockByNumber "
        f"{figures['get_block_per_s']}/s single, {figures['headers_per_s_batched']} headers/s "
        "in batches of 100"
    )
    return figures


def main() -> None:
    args = parse_args()
    figures: dict = {"addresses": args.addresses, "quick": args.quick}
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, running_anvil() as (w3, url):
        tmp = Path(tmp)
        django_setup(args.database_url, tmp, args.inline_dispatch)
        from django.db import connection

        figures["database"] = connection.vendor
        rpc = Rpc(url)
        usdt = deploy(w3, "MockUSDT")
        chain, _token, addresses = platform_setup(url, w3.eth.chain_id, usdt, args.addresses)
        print(f"anvil {url}, {len(addresses)} deposit addresses, database {connection.vendor}")
        figures["catch_up"] = phase_catch_up(rpc, chain, args.empty_blocks)
        first = rpc.head() + 1
        figures["deposits"] = phase_deposits(rpc, w3, chain, usdt, addresses, args.profile)
        deposit_blocks = (first, first + (len(addresses) - 1) // PER_BLOCK)
        figures["latency"] = phase_latency(rpc, w3, chain, usdt, addresses, args.latency_samples)
        try:
            figures["sweep"] = phase_sweeps(rpc, w3, chain, tmp, args.sweeps)
        except Exception as exc:  # the other figures still print
            figures["sweep"] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"sweeps: failed: {exc}")
        rpc.mine(CONFIRMATIONS)
        from wallets.chain.watcher import Watcher

        watcher = Watcher(chain, owner="bench")
        while watcher.tick().state != "idle":
            pass
        watcher.lease_release()
        figures["reconcile"] = phase_reconcile(chain)
        figures["ceiling"] = phase_ceiling(
            rpc, usdt, deposit_blocks, figures["catch_up"]["range"], args.ceiling_seconds
        )
    figures["targets"] = {
        "catch_up_blocks_per_s": 200,
        "credited_per_s": 1000,
        "p95_s_max": 1.0,
        "catch_up_ok": figures["catch_up"]["blocks_per_s"] >= 200,
        "credited_ok": figures["deposits"]["credited_per_s"] >= 1000,
        "p95_ok": figures["latency"].get("p95_s", 99) < 1.0,
    }
    figures["wall_s"] = round(time.perf_counter() - wall, 1)
    print(json.dumps(figures, separators=(",", ":")))


if __name__ == "__main__":
    main()
