"""The beat schedule run inside the web process when there is no broker (the embedded
default): no Celery worker or beat service to install, yet the ledger check, committee
health, settlement retries, voucher expiry, claims recovery and the purges still run.

``embedded_beat_start()`` (called by fastpay.asgi and fastpay.wsgi) starts one daemon
thread when ``FASTPAY_EMBEDDED_BEAT`` is on (default: on in eager mode, off under pytest
and whenever CELERY_BROKER_URL is set, where `celery beat` does this job). The thread
runs each due entry of ``CELERY_BEAT_SCHEDULE`` eagerly, one after another; an entry that
raises is logged and retried at its next due time, the others go on.

Leadership: several web processes (daphne and a runserver, gunicorn workers) may start the
thread; only the one holding an exclusive ``flock`` on ``<FASTPAY_VAR_DIR>/beat.lock`` runs
the schedule, so no task runs twice at once. The lock is held for the leader's lifetime
and released by the kernel when it dies: a follower tries again every
``FOLLOWER_RETRY_S`` and takes over. The time of each entry's last run is kept in
``beat-state.json`` next to it, so an hourly task still runs when the process restarts
more often than hourly; an entry that never ran is due at once.

Tasks are resolved by their dotted name (module.attribute), when due: this module imports
no app (fastpay/ stays below the apps).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from celery.schedules import maybe_schedule

logger = logging.getLogger("fastpay.beat")

#: how often a process that is not the leader tries to take the lock
FOLLOWER_RETRY_S = 15.0
#: the leader never sleeps longer than this between two looks at the schedule
MAX_SLEEP_S = 30.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


def task_resolve(name: str):
    """The task object named ``package.module.task`` (imported when first needed)."""
    module, _, attribute = name.rpartition(".")
    if not module:
        raise ValueError(f"beat task {name!r} is not a dotted path")
    return getattr(importlib.import_module(module), attribute)


class EmbeddedBeat:
    """Runs the due entries of a beat schedule; ``tick()`` is one look at it.

    ``schedule``: CELERY_BEAT_SCHEDULE's shape (name -> {"task", "schedule", "args",
    "kwargs"}); a schedule is a timedelta, a number of seconds or a celery schedule
    (crontab, solar). ``resolve`` maps a task name to something with ``apply()``.
    """

    def __init__(
        self,
        schedule: dict,
        *,
        state_dir: Path,
        now: Callable[[], datetime] = _utcnow,
        resolve: Callable[[str], object] = task_resolve,
    ):
        self.now = now
        self.resolve = resolve
        self.state_dir = Path(state_dir)
        self.lock_path = self.state_dir / "beat.lock"
        self.state_path = self.state_dir / "beat-state.json"
        self.entries = {}
        for name, entry in schedule.items():
            when = maybe_schedule(entry["schedule"])
            when.nowfun = now  # crontab and interval schedules both read their clock here
            self.entries[name] = (entry, when)
        self._lock_file = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ leadership

    def leader(self) -> bool:
        """Hold (or take, without waiting) the beat lock."""
        if self._lock_file is not None:
            return True
        self.state_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.lock_path, "a+")  # noqa: SIM115 - held for the leader's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_file = handle
        logger.info("embedded beat: this process (pid %s) runs the schedule", os.getpid())
        return True

    def release(self) -> None:
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    # ------------------------------------------------------------------ state

    def _last_runs(self) -> dict[str, datetime]:
        try:
            raw = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {}
        runs = {}
        for name, stamp in raw.items() if isinstance(raw, dict) else ():
            with contextlib.suppress(TypeError, ValueError):
                runs[name] = datetime.fromisoformat(stamp)
        return runs

    def _save(self, runs: dict[str, datetime]) -> None:
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps({k: v.isoformat() for k, v in runs.items()}, indent=1))
        temporary.replace(self.state_path)

    # ------------------------------------------------------------------ running

    def tick(self) -> float:
        """Run every due entry (only as the leader); return the seconds until the next
        look. A task that raises is logged; its entry is due again at its next time."""
        if not self.leader():
            return FOLLOWER_RETRY_S
        runs = self._last_runs()
        wait = MAX_SLEEP_S
        for name, (entry, when) in self.entries.items():
            last = runs.get(name)
            due, next_s = (True, 0) if last is None else when.is_due(last)
            if due:
                runs[name] = self.now()
                self._save(runs)  # before running: a crash in the task does not loop it
                self._run(name, entry)
                next_s = when.remaining_estimate(runs[name]).total_seconds()
            wait = min(wait, max(float(next_s), 1.0))
            if self._stop.is_set():
                break
        return wait

    def _run(self, name: str, entry: dict) -> None:
        try:
            _connections_refresh()
            task = self.resolve(entry["task"])
            result = task.apply(
                args=entry.get("args", ()), kwargs=entry.get("kwargs", {}), throw=True
            )
            logger.info("embedded beat: %s -> %r", name, getattr(result, "result", result))
        except Exception:
            logger.exception("embedded beat: %s (%s) failed", name, entry["task"])
        finally:
            _connections_refresh()

    def run_forever(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    wait = self.tick()
                except Exception:  # the state file or the lock: keep the thread alive
                    logger.exception("embedded beat: tick failed")
                    wait = MAX_SLEEP_S
                self._stop.wait(wait)
        finally:
            self.release()
            from django.db import connections

            connections.close_all()

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(
            target=self.run_forever, name="fastpay-embedded-beat", daemon=True
        )
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def _connections_refresh() -> None:
    """What Django does around a request (close_old_connections), for a long-lived thread:
    drop connections that broke or outlived CONN_MAX_AGE. Never one inside a transaction
    (a caller running a tick inside one, as a test does, keeps it)."""
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


_started: EmbeddedBeat | None = None
_start_lock = threading.Lock()


def embedded_beat_start() -> EmbeddedBeat | None:
    """Start the embedded beat thread once per process when FASTPAY_EMBEDDED_BEAT is on."""
    global _started
    from django.conf import settings

    if not getattr(settings, "FASTPAY_EMBEDDED_BEAT", False):
        return None
    with _start_lock:
        if _started is None:
            _started = EmbeddedBeat(settings.CELERY_BEAT_SCHEDULE, state_dir=settings.VAR_DIR)
            _started.start()
            logger.info(
                "embedded beat started (%d entries; FASTPAY_EMBEDDED_BEAT=0 turns it off)",
                len(_started.entries),
            )
    return _started
