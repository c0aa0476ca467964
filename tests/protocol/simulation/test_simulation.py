"""The committee simulation (package docstring): thousands of seeds keep every invariant
under the handoff rule; the checker finds the double spends of the old overlapping window
and of two weaker handovers; a seed replays to the same trace."""

import importlib.util
import os
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from pathlib import Path

import pytest

from tests.protocol.simulation import run
from tests.protocol.simulation.__main__ import main
from tests.protocol.simulation.world import STEPS, Config, World, address, run_seeds

ROOT = Path(__file__).resolve().parents[3]
# The long run happens once in CI: in the protocol-only suite (make test-protocol). The
# Django suite, which collects tests/protocol too, runs a sample.
WITHOUT_DJANGO = importlib.util.find_spec("django") is None
SEEDS = int(os.environ.get("FASTPAY_SIM_SEEDS", "2000" if WITHOUT_DJANGO else "50"))


def test_every_invariant_holds_after_every_step_for_thousands_of_seeds():
    # seeds are independent: one process per CPU, up to 4 (each seed is deterministic)
    workers = max(1, min(4, os.cpu_count() or 1))
    started = time.perf_counter()
    totals: Counter = Counter()
    failures = []
    with ProcessPoolExecutor(workers) as pool:
        for part_totals, part_failures in pool.map(
            run_seeds, [range(i, SEEDS, workers) for i in range(workers)]
        ):
            totals.update(part_totals)
            failures.extend(part_failures)
    elapsed = time.perf_counter() - started
    print(f"\n{SEEDS} seeds in {elapsed:.1f}s ({SEEDS / elapsed:.0f} seeds/s, {workers} processes)")
    print(dict(totals))
    assert not failures, "\n".join(
        f"seed {seed}: {violation}\n"
        f"  reproduce: python tools/sim_committee.py --seed {seed} --verbose"
        for seed, violation in sorted(failures)[:10]
    )
    # the runs went through what the invariants are about
    for what in (
        "epochs",
        "handovers",
        "re_epoched",
        "crashes",
        "lost",
        "payments_certified",
        "byzantine_certified",
        "settled",
        "settle_too_late",
    ):
        assert totals[what] > 0, what
    assert totals["payments_certified"] > 0.8 * totals["payments_started"]


@cache
def first_failing_seed(rule: str, steps: int = STEPS) -> tuple[int, str]:
    for seed in range(400):
        result = run(seed, rule=rule, steps=steps)
        if not result.ok:
            return seed, result.violation
    raise AssertionError(f"no seed in 0..399 breaks an invariant under rule {rule!r}")


def test_the_simulation_finds_the_double_spend_of_the_old_overlapping_window():
    seed, violation = first_failing_seed("overlap")
    assert "DOUBLE SPEND" in violation
    assert run(seed).ok  # the same world under the handoff rule


@pytest.mark.skipif(not WITHOUT_DJANGO, reason="long: runs once, in the protocol-only suite")
def test_the_simulation_finds_the_double_spend_of_a_feed_without_carried_locks():
    # a certificate kept by its client while its voters leave one by one: only the locks
    # carried from handover to handover remember it, some twenty epochs later
    seed, violation = first_failing_seed("own_pending_feed", steps=800)
    assert "DOUBLE SPEND" in violation
    assert run(seed, steps=800).ok


def test_a_seed_replays_to_the_same_trace():
    first, again = run(11, verbose=True), run(11, verbose=True)
    assert first.trace == again.trace
    assert first.stats == again.stats
    assert len(first.trace) > 100


def test_the_replay_command_prints_the_trace_of_a_failing_seed(capsys):
    seed, violation = first_failing_seed("overlap")
    assert main(["--seed", str(seed), "--rule", "overlap", "--verbose"]) == 1
    out = capsys.readouterr().out
    assert "VIOLATION at step" in out
    assert violation in out
    assert "t=   1 " in out


def test_the_replay_command_passes_on_a_good_seed(capsys):
    assert main(["--seed", "3", "--steps", "50"]) == 0
    assert "OK: every invariant held after every step" in capsys.readouterr().out


def test_the_trace_does_not_depend_on_the_hash_seed():
    def replay(hash_seed):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.protocol.simulation",
                "--seed",
                "5",
                "--steps",
                "80",
                "--verbose",
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return [line for line in out.splitlines() if " steps in " not in line]

    assert replay("1") == replay("2")


# ------------------------------------------------------------------ scripted attacks

SCRIPTED = Config(
    loss=0.0,
    delay_max=1,
    skew_max=0,
    crash_rate=0.0,
    pay_rate=0.0,
    byzantine_rate=0.0,
    announce_rate=0.0,
    activation_delay=(6, 6),
    settlement_window=10,
    stake_scale=1,
    initial_members=4,
    wallets=2,
    byzantine_clients=1,
    terminals=1,
    byzantine_node_share=0.0,
)


def n(i):
    return address(0x0D, i)


