"""Replay one seed of the committee simulation and print what happened:

    python -m tests.protocol.simulation --seed N [--steps M] [--rule R] [--verbose]

(tools/sim_committee.py runs the same). Exit status 1 when an invariant broke."""

from __future__ import annotations

import argparse
import sys
import time

from tests.protocol.simulation.world import RULES, STEPS, World, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sim_committee", description="Replay one seed of the committee simulation."
    )
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--rule", choices=RULES, default="handoff")
    parser.add_argument("--verbose", action="store_true", help="print the trace")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = run(args.seed, steps=args.steps, rule=args.rule, verbose=args.verbose)
    elapsed = time.perf_counter() - started
    config = World(args.seed, rule=args.rule).config
    print(f"seed {args.seed}, rule {args.rule}: {config}")
    for line in result.trace:
        print(line)
    stats = ", ".join(f"{k}={v}" for k, v in sorted(result.stats.items()))
    print(f"{result.steps} steps in {elapsed:.3f}s: {stats}")
    if result.ok:
        print("OK: every invariant held after every step")
        return 0
    print(f"VIOLATION at step {result.steps}: {result.violation}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
