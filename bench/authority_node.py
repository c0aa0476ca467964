"""One authority node's throughput: transfer orders/s and confirmations/s, one per request
and batched (1,000 per request), plus the raw ceiling of the cryptography in this Python.

    .venv/bin/python bench/authority_node.py [--quick] [--orders N] [--clients C] [--json]

Starts one real node process (SQLite, gunicorn gthread, 1 worker) funded through a genesis
file; the client (same machine, so it competes for the cores) pre-signs every order and
certificate before the clock starts, and drives the node over keep-alive HTTP connections.
Figures, not a test.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from authorities.node.local import LOCAL_ACCOUNTS, anvil_key  # noqa: E402
from authorities.node.processes import local_committee  # noqa: E402
from fastpay_protocol import signing  # noqa: E402
from fastpay_protocol import typed_data as td  # noqa: E402

TOKEN = "0x" + "55" * 20
RECIPIENT = "0x" + "77" * 20


def user_keys(n: int) -> list[bytes]:
    return [(0xB0B00000 + i).to_bytes(32, "big") for i in range(n)]


def prepare(domain: td.Domain, keys: list[bytes], authority_keys: list[bytes]):
    """Signed orders and their certificates (votes by the first three authorities)."""
    digests = signing.Hasher(domain)
    voters = [signing.Signer(k) for k in authority_keys[:3]]
    orders, certs = [], []
    for key in keys:
        signer = signing.Signer(key)
        order = td.TransferOrder(signer.address, RECIPIENT, TOKEN, 1_000, 0, 1)
        order_digest, vote_digest = digests.order_and_vote(order)
        signed = {
            "order": order.as_message(),
            "signature": "0x" + signer.sign_digest(order_digest).hex(),
        }
        votes = [
            {"authority": v.address, "signature": "0x" + v.sign_digest(vote_digest).hex()}
            for v in voters
        ]
        orders.append(signed)
        certs.append({**signed, "votes": votes})
    return orders, certs


def drive(port: int, path: str, bodies: list[bytes], clients: int) -> float:
    """POST every body over ``clients`` keep-alive connections; returns seconds taken."""
    chunks = [bodies[i::clients] for i in range(clients)]
    errors = []

    def worker(chunk):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for body in chunk:
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
            if response.status != 200 or b'"error"' in data[:2000]:
                errors.append(data[:300])
        conn.close()

    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"{len(errors)} failed requests, first: {errors[0]!r}")
    return elapsed


def crypto_ceiling(seconds: float = 1.0) -> dict:
    domain = td.Domain(1, "0x" + "ab" * 20)
    digests, signer = signing.Hasher(domain), signing.Signer(b"\x07" * 32)
    order = td.TransferOrder(signer.address, RECIPIENT, TOKEN, 5, 1, 1)
    digest = digests.order_digest(order)
    sig = signer.sign_digest(digest)
    out = {}
    for name, fn in (
        ("recoveries_per_s", lambda: signing.recover_digest_bytes(digest, sig)),
        ("signatures_per_s", lambda: signer.sign_digest(digest)),
        ("order_vote_digests_per_s", lambda: digests.order_and_vote(order)),
    ):
        # CPU time, not wall time: the box may be busy with other work
        n, start = 0, time.process_time()
        while time.process_time() - start < seconds:
            for _ in range(200):
                fn()
            n += 200
        out[name] = round(n / (time.process_time() - start))
    # a vote costs one recovery (the sender) + one signature; a 3-vote certificate 4 recoveries
    per_order = 1 / out["recoveries_per_s"] + 1 / out["signatures_per_s"]
    out["orders_per_s_ceiling"] = round(1 / per_order)
    out["confirmations_per_s_ceiling"] = round(out["recoveries_per_s"] / 4)
    return out


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of every live process in the node's process group."""
    total, tick = 0, os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5 (pgrp), after pid and (comm)
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def measure(results: dict, name: str, node, path: str, bodies, count: int, clients: int):
    cpu = group_cpu_seconds(node.proc.pid)
    elapsed = drive(node.port, path, bodies, clients)
    cpu = group_cpu_seconds(node.proc.pid) - cpu
    results[name] = {
        "per_s": round(count / elapsed),
        "per_node_cpu_s": round(count / cpu) if cpu else None,
        "node_cpu_s": round(cpu, 2),
        "wall_s": round(elapsed, 2),
    }


