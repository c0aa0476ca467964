"""`make run`: the whole platform on one machine, stopped cleanly by Ctrl-C.

The local world lives under ``var/`` (``FASTPAY_VAR_DIR``) and persists across runs: the
chain (anvil's state in var/anvil-state.json, saved every few seconds and on exit), the
deployment, the authority nodes' keys, KEK and databases, the platform's sealed keys and
its KEK (var/platform-kek) and, on the SQLite default, the platform's database. The first
run (or the first after `make reset`) builds it:

0. the platform migrated and seeded (seed_demo),
1. a local anvil (ANVIL_PORT, default 8545; refuses a port something already answers on),
2. the contracts deployed to it (Brownie, `make deploy-local`),
3. four authority nodes (anvil accounts #5-#8, SQLite each, following deposits; ports from
   NODE_BASE_PORT, default 9101),
4. the platform's FastPay account (anvil account #1) funded by a vault deposit the nodes
   credit, and the platform configured to use the committee (keys sealed under a KEK in
   var/),
5. the platform itself (daphne on HOST:PORT).

A later run finds that world (var/world.json, and the deployment's contracts on the
reloaded chain) and only starts it again: anvil on its saved state and ports, the nodes on
their databases, the platform on the same sealed keys (steps 2 and 4 and the seeding are
skipped; migrations run). A var/ that is not a complete world (the layout of an older
version) is replaced by a fresh one; one whose chain lost the contracts stops with a hint
to run `make reset`, which removes var/'s world and starts a fresh one.

While it runs, the supervisor restarts an authority node or the platform that exits (with
backoff: 1 s, 2 s, 4 s ... up to 30 s, reset after a minute of uptime), saying so, and
keeps the rest running; only anvil exiting stops everything (the nodes' and the
platform's state follow the chain).

Run with the app virtualenv's python from the repo root (the Makefile does). Local use only:
keys are anvil's public development keys and the KEKs are written next to them.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from eth_account import Account
from web3 import Web3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the project's Django-free helpers

from authorities.node.local import anvil_key  # noqa: E402

VAR = Path(os.environ.get("FASTPAY_VAR_DIR") or ROOT / "var").resolve()
PYTHON = sys.executable
PLATFORM_ACCOUNT = 1  # anvil dev account: the platform's FastPay account and wallet
PLATFORM_FLOAT_TOKENS = 1_000_000  # whole tokens deposited into the platform's account
ERC20_ABI = [
    {
        "name": "mint",
        "type": "function",
        "stateMutability": "nonpayable",
        "outputs": [],
        "inputs": [{"name": "to", "type": "address"}, {"name": "amount", "type": "uint256"}],
    },
    {
        "name": "approve",
        "type": "function",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "spender", "type": "address"}, {"name": "amount", "type": "uint256"}],
        "outputs": [{"name": "", "type": "bool"}],
    },
]


def log(message: str) -> None:
    print(f"[make run] {message}", flush=True)


class Child:
    """One supervised process. ``restart``: started again when it exits; otherwise its
    exit stops the whole local world."""

    def __init__(self, name: str, cmd: list[str], env: dict, *, restart: bool):
        self.name, self.cmd, self.env, self.restart = name, cmd, env, restart
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.quick_exits = 0  # exits in a row within STABLE_S of starting
        self.restart_at: float | None = None
        self.restarts = 0

    def start(self, clock) -> None:
        # Own session (and process group): a terminal Ctrl-C reaches only the supervisor,
        # which stops the children in order; a dead child's workers are killed with it.
        self.process = subprocess.Popen(
            self.cmd, cwd=ROOT, env={**os.environ, **self.env}, start_new_session=True
        )
        self.started_at = clock()
        self.restart_at = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """Signal what is left of the child's process group (gunicorn workers, the deposit
        follower): a restart must find its port free."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, sig)


