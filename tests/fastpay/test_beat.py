"""The embedded beat (fastpay/beat.py): the schedule run in-process without a broker."""

import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from celery.schedules import crontab

from fastpay.beat import FOLLOWER_RETRY_S, MAX_SLEEP_S, EmbeddedBeat

ROOT = Path(__file__).resolve().parents[2]
# a tick refreshes the thread's database connections, as the web process's thread does
pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self):
        self.at = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def __call__(self):
        return self.at

    def advance(self, **delta):
        self.at += timedelta(**delta)


class Task:
    """What the beat needs of a Celery task: apply(), which may raise."""

    def __init__(self, fail=False, pause=0.0):
        self.calls = []
        self.fail = fail
        self.pause = pause

    def apply(self, args=(), kwargs=None, throw=False):
        self.calls.append((tuple(args), kwargs or {}))
        time.sleep(self.pause)
        if self.fail:
            raise RuntimeError("task failed")
        return type("Result", (), {"result": len(self.calls)})()


@pytest.fixture
def clock():
    return Clock()


def beat_of(schedule, tasks, tmp_path, clock):
    return EmbeddedBeat(schedule, state_dir=tmp_path, now=clock, resolve=tasks.__getitem__)


def test_it_runs_each_entry_at_once_then_only_when_its_interval_has_passed(tmp_path, clock):
    tasks = {"a.fast": Task(), "a.slow": Task()}
    schedule = {
        "fast": {"task": "a.fast", "schedule": timedelta(seconds=20)},
        "slow": {"task": "a.slow", "schedule": timedelta(hours=1), "kwargs": {"x": 1}},
    }
    beat = beat_of(schedule, tasks, tmp_path, clock)

    assert beat.tick() == 20  # the next look: when "fast" is due
    assert (len(tasks["a.fast"].calls), tasks["a.slow"].calls) == (1, [((), {"x": 1})])

    clock.advance(seconds=10)
    assert beat.tick() == 10
    assert (len(tasks["a.fast"].calls), len(tasks["a.slow"].calls)) == (1, 1)

    clock.advance(seconds=11)
    beat.tick()
    assert (len(tasks["a.fast"].calls), len(tasks["a.slow"].calls)) == (2, 1)

    clock.advance(hours=1)
    beat.tick()
    assert (len(tasks["a.fast"].calls), len(tasks["a.slow"].calls)) == (3, 2)


def test_it_looks_again_at_least_every_thirty_seconds(tmp_path, clock):
    tasks = {"a.hourly": Task()}
    beat = beat_of({"h": {"task": "a.hourly", "schedule": 3600}}, tasks, tmp_path, clock)
    assert beat.tick() == MAX_SLEEP_S == 30


def test_it_honours_a_crontab_entry(tmp_path, clock):
    tasks = {"a.nightly": Task()}
    schedule = {"nightly": {"task": "a.nightly", "schedule": crontab(minute=0, hour=3)}}
    beat = beat_of(schedule, tasks, tmp_path, clock)
    beat.tick()  # never ran: runs once at start
    clock.advance(hours=2)  # 14:00
    beat.tick()
    assert len(tasks["a.nightly"].calls) == 1
    clock.at = datetime(2026, 1, 6, 3, 0, 30, tzinfo=UTC)
    beat.tick()
    assert len(tasks["a.nightly"].calls) == 2


def test_a_task_that_raises_does_not_stop_the_others_and_runs_again_when_due(tmp_path, clock):
    tasks = {"a.bad": Task(fail=True), "a.good": Task()}
    schedule = {
        "bad": {"task": "a.bad", "schedule": timedelta(minutes=1)},
        "good": {"task": "a.good", "schedule": timedelta(minutes=1)},
    }
    beat = beat_of(schedule, tasks, tmp_path, clock)
    beat.tick()
    assert (len(tasks["a.bad"].calls), len(tasks["a.good"].calls)) == (1, 1)
    beat.tick()  # not due again yet: a failure does not make it loop
    assert len(tasks["a.bad"].calls) == 1
    clock.advance(minutes=1)
    beat.tick()
    assert (len(tasks["a.bad"].calls), len(tasks["a.good"].calls)) == (2, 2)


def test_a_task_that_cannot_be_found_is_logged_and_the_rest_runs(tmp_path, clock, caplog):
    tasks = {"a.good": Task()}
    schedule = {
        "gone": {"task": "a.gone", "schedule": timedelta(minutes=1)},
        "good": {"task": "a.good", "schedule": timedelta(minutes=1)},
    }
    beat_of(schedule, tasks, tmp_path, clock).tick()
    assert len(tasks["a.good"].calls) == 1
    assert "gone (a.gone) failed" in caplog.text


def test_the_last_runs_survive_a_restart(tmp_path, clock):
    tasks = {"a.hourly": Task()}
    schedule = {"hourly": {"task": "a.hourly", "schedule": timedelta(hours=1)}}
    first = beat_of(schedule, tasks, tmp_path, clock)
    first.tick()
    first.release()
    clock.advance(minutes=20)
    again = beat_of(schedule, tasks, tmp_path, clock)
    again.tick()
    assert len(tasks["a.hourly"].calls) == 1  # not run again by the restart
    clock.advance(minutes=41)
    again.tick()
    assert len(tasks["a.hourly"].calls) == 2


