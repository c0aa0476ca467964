"""Authority committee throughput: one node, four nodes end to end, and the crypto ceiling.

Starts four real authority node processes (tests/authorities/nodes.py: gunicorn gthread,
SQLite each, accounts funded by the test-only genesis file), then measures:

1. crypto ceiling in this Python: secp256k1 signatures/s and recoveries/s (libsecp256k1
   via coincurve, the path nodes and client use; eth-account's generic path for reference),
   and the orders/s one core could do if a node did nothing but one recovery + one
   signature per order;
2. ONE node (one worker process = one core): transfer orders/s and confirmations/s, single
   requests (keep-alive, concurrent) and the batched endpoints;
3. FOUR nodes end to end with the committee client: the client signs, gathers a quorum of
   verified votes and confirms: certificates/s, batched and single.

The client runs on the same 2 cores as the four nodes, so every figure shares the machine
with it. Last line: one JSON object with every figure.

    .venv/bin/python bench/committee.py [--quick] [--workers 1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastpay_protocol import signing  # noqa: E402
from fastpay_protocol import typed_data as td  # noqa: E402
from fastpay_protocol.committee import CommitteeClient, fetch_committee  # noqa: E402
from fastpay_protocol.messages import Certificate, SignedOrder  # noqa: E402
from fastpay_protocol.transport import Endpoint, HttpTransport  # noqa: E402

TOKEN = "0x" + "55" * 20
RECIPIENT = "0x" + "78" * 20
FUNDS = 10**12  # ledger units per bench account
ANCHOR_RUST_PER_CORE = 3000  # FastPay's Rust authority, orders/s per core


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the whole run under one minute")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers per node")
    parser.add_argument("--threads", type=int, default=4, help="threads per node worker")
    parser.add_argument("--connections", type=int, default=16, help="concurrent single requests")
    parser.add_argument("--batch", type=int, default=1000, help="items per batch request")
    args = parser.parse_args()
    args.single = 150 if args.quick else 1000  # orders (and confirmations) sent one by one
    args.batched = 2000 if args.quick else 10000
    args.e2e_batched = 2000 if args.quick else 10000
    args.e2e_single = 100 if args.quick else 600
    args.crypto_seconds = 0.6 if args.quick else 3.0
    return args


# ---------------------------------------------------------------------- crypto ceiling


def rate(function, seconds: float) -> float:
    """Calls per second of ``function`` over about ``seconds``."""
    count, start = 0, time.perf_counter()
    while True:
        for _ in range(100):
            function()
        count += 100
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


def crypto_ceiling(seconds: float) -> dict:
    domain = td.Domain(31337, "0x" + "00" * 19 + "f1")
    hasher = signing.Hasher(domain)
    signer = signing.Signer(b"\x07" * 32)
    order = td.TransferOrder(signer.address, RECIPIENT, TOKEN, 5, 0, 1)
    digest = hasher.order_digest(order)
    signature = signer.sign_digest(digest)
    import coincurve

    key = coincurve.PrivateKey(b"\x07" * 32)
    recoverable = signature[:64] + bytes((signature[64] - 27,))
    raw_sign = rate(lambda: key.sign_recoverable(digest, hasher=None), seconds / 4)
    raw_recover = rate(
        lambda: coincurve.PublicKey.from_signature_and_message(recoverable, digest, hasher=None),
        seconds / 4,
    )
    # what a node does per order: digest + recover-and-compare, digest + sign its vote
    node_path = rate(
        lambda: (
            signing.signed_by(hasher.order_digest(order), signature, order.sender),
            signer.sign_digest(hasher.vote_digest(order)),
        ),
        seconds / 4,
    )
    eth_account_recover = rate(
        lambda: td.recover_order_signer(domain, order, signature), seconds / 4
    )
    return {
        "secp256k1_signatures_per_s": round(raw_sign),
        "secp256k1_recoveries_per_s": round(raw_recover),
        "crypto_ceiling_orders_per_s_per_core": round(1 / (1 / raw_sign + 1 / raw_recover)),
        "node_crypto_path_orders_per_s_per_core": round(node_path),
        "eth_account_typed_data_recoveries_per_s": round(eth_account_recover),
    }


# ---------------------------------------------------------------------- nodes


def start_node(node, workers: int, threads: int) -> None:
    """tests/authorities/nodes.Node.start with a chosen gunicorn worker/thread count."""
    env = {**os.environ, **node.env, "DEBUG": "1", "PYTHONUNBUFFERED": "1"}
    with open(node.log_path, "ab") as log:
        command = [sys.executable, str(ROOT / "manage.py"), "run_authority"]
        command += ["--port", str(node.port), "--workers", str(workers)]
        command += ["--threads", str(threads), "--no-deposits"]
        node.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def keys(start: int, count: int) -> list[signing.Signer]:
    return [signing.Signer((0xBE4C0000 + start + i).to_bytes(32, "big")) for i in range(count)]


def sign_all(client: CommitteeClient, signers, sequence: int) -> list[SignedOrder]:
    return [
        client.sign_order(s, recipient=RECIPIENT, token=TOKEN, amount=1, sequence=sequence)
        for s in signers
    ]


def concurrently(items, send, connections: int) -> float:
    """Seconds to send every item with ``connections`` threads (each its own keep-alive
    connection); raises if any answer is not 200."""
    chunks = [items[i::connections] for i in range(connections)]
    errors = []

    def worker(chunk):
        for item in chunk:
            status, body = send(item)
            if status != 200:
                errors.append((status, body))

    start = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(worker, chunks))
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"{len(errors)} refusals, first: {errors[0]}")
    return elapsed


def batched(items, send, size: int) -> float:
    """Seconds to send every item in batches of ``size``, two batches in flight."""
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    errors = []

    def one(chunk):
        status, body = send(chunk)
        if status != 200:
            errors.append((status, body))
            return
        errors.extend(r for r in body["results"] if "error" in r)

    start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(one, chunks))
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"{len(errors)} refusals, first: {errors[0]}")
    return elapsed


def one_node(args, client: CommitteeClient, node, users: dict) -> dict:
    transport = HttpTransport(timeout=60)
    endpoint = Endpoint.parse(node.url)

    def post(path):
        return lambda body: transport.request(endpoint, "POST", path, body)

    single = sign_all(client, users["single"], 0)
    many = sign_all(client, users["batched"], 0)
    warm = single[:10]  # one sequential request at a time: the latency of one order
    started = time.perf_counter()
    for signed in warm:
        status, body = post("/orders")(signed.to_json())
        assert status == 200, body
    figures = {"one_node_order_latency_ms": round(1000 * (time.perf_counter() - started) / 10, 1)}
    elapsed = concurrently(
        [json.dumps(s.to_json()).encode() for s in single[10:]], post("/orders"), args.connections
    )
    figures["one_node_orders_per_s_single"] = round((len(single) - 10) / elapsed)
    elapsed = batched(
        [s.to_json() for s in many],
        lambda chunk: post("/orders/batch")({"orders": chunk}),
        args.batch,
    )
    figures["one_node_orders_per_s_batched"] = round(len(many) / elapsed)

    # certificates for the same orders (votes of the whole committee, not timed)
    certificates = [c for c in client.certify_batch(single + many) if isinstance(c, Certificate)]
    if len(certificates) != len(single) + len(many):
        raise SystemExit("could not certify the bench orders")
    elapsed = concurrently(
        [json.dumps(c.to_json()).encode() for c in certificates[: len(single)]],
        post("/certificates"),
        args.connections,
    )
    figures["one_node_confirmations_per_s_single"] = round(len(single) / elapsed)
    elapsed = batched(
        [c.to_json() for c in certificates[len(single) :]],
        lambda chunk: post("/certificates/batch")({"certificates": chunk}),
        args.batch,
    )
    figures["one_node_confirmations_per_s_batched"] = round(len(many) / elapsed)
    # the other nodes get the certificates too (not timed), so the end-to-end phase starts
    # from a committee in agreement
    client.confirm_batch(certificates, wait_all=True)
    return figures


def end_to_end(args, committee, users: dict) -> dict:
    figures = {}
    client = CommitteeClient(committee, timeout=60)
    senders = users["e2e_batched"]
    certified = 0
    cpu, start = time.process_time(), time.perf_counter()
    for at in range(0, len(senders), args.batch):
        signed = sign_all(client, senders[at : at + args.batch], 0)
        certificates = client.certify_batch(signed)
        good = [c for c in certificates if isinstance(c, Certificate)]
        confirmations = client.confirm_batch(good)
        certified += sum(1 for c in confirmations if not isinstance(c, Exception))
    at_quorum = time.perf_counter() - start
    client_cpu = time.process_time() - cpu
    client._pool.shutdown(wait=True)  # the slowest node's confirmations, still in flight
    everywhere = time.perf_counter() - start
    if certified != len(senders):
        raise SystemExit(f"end to end: {certified} of {len(senders)} certified and confirmed")
    figures["e2e_certificates_per_s_batched"] = round(certified / at_quorum)
    figures["e2e_certificates_per_s_batched_all_four_applied"] = round(certified / everywhere)
    # the client's own CPU per certificate (sign, JSON, verify 3+ votes, HTTP): the share of
    # the two cores the nodes did not get
    figures["e2e_client_cpu_ms_per_certificate"] = round(1000 * client_cpu / certified, 3)

    client = CommitteeClient(committee, timeout=60)
    singles = users["e2e_single"]
    errors = []

    def pay(signer):
        try:
            client.pay(signer, recipient=RECIPIENT, token=TOKEN, amount=1, sequence=0)
        except Exception as exc:  # counted and reported below
            errors.append(exc)

    start = time.perf_counter()
    with ThreadPoolExecutor(args.connections) as pool:
        list(pool.map(pay, singles))
    elapsed = time.perf_counter() - start
    client.close()
    if errors:
        raise SystemExit(f"end to end single: {len(errors)} failures, first: {errors[0]}")
    figures["e2e_certificates_per_s_single"] = round(len(singles) / elapsed)
    return figures


def main() -> None:
    args = parse_args()
    from tests.authorities.nodes import local_committee

    began = time.perf_counter()
    figures = crypto_ceiling(args.crypto_seconds)
    sizes = {
        "single": args.single,
        "batched": args.batched,
        "e2e_batched": args.e2e_batched,
        "e2e_single": args.e2e_single,
    }
    users, offset = {}, 0
    for name, size in sizes.items():
        users[name] = keys(offset, size)
        offset += size
    genesis = [(s.address, TOKEN, FUNDS) for group in users.values() for s in group]
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-committee-")))
        nodes = stack.enter_context(local_committee(tmp, genesis=genesis, start=False))
        for node in nodes:
            start_node(node, args.workers, args.threads)
        for node in nodes:
            node.wait_ready(timeout=120)
        committee = fetch_committee(nodes[0].url)
        figures["startup_seconds"] = round(time.perf_counter() - began, 1)
        with CommitteeClient(committee, timeout=60) as client:
            figures.update(one_node(args, client, nodes[0], users))
        figures.update(end_to_end(args, committee, users))

    per_core = figures["one_node_orders_per_s_batched"] / args.workers
    figures.update(
        {
            "node_workers": args.workers,
            "one_node_orders_per_s_per_core_batched": round(per_core),
            "ratio_node_orders_to_crypto_ceiling": round(
                per_core / figures["crypto_ceiling_orders_per_s_per_core"], 3
            ),
            "ratio_node_orders_to_rust_anchor": round(per_core / ANCHOR_RUST_PER_CORE, 3),
            "target_one_node_orders_per_s_per_core": 2000,
            "target_e2e_certificates_per_s": 500,
            "cores": os.cpu_count(),
            "quick": args.quick,
            "seconds": round(time.perf_counter() - began, 1),
        }
    )
    report(figures)


def report(f: dict) -> None:
    print(f"cores: {f['cores']}, node workers: {f['node_workers']} (1 worker = 1 core: the GIL)")
    print("crypto ceiling in this Python (one core):")
    print(f"  secp256k1 signatures/s        {f['secp256k1_signatures_per_s']:>9}")
    print(f"  secp256k1 recoveries/s        {f['secp256k1_recoveries_per_s']:>9}")
    print(f"  orders/s if 1 recover+1 sign  {f['crypto_ceiling_orders_per_s_per_core']:>9}")
    print(f"  + EIP-712 digests (node path) {f['node_crypto_path_orders_per_s_per_core']:>9}")
    print(f"  eth-account recoveries/s      {f['eth_account_typed_data_recoveries_per_s']:>9}")
    print("one node:")
    print(f"  one order, alone: ms          {f['one_node_order_latency_ms']:>9}")
    print(f"  orders/s single requests      {f['one_node_orders_per_s_single']:>9}")
    print(f"  orders/s batched              {f['one_node_orders_per_s_batched']:>9}")
    print(f"  confirmations/s single        {f['one_node_confirmations_per_s_single']:>9}")
    print(f"  confirmations/s batched       {f['one_node_confirmations_per_s_batched']:>9}")
    print(
        f"  orders/s per core vs crypto ceiling: {f['ratio_node_orders_to_crypto_ceiling']:.1%}, "
        f"vs FastPay's Rust (3,000/core): {f['ratio_node_orders_to_rust_anchor']:.1%}"
    )
    print("four nodes, end to end (client signs, gathers a quorum, confirms):")
    print(f"  certificates/s batched        {f['e2e_certificates_per_s_batched']:>9}")
    print(
        f"    until all four applied      {f['e2e_certificates_per_s_batched_all_four_applied']:>9}"
    )
    print(f"  certificates/s single         {f['e2e_certificates_per_s_single']:>9}")
    print(f"  client CPU ms per certificate {f['e2e_client_cpu_ms_per_certificate']:>9}")
    print(json.dumps(f, sort_keys=True))


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