def run(args) -> dict:
    n = args.orders or (2_000 if args.quick else 10_000)
    n_single = min(n, 1_000 if args.quick else 3_000)
    authority_keys = [anvil_key(i) for i in LOCAL_ACCOUNTS]
    # distinct users for each phase: batched run and one-per-request run
    batched_keys, single_keys = user_keys(n), user_keys(n + n_single)[n:]
    genesis = [(signing.Signer(k).address, TOKEN, 10**9) for k in batched_keys + single_keys]
    results: dict = {"orders": n, "single_orders": n_single, "clients": args.clients}
    with (
        tempfile.TemporaryDirectory(prefix="bench-node-") as tmp,
        local_committee(Path(tmp), keys=authority_keys, genesis=genesis, start=False) as nodes,
    ):
        node = nodes[0].start()
        _, committee = node.get("/authority/v1/committee")
        domain = td.Domain(committee["chain_id"], committee["verifying_contract"])
        b_orders, b_certs = prepare(domain, batched_keys, authority_keys)
        s_orders, s_certs = prepare(domain, single_keys, authority_keys)

        def batches(items, key):
            step = 1000
            return [json.dumps({key: items[i : i + step]}).encode() for i in range(0, n, step)]

        measure(
            results, "orders_batched", node, "/authority/v1/orders/batch",
            batches(b_orders, "orders"), n, 2,
        )  # fmt: skip
        measure(
            results, "confirmations_batched", node, "/authority/v1/certificates/batch",
            batches(b_certs, "certificates"), n, 2,
        )  # fmt: skip
        measure(
            results, "orders_single", node, "/authority/v1/orders",
            [json.dumps(o).encode() for o in s_orders], n_single, args.clients,
        )  # fmt: skip
        measure(
            results, "confirmations_single", node, "/authority/v1/certificates",
            [json.dumps(c).encode() for c in s_certs], n_single, args.clients,
        )  # fmt: skip
    results["crypto"] = crypto_ceiling(0.5 if args.quick else 2.0)
    results["cores"] = os.cpu_count()
    results["load_average"] = os.getloadavg()[0]
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--orders", type=int, default=None)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("DEBUG", "1")
    results = run(args)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    c = results["crypto"]
    print(
        f"one authority node (SQLite WAL, 1 gunicorn gthread worker) on {results['cores']} "
        f"cores, load average {results['load_average']:.1f} at the end"
    )
    print(f"  {'':<24}{'per second':>12}{'per node CPU-second':>22}")
    for name in (
        "orders_batched",
        "orders_single",
        "confirmations_batched",
        "confirmations_single",
    ):
        r = results[name]
        print(f"  {name:<24}{r['per_s']:>12}{r['per_node_cpu_s'] or 0:>22}")
    print(
        f"  crypto ceiling per core: {c['recoveries_per_s']} recoveries/s, "
        f"{c['signatures_per_s']} signatures/s -> {c['orders_per_s_ceiling']} orders/s, "
        f"{c['confirmations_per_s_ceiling']} confirmations/s (3 votes)"
    )
    ratio_o = results["orders_batched"]["per_node_cpu_s"] / c["orders_per_s_ceiling"]
    ratio_c = results["confirmations_batched"]["per_node_cpu_s"] / c["confirmations_per_s_ceiling"]
    print(f"  batched per CPU-second / ceiling: orders {ratio_o:.2f}, confirmations {ratio_c:.2f}")


if __name__ == "__main__":
    main()
