"""`make run`'s supervisor and its persistent local world (tools/run_local.py), with real
processes: trivial commands for the supervisor, a real anvil for the chain's state."""

import json
import os
import signal
import sys
import time

import pytest

from tests.authorities.nodes import free_port
from tools import run_local

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
FAILING = [sys.executable, "-c", "raise SystemExit(3)"]


class Clock:
    def __init__(self):
        self.at = 1000.0

    def __call__(self):
        return self.at


@pytest.fixture
def supervisor():
    said = []
    clock = Clock()
    supervisor = run_local.Supervisor(clock=clock, say=said.append)
    supervisor.said, supervisor.fake_clock = said, clock
    yield supervisor
    supervisor.stop_all()


def wait_dead(child, timeout=10):
    child.process.wait(timeout=timeout)


def test_a_killed_node_is_restarted_and_the_rest_keeps_running(supervisor):
    node = supervisor.spawn("authority-3", SLEEPER, restart=True)
    other = supervisor.spawn("authority-1", SLEEPER, restart=True)
    first_pid = node.process.pid

    os.kill(first_pid, signal.SIGKILL)
    wait_dead(node)
    assert supervisor.check() is None
    assert supervisor.said == [
        "authority-3 exited with -9; restarting it in 1 s (still running: authority-1)"
    ]
    assert not node.alive() and other.alive()

    supervisor.check()  # not yet: the backoff
    assert not node.alive()
    supervisor.fake_clock.at += 1
    assert supervisor.check() is None
    assert node.alive() and node.process.pid != first_pid
    assert supervisor.said[-1] == f"authority-3 restarted (pid {node.process.pid}, restart #1)"
    assert other.process.pid and other.alive()


def test_a_child_that_keeps_failing_is_restarted_with_growing_backoff(supervisor):
    child = supervisor.spawn("platform", FAILING, restart=True)
    delays = []
    for _ in range(7):
        wait_dead(child)
        supervisor.check()
        delays.append(child.restart_at - supervisor.fake_clock.at)
        supervisor.fake_clock.at = child.restart_at
        supervisor.check()  # restarts it (and it fails again at once)
    assert delays == [1, 2, 4, 8, 16, 30, 30]
    assert child.restarts == 7


def test_a_child_up_for_a_minute_is_restarted_quickly_again(supervisor):
    child = supervisor.spawn("authority-2", FAILING, restart=True)
    for _ in range(3):  # three quick exits: 1, 2, 4 s
        wait_dead(child)
        supervisor.check()
        supervisor.fake_clock.at = child.restart_at
        supervisor.check()
    supervisor.fake_clock.at += run_local.Supervisor.STABLE_S  # it stayed up a minute
    wait_dead(child)
    supervisor.check()
    assert child.restart_at - supervisor.fake_clock.at == 1


def test_the_chain_exiting_stops_everything(supervisor):
    chain = supervisor.spawn("anvil", FAILING, restart=False)
    supervisor.spawn("authority-1", SLEEPER, restart=True)
    wait_dead(chain)
    assert supervisor.check() == "anvil exited with 3"
    supervisor.stop_all()
    assert supervisor.children == []


def test_stop_all_kills_what_is_left_of_a_childs_process_group(supervisor, tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    # a parent that leaves a worker behind (as gunicorn's master would)
    script = (
        "import subprocess, sys, time;"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(60)"
    )
    supervisor.spawn("authority-4", [sys.executable, "-c", script], restart=True)
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.05)
    grandchild = int(pid_file.read_text())
    supervisor.stop_all()
    for _ in range(100):
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the worker outlived its node")


def world_files(var, *, skip=()):
    for name in run_local.LOCAL_WORLD:
        if name in skip or name == "beat-state.json":
            continue
        if name == "authorities":
            (var / name).mkdir()
        elif name == run_local.WORLD:
            (var / name).write_text(json.dumps({"anvil_port": 8601, "node_base_port": 9601}))
        else:
            (var / name).write_text("{}")
    (var / "db.sqlite3").write_text("")


@pytest.fixture
def var(tmp_path, monkeypatch):
    monkeypatch.setattr(run_local, "VAR", tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return tmp_path


def test_a_complete_world_in_var_is_found_with_its_ports(var):
    world_files(var)
    assert run_local.world_read() == {"anvil_port": 8601, "node_base_port": 9601}


@pytest.mark.parametrize("missing", [run_local.ANVIL_STATE, "platform-kek", "authorities"])
def test_an_incomplete_world_is_not_resumed(var, missing):
    world_files(var, skip=(missing,))
    assert run_local.world_read() is None


def test_an_empty_var_is_not_a_world(var):
    assert run_local.world_read() is None


def test_make_run_resumes_a_world_it_finds_and_builds_one_otherwise(var, monkeypatch):
    calls = []

    def stop_here(name):
        def step(*args):
            calls.append((name, args))
            raise KeyboardInterrupt

        return step

    monkeypatch.setattr(run_local, "resume_world", stop_here("resume"))
    monkeypatch.setattr(run_local, "build_world", stop_here("build"))
    monkeypatch.setattr(run_local, "port_answers", lambda port: False)
    monkeypatch.setattr(sys, "argv", ["run_local.py"])
    monkeypatch.setenv("ANVIL_PORT", "8999")

    run_local.main()
    assert calls[-1][0] == "build" and calls[-1][1][:2] == (8999, 9101)

    world_files(var)
    run_local.main()
    assert calls[-1] == ("resume", ({"anvil_port": 8601, "node_base_port": 9601}, {}))


def test_make_reset_removes_the_world_and_nothing_else(var, monkeypatch):
    world_files(var)
    (var / "db.sqlite3-wal").write_text("")
    (var / "static").mkdir()
    monkeypatch.setattr(sys, "argv", ["run_local.py", "reset"])
    run_local.main()
    assert sorted(p.name for p in var.iterdir()) == ["static"]


# a contract whose code returns 42 (init code copies 10 bytes of runtime and returns it)
RETURNS_42 = "0x600a600c600039600a6000f3602a60005260206000f3"


def test_the_chain_keeps_its_contracts_across_a_restart(var, monkeypatch):
    if not (run_local.ROOT / "node_modules/.bin/anvil").exists():
        pytest.skip("needs anvil: run `make node_modules`")
    monkeypatch.setattr(run_local, "supervisor", run_local.Supervisor(say=lambda m: None))
    port = free_port()
    w3 = run_local.start_chain(port)
    try:
        tx = w3.eth.send_transaction({"from": w3.eth.accounts[0], "data": RETURNS_42})
        address = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
        deployment = {"contracts": {"Answer": {"address": address}}}
        assert run_local.world_on_chain(w3, deployment)
    finally:
        run_local.supervisor.stop_all()  # anvil saves its state on the way out
    assert (var / run_local.ANVIL_STATE).stat().st_size > 0

    w3 = run_local.start_chain(port)
    try:
        assert run_local.world_on_chain(w3, deployment)
        assert w3.eth.call({"to": address}) == (42).to_bytes(32, "big")
    finally:
        run_local.supervisor.stop_all()

    # a chain that never saw the deployment is told apart
    (var / run_local.ANVIL_STATE).unlink()
    w3 = run_local.start_chain(port)
    try:
        assert not run_local.world_on_chain(w3, deployment)
    finally:
        run_local.supervisor.stop_all()