class Attack:
    """A scripted world (every node honest, stake 1, no loss) and a client that signs
    two payments for its sequence 0."""

    def __init__(self, rule, committees):
        self.world = World(0, rule=rule, config=SCRIPTED, committees=committees)
        self.world.clients = []  # only the script acts
        self.client = self.world.byzantine_clients[0]
        self.sender = self.client.addresses[0]
        self.payees = self.world.payees

    def order(self, payee, amount, epoch):
        return self.client.sign(self.sender, self.payees[payee], amount, epoch)

    def send(self, order, *nodes):
        for i in nodes:
            self.world.send(n(i), ("order", self.client.name, order))

    def until(self, t, resend=()):
        while self.world.t < t:
            self.world.step()
            if self.world.t % 3 == 0:
                for order, nodes in resend:
                    self.send(order, *nodes)

    def crash(self, *nodes, until):
        for i in nodes:
            self.world.nodes[n(i)].crash(until)

    def certified(self, order):
        return any(cert.order == order for cert in self.client.certs)

    @property
    def violation(self):
        return self.world.checker.violation


ISSUE = [(0, [1, 2, 3, 4]), (20, [1, 2, 5, 6])]  # epoch 1 = n1..n4, epoch 2 = n1,n2,n5,n6


def test_the_issue_attack_double_spends_under_the_old_overlapping_window():
    attack = Attack("overlap", ISSUE)
    attack.until(21)  # epoch 2 active, epoch 1 still voting in its window
    x, y = attack.order(0, 10, epoch=1), attack.order(1, 20, epoch=2)
    attack.send(x, 2, 3, 4)
    attack.send(y, 1, 5, 6)
    attack.until(26)
    assert attack.certified(x) and attack.certified(y)
    assert "DOUBLE SPEND" in attack.violation


def test_the_issue_attack_fails_under_the_handoff_rule():
    attack = Attack("handoff", ISSUE)
    attack.until(21)
    x, y = attack.order(0, 10, epoch=1), attack.order(1, 20, epoch=2)
    attack.send(x, 2, 3, 4)  # epoch 1 is closed: wrong_epoch
    attack.send(y, 1, 5, 6)
    attack.until(40, resend=[(y, (1, 5, 6))])
    assert not attack.certified(x)
    assert attack.certified(y)
    assert attack.violation is None


def test_a_certificate_of_the_closed_epoch_locks_its_sequence_in_the_next_one():
    attack = Attack("handoff", ISSUE)
    attack.until(15)
    x = attack.order(0, 10, epoch=1)
    attack.send(x, 2, 3, 4)
    attack.until(18)
    assert attack.certified(x)  # and withheld
    attack.until(21)
    y = attack.order(1, 20, epoch=2)
    attack.until(40, resend=[(y, (1, 2, 5, 6))])
    assert not attack.certified(y)
    for i in (1, 5, 6):  # they carry x from the handover
        assert x in [o for o, _ in attack.world.nodes[n(i)].carried[(attack.sender, 0)]]
    again = attack.order(0, 10, epoch=2)  # x re-epoched: the same payment goes through
    attack.until(50, resend=[(again, (1, 5, 6))])
    assert attack.certified(again)
    assert attack.violation is None


# epoch 1's voters of x (n2, n3, n4) leave; n2, the last one, is down when n7 joins
CHAIN = [(0, [1, 2, 3, 4]), (20, [1, 2, 5, 6]), (40, [1, 5, 6, 7]), (60, [5, 7, 8, 9])]


@pytest.mark.parametrize(("rule", "double_spend"), [("own_pending_feed", True), ("handoff", False)])
def test_a_handover_feed_serves_the_locks_it_carries(rule, double_spend):
    attack = Attack(rule, CHAIN)
    attack.until(5)
    x = attack.order(0, 10, epoch=1)
    attack.send(x, 2, 3, 4)
    attack.until(8)
    assert attack.certified(x)  # and withheld
    attack.crash(2, until=10**6)
    attack.until(35)
    y = attack.order(1, 20, epoch=4)
    attack.until(90, resend=[(y, (5, 7, 8, 9))])
    assert attack.certified(y) is double_spend
    carried = attack.world.nodes[n(8)].carried.get((attack.sender, 0), [])
    assert (x in [o for o, _ in carried]) is not double_spend  # learned from n1, n5, n6
    assert (attack.violation is not None and "DOUBLE SPEND" in attack.violation) is double_spend


# n5, n6, n7 are down for all of epoch 2; epoch 1's members are down when it closes
UNHANDED = [(0, [1, 2, 3, 4]), (20, [1, 5, 6, 7]), (40, [5, 6, 8, 9])]


@pytest.mark.parametrize(("rule", "double_spend"), [("serve_unhanded", True), ("handoff", False)])
def test_a_member_serves_an_epoch_frozen_only_after_its_own_handover_before(rule, double_spend):
    attack = Attack(rule, UNHANDED)
    attack.until(5)
    x = attack.order(0, 10, epoch=1)
    attack.send(x, 2, 3, 4)
    attack.until(8)
    assert attack.certified(x)  # and withheld
    attack.crash(5, 6, 7, until=45)
    attack.until(38)
    attack.crash(1, 2, 3, 4, until=10**6)
    attack.until(45)
    y = attack.order(1, 20, epoch=3)
    attack.until(80, resend=[(y, (5, 6, 8, 9))])
    assert attack.certified(y) is double_spend
    # handoff: n5..n7 cannot finish epoch 1's handover, so nobody may serve epoch 2
    assert (2 in attack.world.nodes[n(8)].handed_over) is double_spend
    assert (attack.violation is not None and "DOUBLE SPEND" in attack.violation) is double_spend