def test_two_beats_on_one_state_dir_run_a_due_task_once(tmp_path, clock):
    task = Task(pause=0.2)
    schedule = {"x": {"task": "a.x", "schedule": timedelta(minutes=1)}}
    beats = [beat_of(schedule, {"a.x": task}, tmp_path, clock) for _ in range(2)]
    waits = []
    threads = [threading.Thread(target=lambda b=b: waits.append(b.tick())) for b in beats]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(task.calls) == 1
    assert FOLLOWER_RETRY_S in waits  # the other one is a follower

    # the leader goes away: the follower takes over and runs what is due
    leader = next(b for b in beats if b._lock_file is not None)
    follower = next(b for b in beats if b is not leader)
    leader.release()
    clock.advance(minutes=1)
    follower.tick()
    assert len(task.calls) == 2


LEADER = """
import sys, time
from datetime import timedelta
from fastpay.beat import EmbeddedBeat
beat = EmbeddedBeat({}, state_dir=sys.argv[1])
print("leader" if beat.leader() else "follower", flush=True)
time.sleep(30)
"""


def test_another_process_is_a_follower_until_the_leader_dies(tmp_path):
    leader = subprocess.Popen(
        [sys.executable, "-c", LEADER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert leader.stdout.readline().strip() == "leader"
        beat = EmbeddedBeat({}, state_dir=tmp_path)
        assert not beat.leader()
        leader.kill()
        leader.wait()
        assert beat.leader()  # the kernel dropped the dead process's lock
        beat.release()
    finally:
        leader.kill()
        leader.wait()


def test_the_thread_runs_the_schedule_and_stops(tmp_path):
    done = threading.Event()

    class Signal(Task):
        def apply(self, *args, **kwargs):
            done.set()
            return super().apply(*args, **kwargs)

    task = Signal()
    beat = EmbeddedBeat(
        {"x": {"task": "a.x", "schedule": 60}}, state_dir=tmp_path, resolve={"a.x": task}.get
    )
    beat.start()
    try:
        assert done.wait(10)
    finally:
        beat.stop()
    assert beat._thread.is_alive() is False
    assert len(task.calls) == 1


def test_the_schedule_names_real_tasks_and_covers_the_platforms_periodic_work(settings):
    from fastpay.beat import task_resolve

    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    for name in tasks:
        assert callable(task_resolve(name).apply), name
    assert {
        "wallets.tasks.ledger_check_task",
        "authorities.tasks.committee_health_task",
        "offline.tasks.redemptions_settle_task",
        "offline.tasks.vouchers_expire_task",
        "wallets.tasks.claims_recover_task",
        "fastpay.tasks.idempotency_purge_task",
        "offline.tasks.offline_transfers_retry_task",
    } <= tasks


def test_it_is_off_in_tests_and_with_a_broker(settings):
    from fastpay.beat import embedded_beat_start

    assert settings.FASTPAY_EMBEDDED_BEAT is False
    assert embedded_beat_start() is None


def test_a_real_celery_task_that_raises_is_contained(tmp_path, clock, caplog):
    from fastpay.celery import app

    @app.task(name="tests.beat_boom")
    def boom():
        raise ValueError("boom")

    @app.task(name="tests.beat_fine")
    def fine(x):
        return x * 2

    tasks = {"boom": boom, "fine": fine}
    schedule = {
        "boom": {"task": "boom", "schedule": 60},
        "fine": {"task": "fine", "schedule": 60, "args": (21,)},
    }
    beat_of(schedule, tasks, tmp_path, clock).tick()
    assert "boom (boom) failed" in caplog.text
    assert "fine -> 42" in caplog.text


def _web_process(tmp_path, **env):
    """Import the ASGI application in a fresh process (as daphne does), wait a little, and
    return what the embedded beat left in its state directory."""
    import os

    code = (
        "import json, time, fastpay.asgi; from django.conf import settings;"
        "print(json.dumps(sorted(settings.CELERY_BEAT_SCHEDULE))); time.sleep(4)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k != "FASTPAY_EMBEDDED_BEAT"},
            "DEBUG": "1",
            "DJANGO_SETTINGS_MODULE": "fastpay.settings",
            "FASTPAY_VAR_DIR": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    state = tmp_path / "beat-state.json"
    schedule = json.loads(result.stdout.splitlines()[-1])
    return schedule, (json.loads(state.read_text()) if state.exists() else None), result.stderr


def test_the_web_process_runs_the_schedule_without_a_broker(tmp_path):
    schedule, state, log = _web_process(tmp_path)
    # every entry was due (never ran) and was run, each failing here on an unmigrated
    # database without stopping the others
    assert len(schedule) >= 6 and sorted(state) == schedule
    assert "embedded beat started" in log


def test_the_web_process_leaves_the_schedule_to_celery_beat_with_a_broker(tmp_path):
    _, state, log = _web_process(tmp_path, CELERY_BROKER_URL="redis://127.0.0.1:6379/4")
    assert state is None and "embedded beat" not in log
