"""Offline vouchers: terminal verification rate, and upload-to-settled time for a vendor.

1. Offline verification on one core (one thread, no I/O): quorum of the voucher
   certificate (3 vote recoveries), the platform's ticket, the voucher key's spend (5
   secp256k1 recoveries and ~8 keccaks per payment), from the payment string. Then the
   terminal's ``accept`` (the same plus the ``already_seen`` check and a durable SQLite
   insert, WAL + synchronous=FULL: one fsync per payment).
2. Settlement: four local authority node processes (tests/authorities/nodes.py), the
   platform on a fresh database (SQLite file by default, or --database-url PostgreSQL),
   N vouchers already issued and registered (setup, not timed: certified in batches by the
   nodes, rows bulk-created with their tickets), each by its own payer (a platform user per
   payer key: the fraud hook sees a batch's earlier items of the same payer, so one user
   paying N times would rightly be held for bursts and daily limits). Timed: the vendor's
   N payments uploaded in batches of 1000 through the sync service (parse, re-verify,
   double-spend check, fraud hook, insert), then the settlement job (certify the spends,
   confirm them: batches of 1000 per node, request per node in parallel) until all are
   SETTLED.
   Celery runs eagerly, so settlement runs in this process after each upload commits.

    DEBUG=1 .venv/bin/python bench/offline.py [--quick] [--verify 20000] [--settle 10000]

Last line: one JSON object with every figure.
"""

import argparse
import contextlib
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

UNIT = 1_000_000


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a run under one minute")
    parser.add_argument("--verify", type=int, default=20_000, help="payments verified")
    parser.add_argument("--accept", type=int, default=2_000, help="payments accepted (fsync)")
    parser.add_argument("--settle", type=int, default=10_000, help="redemptions settled")
    parser.add_argument(
        "--risk",
        choices=["fraud", "allow_all"],
        default="fraud",
        help="the sync's fraud hook: the fraud app's rules, or none",
    )
    parser.add_argument(
        "--worker",
        choices=["thread", "eager"],
        default="thread",
        help="settlement in a worker thread while the next upload runs, or inline after it",
    )
    parser.add_argument("--database-url", default="", help="default: a temporary SQLite file")
    parser.add_argument("--profile", action="store_true", help="cProfile the timed settlement")
    args = parser.parse_args()
    if args.quick:
        args.verify, args.accept, args.settle = 3_000, 500, 2_000
    return args


# ------------------------------------------------------------------ part 1: verification


def offline_committee():
    from fastpay_protocol import signing
    from fastpay_protocol.messages import Committee, Member

    authorities = [signing.Signer(bytes([i + 1]) * 32) for i in range(4)]
    committee = Committee(
        epoch=1,
        chain_id=31337,
        verifying_contract="0x" + "00" * 19 + "f1",
        redemption_address="0x" + "00" * 19 + "f2",
        members=tuple(
            Member(f"a{i}", a.address, 10, f"http://127.0.0.1:{9000 + i}")
            for i, a in enumerate(authorities)
        ),
    )
    return committee, authorities


def make_payments(n: int, vendor: str):
    from fastpay_protocol import signing
    from fastpay_protocol import typed_data as td
    from fastpay_protocol.messages import Certificate, Vote
    from fastpay_protocol.voucher import Voucher, order_ticket_digest

    committee, authorities = offline_committee()
    issuer = signing.Signer(b"\x77" * 32)
    hasher = committee.hasher
    payer = signing.Signer(b"\x55" * 32)
    now = int(time.time())
    texts = []
    for i in range(n):
        key = os.urandom(32)
        order = td.TransferOrder(
            payer.address, signing.Signer(key).address, "0x" + "55" * 20, 5 * UNIT, i, 1
        )
        vote = hasher.vote_digest(order)
        votes = tuple(Vote(a.address, a.sign_digest(vote)) for a in authorities[:3])
        certificate = Certificate(order, payer.sign_digest(hasher.order_digest(order)), votes)
        ticket = issuer.sign_digest(
            order_ticket_digest(committee.domain, order, not_before=now - 60, not_after=now + 3600)
        )
        voucher = Voucher.create(
            certificate, key, not_before=now - 60, not_after=now + 3600, ticket=ticket
        )
        texts.append(voucher.pay(hasher, vendor=vendor, amount=2 * UNIT).to_text())
    return committee, issuer.address, texts