class Supervisor:
    """Starts children, watches them (``check``), restarts the restartable ones with
    backoff and stops them all in reverse start order."""

    BACKOFF_MAX_S = 30.0
    STABLE_S = 60.0  # up this long: its next exit restarts it after 1 s again

    def __init__(self, *, clock=time.monotonic, say=log):
        self.children: list[Child] = []
        self.clock, self.say = clock, say

    def spawn(self, name: str, cmd: list[str], env: dict | None = None, *, restart: bool) -> Child:
        child = Child(name, cmd, env or {}, restart=restart)
        child.start(self.clock)
        self.children.append(child)
        return child

    def check(self) -> str | None:
        """One look at every child: schedule or perform restarts; return why everything
        must stop (a child that is not restarted exited), else None."""
        now = self.clock()
        for child in self.children:
            if child.alive():
                continue
            if child.restart_at is None:
                code = child.process.returncode if child.process else None
                if not child.restart:
                    return f"{child.name} exited with {code}"
                child.kill_group()
                if now - child.started_at >= self.STABLE_S:
                    child.quick_exits = 0
                delay = min(self.BACKOFF_MAX_S, 2.0**child.quick_exits)
                child.quick_exits += 1
                child.restart_at = now + delay
                running = [c.name for c in self.children if c.alive()]
                self.say(
                    f"{child.name} exited with {code}; restarting it in {delay:.0f} s "
                    f"(still running: {', '.join(running) or 'nothing'})"
                )
            elif now >= child.restart_at:
                child.start(self.clock)
                child.restarts += 1
                self.say(
                    f"{child.name} restarted (pid {child.process.pid}, restart #{child.restarts})"
                )
        return None

    def watch(self, interval: float = 0.5) -> str:
        """Supervise until a child that is not restarted exits; returns why."""
        while True:
            reason = self.check()
            if reason is not None:
                return reason
            time.sleep(interval)

    def stop_all(self) -> None:
        """Stop in reverse start order, each before the next: the platform, then the nodes
        (whose deposit followers still talk to the chain), then anvil (which saves its
        state on the way out)."""
        for child in reversed(self.children):
            if child.alive():
                self.say(f"stopping {child.name}")
                child.process.terminate()
                try:
                    child.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.process.kill()
                    child.process.wait()
            child.kill_group()
        self.children.clear()


supervisor = Supervisor()


def run(cmd: list[str], env: dict | None = None) -> None:
    subprocess.run(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, check=True)


