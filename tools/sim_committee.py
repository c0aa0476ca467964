"""Reproduce one seed of the committee simulation (tests/protocol/simulation/) with its
trace, as printed by a failing tests/protocol/simulation/test_simulation.py:

    python tools/sim_committee.py --seed N [--steps M] [--rule handoff|overlap|...] [--verbose]

The simulation lives with the tests (it runs in the protocol-only venv too, where tools/
is not copied); this runs its __main__ as a module, from the repository root."""

import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    runpy.run_module("tests.protocol.simulation", run_name="__main__", alter_sys=True)