def bench_verify(n: int, n_accept: int) -> dict:
    from fastpay_protocol import signing
    from fastpay_protocol.pos import Terminal
    from fastpay_protocol.voucher import OfflineVerifier

    vendor = signing.Signer(b"\x42" * 32).address
    committee, issuer, texts = make_payments(n, vendor)
    verifier = OfflineVerifier(committee, issuer, vendor)
    now = time.time()
    latencies = []
    start = time.perf_counter()
    for text in texts:
        t0 = time.perf_counter()
        verifier.verify(text, now=now)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        terminal = Terminal.create(
            str(Path(tmp) / "pos.db"), vendor=vendor, issuer=issuer, committee=committee
        )
        start = time.perf_counter()
        for text in texts[:n_accept]:
            terminal.accept(text, now=now)
        accept_elapsed = time.perf_counter() - start
        terminal.close()
    latencies.sort()
    figures = {
        "verifications": n,
        "verify_per_s": round(n / elapsed),
        "verify_p50_ms": round(statistics.median(latencies) * 1000, 3),
        "verify_p99_ms": round(latencies[int(0.99 * (n - 1))] * 1000, 3),
        "accepted": n_accept,
        "accept_per_s": round(n_accept / accept_elapsed),
        "payment_chars": len(texts[0]),
    }
    print(
        f"offline verification, one core: {figures['verify_per_s']}/s "
        f"(p50 {figures['verify_p50_ms']} ms, p99 {figures['verify_p99_ms']} ms) over {n}; "
        f"accept with durable queue insert: {figures['accept_per_s']}/s over {n_accept}; "
        f"payment string {figures['payment_chars']} characters"
    )
    return figures


# ------------------------------------------------------------------ part 2: settlement