def port_answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(what: str, check, timeout: float = 60) -> None:
    """Wait for ``check()`` while starting up: any child exiting now is fatal."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in supervisor.children:
            if not child.alive():
                raise SystemExit(
                    f"{child.name} exited with {child.process.returncode} while starting"
                )
        if check():
            return
        time.sleep(0.2)
    raise SystemExit(f"{what} did not come up within {timeout:.0f} s")


def start_chain(port: int) -> Web3:
    """anvil on its saved state (var/anvil-state.json: loaded if present, saved every
    STATE_INTERVAL_S and on exit)."""
    supervisor.spawn(
        "anvil",
        [
            str(ROOT / "node_modules/.bin/anvil"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--hardfork",
            "cancun",
            "--gas-limit",
            "60000000",
            "--base-fee",
            "0",
            "--state",
            str(VAR / ANVIL_STATE),
            "--state-interval",
            str(STATE_INTERVAL_S),
            "--silent",
        ],
        restart=False,
    )
    w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}"))
    wait_for("anvil", w3.is_connected)
    log(f"anvil on 127.0.0.1:{port} (block {w3.eth.block_number})")
    return w3


def deploy(port: int) -> dict:
    deployment = VAR / "deployment.json"
    run(
        [
            "make",
            "--no-print-directory",
            "deploy-local",
            f"ANVIL_PORT={port}",
            f"DEPLOYMENT_JSON={deployment}",
        ]
    )
    return json.loads(deployment.read_text())


def write_committee(port: int, base_port: int) -> None:
    env = {"DJANGO_SETTINGS_MODULE": "fastpay.settings_authority", "DEBUG": "1"}
    run(
        [
            PYTHON,
            "manage.py",
            "authority_local_committee",
            "--out",
            str(VAR / "authorities"),
            "--deployment",
            str(VAR / "deployment.json"),
            "--rpc-url",
            f"http://127.0.0.1:{port}",
            "--base-port",
            str(base_port),
        ],
        env=env,
    )


def start_committee() -> list[dict]:
    """The nodes of var/authorities/nodes.json, each on its own database there."""
    nodes = json.loads((VAR / "authorities" / "nodes.json").read_text())
    for node in nodes:
        if port_answers(node["port"]):
            raise SystemExit(
                f"something already listens on 127.0.0.1:{node['port']} ({node['name']}'s "
                "port); stop it (a stray node is never reused)"
            )
    for node in nodes:
        supervisor.spawn(
            node["name"],
            [PYTHON, "manage.py", "run_authority", "--port", str(node["port"])],
            env={**node["env"], "DEBUG": "1"},
            restart=True,
        )
    for node in nodes:
        wait_for(node["name"], lambda n=node: port_answers(n["port"]))
        log(f"{node['name']} {node['address']} on {node['url']}")
    return nodes


def fund_platform(w3: Web3, deployment: dict) -> str:
    """Deposit PLATFORM_FLOAT_TOKENS of each token from the platform's wallet into its
    FastPay account (register, mint the mock token, approve the vault, deposit)."""
    key = anvil_key(PLATFORM_ACCOUNT)
    account = Account.from_key(key)
    contracts = deployment["contracts"]
    registry = w3.eth.contract(
        address=contracts["FastPayRegistry"]["address"], abi=contracts["FastPayRegistry"]["abi"]
    )
    vault = contracts["TokenVault"]["address"]

    def send(call):
        tx = call.build_transaction(
            {"from": account.address, "nonce": w3.eth.get_transaction_count(account.address)}
        )
        receipt = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        )
        if receipt["status"] != 1:
            raise SystemExit(f"platform funding transaction reverted: {call.fn_name}")

    if not registry.functions.isRegistered(account.address).call():
        send(registry.functions.registerUser())
    for token in deployment["tokens"]:
        amount = PLATFORM_FLOAT_TOKENS * 10 ** int(token["decimals"])
        erc20 = w3.eth.contract(address=token["address"], abi=ERC20_ABI)
        send(erc20.functions.mint(account.address, amount))
        send(erc20.functions.approve(vault, amount))
        send(registry.functions.depositTokens(token["address"], amount))
    w3.provider.make_request("anvil_mine", [2])  # past the nodes' confirmation depth
    log(
        f"platform FastPay account {account.address} funded with "
        f"{PLATFORM_FLOAT_TOKENS} of each token"
    )
    return account.address


def platform_env(port: int) -> dict:
    """The platform's environment: its keys sealed under its KEK (var/platform-kek), made
    once per world, and the committee it uses."""
    from fastpay import keyvault

    kek_path = VAR / "platform-kek"
    if not kek_path.exists():
        kek_path.write_text(keyvault.new_kek_text() + "\n")
        kek_path.chmod(0o600)
    kek_text = kek_path.read_text().strip()
    kek = keyvault.kek_from_text(kek_text)
    key = anvil_key(PLATFORM_ACCOUNT)
    address = Account.from_key(key).address
    for name in ("platform-key.json", "chain-sender-key.json"):
        path = VAR / name
        if not path.exists():
            path.write_text(keyvault.seal(key, kek, label=address))
            path.chmod(0o600)
    return {
        "FASTPAY_KEK": kek_text,
        "FASTPAY_VAR_DIR": str(VAR),
        "FASTPAY_COMMITTEE_FILE": str(VAR / "authorities" / "committee.json"),
        "FASTPAY_PLATFORM_KEY_FILE": str(VAR / "platform-key.json"),
        "FASTPAY_CHAIN_SENDER_KEY_FILE": str(VAR / "chain-sender-key.json"),
        "FASTPAY_HD_SEED_FILE": str(VAR / HD_SEED),
        "FASTPAY_CHAIN_RPC_URL": f"http://127.0.0.1:{port}",
        "FASTPAY_DEPLOYMENT_JSON": str(VAR / "deployment.json"),
    }


#: what makes a local world (kept across runs; removed by `make reset`)
ANVIL_STATE = "anvil-state.json"
STATE_INTERVAL_S = 5
WORLD = "world.json"
HD_SEED = "hd-seed.json"  # the platform's HD seed (wallet_init), sealed under platform-kek
LOCAL_WORLD = [
    WORLD,
    ANVIL_STATE,
    "deployment.json",
    "authorities",
    "platform-kek",
    "platform-key.json",
    "chain-sender-key.json",
    HD_SEED,
    "beat-state.json",
]


def world_read() -> dict | None:
    """var/world.json (its ports) when var/ holds every piece of a local world, else None
    (nothing there yet, or an older layout: a fresh world replaces it)."""
    if not all((VAR / name).exists() for name in LOCAL_WORLD if name != "beat-state.json"):
        return None
    if not os.environ.get("DATABASE_URL") and not (VAR / "db.sqlite3").exists():
        return None
    try:
        world = json.loads((VAR / WORLD).read_text())
        return {
            "anvil_port": int(world["anvil_port"]),
            "node_base_port": int(world["node_base_port"]),
        }
    except (ValueError, KeyError, TypeError):
        return None


def world_on_chain(w3: Web3, deployment: dict) -> bool:
    """The reloaded chain still holds the deployment's contracts."""
    return all(
        w3.eth.get_code(contract["address"]) not in (b"", None)
        for contract in deployment["contracts"].values()
    )


