"""Start an authority node: check its configuration, migrate its own database, start the
deposit follower (a child process, when CHAIN_RPC_URL and DEPLOYMENT_JSON are set) and
serve the node API with gunicorn (gthread). Each worker runs the committee follower in
threads: the schedule watcher and the epoch handovers (authorities.node.runtime).

    DJANGO_SETTINGS_MODULE=fastpay.settings_authority manage.py run_authority --port 9101
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

MANAGE_PY = Path(__file__).resolve().parents[4] / "manage.py"


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the node process dies, however it dies (Linux)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Command(BaseCommand):
    help = "Migrate this node's database, follow deposits and serve the authority API."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=9101)
        parser.add_argument("--workers", type=int, default=None, help="AUTHORITY_WORKERS")
        parser.add_argument("--threads", type=int, default=None, help="AUTHORITY_THREADS")
        parser.add_argument(
            "--no-deposits", action="store_true", help="do not start the deposit follower"
        )

    def handle(self, *args, **options):
        if "settings_authority" not in str(getattr(settings, "SETTINGS_MODULE", "")):
            raise CommandError("run with DJANGO_SETTINGS_MODULE=fastpay.settings_authority")
        from authorities.node.runtime import node, quiet_here

        quiet_here()  # no follower threads in this process: it forks the workers
        try:
            rt = node()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        call_command("migrate", interactive=False, verbosity=0)
        if settings.AUTHORITY_GENESIS_FILE:
            from authorities.node.services.genesis import genesis_credit, genesis_read

            try:
                entries = genesis_read(settings.AUTHORITY_GENESIS_FILE)
            except Exception as exc:  # missing file, bad JSON, bad entries: name the variable
                raise CommandError(f"AUTHORITY_GENESIS_FILE: {exc}") from None
            genesis_credit(entries=entries)
        # No connection, and no psycopg pool (its sockets and threads), may cross the fork
        # into gunicorn's workers: two processes on one socket corrupt both sessions.
        for connection in connections.all():
            connection.close()
            if hasattr(connection, "close_pool"):
                connection.close_pool()

        children = []
        if not options["no_deposits"] and settings.CHAIN_RPC_URL and settings.DEPLOYMENT_JSON:
            children.append(_child("follow_deposits"))
        self.stdout.write(
            f"authority {rt.name} ({rt.signer.address}) epoch {rt.epoch} on "
            f"http://{options['host']}:{options['port']}"
            + (" with the deposit follower" if children else "")
        )
        self.stdout.flush()
        try:
            _serve(options)
        finally:
            for child in children:
                child.terminate()
            for child in children:
                try:
                    child.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    child.kill()


def _worker_started(worker) -> None:
    from authorities.node.runtime import followers_start

    followers_start()


def _child(command: str) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, str(MANAGE_PY), command], preexec_fn=_die_with_parent
    )


def _serve(options) -> None:
    from gunicorn.app.base import BaseApplication

    from authorities.node.wsgi import application

    class NodeServer(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{options['host']}:{options['port']}")
            self.cfg.set("workers", options["workers"] or settings.AUTHORITY_WORKERS)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", options["threads"] or settings.AUTHORITY_THREADS)
            self.cfg.set("timeout", 60)
            self.cfg.set("graceful_timeout", 5)
            self.cfg.set("accesslog", None)
            self.cfg.set("loglevel", "warning")
            self.cfg.set("post_worker_init", _worker_started)

        def load(self):
            return application

    try:
        NodeServer().run()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