def group_cpu_s(groups: set[int]) -> float:
    """CPU seconds (user + system) used so far by every process in these process groups
    (each node runs in its own group: server, workers, deposit follower)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in groups:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def django_setup(database_url: str, tmp: Path, risk: str):
    os.environ.setdefault("DEBUG", "1")
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{tmp}/platform.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fastpay.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    settings.FASTPAY_OFFLINE_RISK_ASSESSOR = (
        "offline.risk.allow_all" if risk == "allow_all" else "offline.risk.fraud_assess"
    )
    import logging

    logging.getLogger("celery").setLevel(logging.WARNING)


def bench_settle(
    n: int, risk: str, database_url: str, profile: bool = False, worker: str = "thread"
) -> dict:
    from authorities.node.processes import local_committee
    from fastpay_protocol import signing

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        django_setup(database_url, tmp, risk)
        from wallets.models import Token

        token = Token.objects.get(symbol="USDT")
        payers = [signing.Signer((0xBE7C0000 + i).to_bytes(32, "big")) for i in range(n)]
        genesis = [(p.address, token.contract_address, 5 * UNIT) for p in payers]
        started = time.perf_counter()
        with local_committee(tmp / "nodes", genesis=genesis) as nodes:
            print(f"four nodes up with {n} funded payers in {time.perf_counter() - started:.1f} s")
            return _settle(nodes, payers, token, n, profile, worker)


def _settle(nodes, payers, token, n: int, profile: bool, worker: str) -> dict:
    from django.db.models import Count

    from authorities import gateway as gateway_module
    from fastpay_protocol import signing
    from fastpay_protocol.committee import CommitteeClient, fetch_committee
    from offline import committee as offline_committee
    from offline.models import FastPayAccount, Redemption, RedemptionState
    from offline.services.redemptions import redemptions_sync
    from wallets.models import User, UserRole, UserStatus

    committee = fetch_committee(nodes[0].url)
    platform_key = b"\x77" * 32
    gateway = gateway_module.Gateway(committee, platform_key, timeout_s=30)
    client = CommitteeClient(committee, timeout=30)
    gateway_module.gateway = lambda: gateway
    offline_committee.gateway = lambda: gateway
    offline_committee.client = lambda epoch=None: client

    payer_users = User.objects.bulk_create(
        [User(username=f"payer{i}", status=UserStatus.APPROVED) for i in range(len(payers))],
        batch_size=1000,
    )
    vendor = User.objects.create(
        username="vendor", role=UserRole.VENDOR, status=UserStatus.APPROVED
    )
    vendor_address = signing.Signer(b"\x42" * 32).address
    FastPayAccount.objects.create(user=vendor, address=vendor_address)
    started = time.perf_counter()
    texts = _issue(client, committee, payers, payer_users, token, vendor_address)
    print(f"setup: {n} vouchers certified and registered in {time.perf_counter() - started:.1f} s")

    # as the platform's entry points do after start-up (fastpay.wsgi, fastpay.celery)
    gc.collect()
    gc.freeze()
    groups = {node.proc.pid for node in nodes}
    nodes_cpu, own_cpu = group_cpu_s(groups), time.process_time()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    with _settlement_worker(worker):
        for i in range(0, n, 1000):
            redemptions_sync(vendor=vendor, payments=texts[i : i + 1000])
    if profiler is not None:
        import pstats

        profiler.disable()
        order = os.environ.get("BENCH_SORT", "cumulative")  # or tottime
        pstats.Stats(profiler).sort_stats(order).print_stats(40)
    elapsed = time.perf_counter() - started
    nodes_cpu, own_cpu = group_cpu_s(groups) - nodes_cpu, time.process_time() - own_cpu
    settled = Redemption.objects.filter(state=RedemptionState.SETTLED).count()
    states = dict(Redemption.objects.values_list("state").annotate(n=Count("pk")))
    balance = client.account_state(vendor_address).balance(token.contract_address)
    client.close()
    figures = {
        "redemptions": n,
        "settled": settled,
        "states": states,
        "upload_to_settled_s": round(elapsed, 2),
        "settled_per_s": round(settled / elapsed),
        "vendor_balance_units": balance,
        "vendor_balance_ok": balance == settled * 2 * UNIT,
        "platform_cpu_ms_per_redemption": round(own_cpu * 1000 / n, 3),
        "nodes_cpu_ms_per_redemption": round(nodes_cpu * 1000 / n, 3),
        "load_average_1m": os.getloadavg()[0],
    }
    print(
        f"settlement, 4 nodes: {settled}/{n} settled {elapsed:.2f} s after the first upload "
        f"({figures['settled_per_s']}/s); vendor's FastPay balance "
        f"{'matches' if figures['vendor_balance_ok'] else 'DOES NOT match'}"
    )
    print(
        f"CPU per redemption: platform {figures['platform_cpu_ms_per_redemption']} ms, "
        f"four nodes together {figures['nodes_cpu_ms_per_redemption']} ms "
        f"({os.cpu_count()} cores, load average {figures['load_average_1m']:.1f})"
    )
    return figures


@contextlib.contextmanager
def _settlement_worker(kind: str):
    """Where the settlement task queued by each sync runs. "eager": inline, after the
    upload commits (Celery's eager mode: the next upload waits for it). "thread": a stand-in
    for a Celery worker, a thread of this process that runs the task whenever a sync queued
    it, while the next upload is parsed and stored (a worker process would not even share
    this process's GIL). Exiting waits until the worker is idle."""
    if kind == "eager":
        yield
        return
    import queue
    import threading

    from django.db import connection

    from offline.services import redemptions
    from offline.tasks import redemptions_settle_task

    queued: queue.Queue = queue.Queue()

    def work():
        try:
            while queued.get() is not None:
                while not queued.empty():  # one run settles everything pending
                    if queued.get() is None:
                        queued.put(None)
                        break
                redemptions_settle_task.apply().get()
        finally:
            connection.close()

    enqueue = redemptions._enqueue_settlement
    redemptions._enqueue_settlement = lambda: queued.put(1)
    worker = threading.Thread(target=work, name="settlement-worker")
    worker.start()
    try:
        yield
    finally:
        queued.put(None)
        worker.join()
        redemptions._enqueue_settlement = enqueue


def _issue(client, committee, payers, payer_users, token, vendor_address) -> list[str]:
    from datetime import UTC, datetime

    from fastpay_protocol import signing
    from fastpay_protocol.messages import Certificate
    from fastpay_protocol.voucher import Voucher as WireVoucher
    from fastpay_protocol.voucher import order_ticket_digest
    from offline.models import Voucher

    issuer = signing.Signer(b"\x77" * 32)
    now = int(time.time())
    nb, na = now - 60, now + 3600
    keys = [os.urandom(32) for _ in payers]
    signed = [
        client.sign_order(
            payer,
            recipient=signing.Signer(key).address,
            token=token.contract_address,
            amount=5 * UNIT,
            sequence=0,
        )
        for payer, key in zip(payers, keys, strict=True)
    ]
    certificates = client.certify_batch(signed)
    bad = [c for c in certificates if not isinstance(c, Certificate)]
    if bad:
        raise SystemExit(f"setup: {len(bad)} issue certificates failed: {bad[0]}")
    client.confirm_batch(certificates)
    rows, texts = [], []
    for certificate, key, payer_user in zip(certificates, keys, payer_users, strict=True):
        order = certificate.order
        digest = order_ticket_digest(committee.domain, order, not_before=nb, not_after=na)
        ticket = issuer.sign_digest(digest)
        rows.append(
            Voucher(
                user=payer_user,
                address=order.recipient,
                payer=order.sender,
                token=token,
                amount=order.amount,
                sequence=order.sequence,
                epoch=order.epoch,
                certificate=certificate.to_json(),
                not_before=datetime.fromtimestamp(nb, UTC),
                not_after=datetime.fromtimestamp(na, UTC),
                ticket="0x" + ticket.hex(),
            )
        )
        wire = WireVoucher.create(certificate, key, not_before=nb, not_after=na, ticket=ticket)
        texts.append(wire.pay(committee.hasher, vendor=vendor_address, amount=2 * UNIT).to_text())
    Voucher.objects.bulk_create(rows, batch_size=1000)
    return texts


def main() -> None:
    args = parse_args()
    figures = {"verify": bench_verify(args.verify, args.accept)}
    figures["settle"] = bench_settle(
        args.settle, args.risk, args.database_url, args.profile, args.worker
    )
    figures["settle_worker"] = args.worker
    figures["risk_hook"] = args.risk
    figures["targets"] = {
        "verify_per_s_min": 1000,
        "settle_10000_max_s": 10,
        "verify_ok": figures["verify"]["verify_per_s"] >= 1000,
    }
    print(json.dumps(figures, separators=(",", ":")))


if __name__ == "__main__":
    main()
