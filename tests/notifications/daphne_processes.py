"""Real daphne processes for the stream tests, on the test's own database.

PostgreSQL: the processes open the test database itself (the tests are transactional,
so what they wrote is committed). SQLite: the test database lives in memory, so it is
copied to a file (VACUUM INTO) once the test has written what it needs, and from then on
everything goes through the processes.
"""

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
DAPHNE = str(Path(sys.executable).with_name("daphne"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def shared_database_url(tmp_path) -> str:
    from django.db import connection

    if connection.vendor == "postgresql":
        s = connection.settings_dict
        auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
        return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    path = tmp_path / "shared.sqlite3"
    with connection.cursor() as cursor:
        cursor.execute("VACUUM INTO %s", [str(path)])
    return f"sqlite:///{path}"


def server_env(database_url: str, redis_url: str = "", **extra) -> dict:
    from django.conf import settings

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CELERY_BROKER_URL="",
        DEBUG="1",
        SECRET_KEY=settings.SECRET_KEY,  # the test's JWTs are valid there
        FASTPAY_EMBEDDED_BEAT="0",
        FASTPAY_RISK_ASSESSOR="wallets.risk.large_amount_review",
        FASTPAY_THROTTLE_USER="100000/min",
        LOG_LEVEL="WARNING",
        DB_POOL_MAX_SIZE="4",
        **extra,
    )
    return env


@contextmanager
def daphnes(count: int, env: dict, log_dir: Path):
    """`count` daphne processes (started at once), yielding their base URLs."""
    ports = [free_port() for _ in range(count)]
    procs = []
    for port in ports:
        log = open(log_dir / f"daphne-{port}.log", "wb")  # noqa: SIM115
        procs.append(
            subprocess.Popen(
                [DAPHNE, "-b", "127.0.0.1", "-p", str(port), "fastpay.asgi:application"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        for port, proc in zip(ports, procs, strict=True):
            _wait_ready(port, proc, log_dir / f"daphne-{port}.log")
        yield [f"127.0.0.1:{port}" for port in ports]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_ready(port: int, proc, log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/ping/", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"daphne on {port} did not start: {log.read_text()[-2000:]}")


async def pay_http(client: httpx.AsyncClient, host: str, token: str, payee: str, amount: str):
    response = await client.post(
        f"http://{host}/api/v1/payments/",
        json={"payee": payee, "token": "USDT", "amount": amount},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def read_event(ws, *, timeout: float = 10.0) -> dict:
    """The next event (pings answered, other stream.* messages skipped)."""
    import asyncio

    async def one():
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "stream.ping":
                await ws.send(json.dumps({"type": "stream.pong", "n": message["n"]}))
            elif message["type"] == "stream.error":
                raise AssertionError(f"stream error: {message}")
            elif not message["type"].startswith("stream."):
                return message

    return await asyncio.wait_for(one(), timeout)
