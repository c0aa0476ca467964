"""A terminal process killed (SIGKILL) while accepting payments loses none it
acknowledged, and its store opens cleanly afterwards."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fastpay_protocol import signing
from fastpay_protocol.pos import Terminal
from tests.protocol.voucher_fixtures import COMMITTEE, ISSUER, make_voucher

ROOT = Path(__file__).resolve().parents[2]
VENDOR = signing.Signer(b"\x42" * 32).address

ACCEPTOR = """
import sys, time
from fastpay_protocol.pos import Terminal
terminal = Terminal(sys.argv[1])
for line in open(sys.argv[2]):
    queued = terminal.accept(line.strip())
    print(queued.voucher, flush=True)  # acknowledged to the vendor only after accept
    time.sleep(0.01)
"""


def test_a_killed_terminal_keeps_every_acknowledged_payment(tmp_path):
    store = str(tmp_path / "pos.db")
    Terminal.create(store, vendor=VENDOR, issuer=ISSUER.address, committee=COMMITTEE).close()
    texts = [
        make_voucher(amount=1_000_000).pay(COMMITTEE.hasher, vendor=VENDOR, amount=500_000)
        for _ in range(200)
    ]
    queue = tmp_path / "payments.txt"
    queue.write_text("\n".join(p.to_text() for p in texts) + "\n")
    process = subprocess.Popen(
        [sys.executable, "-c", ACCEPTOR, store, str(queue)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    acknowledged = [process.stdout.readline().strip() for _ in range(20)]
    os.kill(process.pid, signal.SIGKILL)  # mid-queue, mid-write perhaps
    process.wait(timeout=10)
    time.sleep(0.05)
    reopened = Terminal(store)
    stored = {p.voucher for p in reopened.payments()}
    assert set(acknowledged) <= stored
    assert len(stored) < len(texts)  # it really was killed mid-queue
    assert reopened.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [p.state for p in reopened.payments()] == ["queued"] * len(stored)
    reopened.close()