def world_remove() -> None:
    """Remove the local world from var/ (the platform's SQLite database too)."""
    import shutil

    for name in LOCAL_WORLD:
        path = VAR / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    if os.environ.get("DATABASE_URL"):
        log("DATABASE_URL is set: keeping that database (its offline state may predate this chain)")
    else:
        for path in VAR.glob("db.sqlite3*"):
            path.unlink()


def fresh_platform() -> None:
    """The platform's database migrated and seeded with demo data."""
    run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"])
    run([PYTHON, "manage.py", "seed_demo"])


def reset() -> None:
    """`make reset`: the next `make run` starts a fresh local world."""
    world_remove()
    log(f"local world in {VAR} removed; the next `make run` starts a fresh one")


def build_world(port: int, base_port: int, env: dict) -> None:
    """First run: a fresh world (deploy, committee, funding, demo data)."""
    world_remove()
    VAR.mkdir(parents=True, exist_ok=True)
    fresh_platform()
    w3 = start_chain(port)
    deployment = deploy(port)
    write_committee(port, base_port)
    start_committee()
    fund_platform(w3, deployment)
    env.update(platform_env(port))
    run([PYTHON, "manage.py", "tokens_use_deployment"], env=env)
    # the cold wallet: a Safe 1.4.1, 2 of 3 anvil accounts #2-#4 (docs/treasury.md)
    run(
        [PYTHON, "manage.py", "treasury_safe", "deploy-dev", "--chain-id", str(w3.eth.chain_id)],
        env=env,
    )
    # once per world: a new seed, its deposit/operations xpubs and platform addresses
    run([PYTHON, "manage.py", "wallet_init"], env=env)
    (VAR / WORLD).write_text(json.dumps({"anvil_port": port, "node_base_port": base_port}))


def resume_world(world: dict, env: dict) -> None:
    """A later run: the same world started again (nothing deployed, funded or seeded)."""
    port = world["anvil_port"]
    log(f"resuming the local world in {VAR} (`make reset` starts a fresh one)")
    w3 = start_chain(port)
    if not world_on_chain(w3, json.loads((VAR / "deployment.json").read_text())):
        raise SystemExit(
            f"the chain in {VAR / ANVIL_STATE} does not hold the deployment's contracts: "
            "var/ is not one consistent world; run `make reset` for a fresh one"
        )
    run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env=env)
    start_committee()
    env.update(platform_env(port))


def main() -> None:
    if sys.argv[1:] == ["reset"]:
        reset()
        return
    VAR.mkdir(parents=True, exist_ok=True)
    os.environ["FASTPAY_VAR_DIR"] = str(VAR)  # the platform's database, beat state, ...
    world = world_read()
    port = world["anvil_port"] if world else int(os.environ.get("ANVIL_PORT") or 8545)
    base_port = world["node_base_port"] if world else int(os.environ.get("NODE_BASE_PORT") or 9101)
    if world and os.environ.get("ANVIL_PORT") and int(os.environ["ANVIL_PORT"]) != port:
        log(f"this world's anvil is on port {port} (ANVIL_PORT ignored; `make reset` to change)")
    host, http_port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    env: dict = {}
    try:
        if port_answers(port):  # before touching anything
            raise SystemExit(
                f"something already listens on 127.0.0.1:{port}; stop it or run "
                f"`make run ANVIL_PORT=<free port>` (a stray node is never reused)"
            )
        if world:
            resume_world(world, env)
        else:
            build_world(port, base_port, env)
        run([PYTHON, "manage.py", "committee_sync"], env=env)
        run([PYTHON, "manage.py", "committee_health"], env=env)
        supervisor.spawn(
            "platform",
            [
                str(Path(PYTHON).parent / "daphne"),
                "-b",
                host,
                "-p",
                http_port,
                "fastpay.asgi:application",
            ],
            env=env,
            restart=True,
        )
        log(
            f"platform on http://{host}:{http_port}/ (admin: /admin/, API docs: /api/docs/); "
            "it runs the beat schedule itself; a node or the platform that exits is "
            "restarted; Ctrl-C stops everything"
        )
        log(f"{supervisor.watch()}; stopping the rest (the world stays in {VAR})")
    except KeyboardInterrupt:
        pass
    except subprocess.CalledProcessError as exc:
        log(f"a set-up step failed: {' '.join(map(str, exc.cmd))}")
        supervisor.stop_all()
        raise SystemExit(1) from None
    finally:
        supervisor.stop_all()


if __name__ == "__main__":
    main()
