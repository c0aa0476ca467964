"""`make run`: the whole platform on one machine, stopped cleanly by Ctrl-C.

Every run starts a fresh local world — chain, committee and (on the SQLite default) the
platform's database with its demo data — so the three always agree: a platform database
that remembers a previous chain would hold FastPay sequences and balances no node knows.

0. the previous local world removed (var/), the platform migrated and seeded (seed_demo),
1. a local anvil (ANVIL_PORT, default 8545; refuses a port something already answers on),
2. the contracts deployed to it (Brownie, `make deploy-local`),
3. four authority nodes (anvil accounts #5-#8, SQLite each, following deposits),
4. the platform's FastPay account (anvil account #1) funded by a vault deposit the nodes
   credit, and the platform configured to use the committee (keys sealed under a KEK in
   var/),
5. the platform itself (daphne on HOST:PORT).

Run with the app virtualenv's python from the repo root (the Makefile does). Local use only:
keys are anvil's public development keys and the KEK is written next to them.
"""

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

VAR = ROOT / "var"
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

children: list[tuple[str, subprocess.Popen]] = []


def log(message: str) -> None:
    print(f"[make run] {message}", flush=True)


def spawn(name: str, cmd: list[str], env: dict | None = None) -> subprocess.Popen:
    # Own session: a terminal Ctrl-C reaches only this supervisor, which stops the children
    # in order (stop_all) instead of all of them at once.
    process = subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, **(env or {})}, start_new_session=True
    )
    children.append((name, process))
    return process


def run(cmd: list[str], env: dict | None = None) -> None:
    subprocess.run(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, check=True)


def stop_all(*_args) -> None:
    """Stop in reverse start order, each before the next: the platform, then the nodes
    (whose deposit followers still talk to the chain), then anvil."""
    for name, process in reversed(children):
        if process.poll() is None:
            log(f"stopping {name}")
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    children.clear()


def port_answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(what: str, check, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in children:
            if process.poll() is not None:
                raise SystemExit(f"{name} exited with {process.returncode} while starting")
        if check():
            return
        time.sleep(0.2)
    raise SystemExit(f"{what} did not come up within {timeout:.0f} s")


def start_chain(port: int) -> Web3:
    spawn(
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
            "--silent",
        ],
    )
    w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}"))
    wait_for("anvil", w3.is_connected)
    log(f"anvil on 127.0.0.1:{port}")
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


def start_committee(port: int) -> list[dict]:
    out = VAR / "authorities"
    env = {"DJANGO_SETTINGS_MODULE": "fastpay.settings_authority", "DEBUG": "1"}
    run(
        [
            PYTHON,
            "manage.py",
            "authority_local_committee",
            "--out",
            str(out),
            "--deployment",
            str(VAR / "deployment.json"),
            "--rpc-url",
            f"http://127.0.0.1:{port}",
        ],
        env=env,
    )
    nodes = json.loads((out / "nodes.json").read_text())
    for node in nodes:
        spawn(
            node["name"],
            [PYTHON, "manage.py", "run_authority", "--port", str(node["port"])],
            env={**node["env"], "DEBUG": "1"},
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
    """Seal the platform's keys under a fresh KEK and point the platform at the committee."""
    from fastpay import keyvault

    kek_text = keyvault.new_kek_text()
    kek = keyvault.kek_from_text(kek_text)
    key = anvil_key(PLATFORM_ACCOUNT)
    address = Account.from_key(key).address
    for name in ("platform-key.json", "chain-sender-key.json"):
        path = VAR / name
        path.write_text(keyvault.seal(key, kek, label=address))
        path.chmod(0o600)
    return {
        "FASTPAY_KEK": kek_text,
        "FASTPAY_COMMITTEE_FILE": str(VAR / "authorities" / "committee.json"),
        "FASTPAY_PLATFORM_KEY_FILE": str(VAR / "platform-key.json"),
        "FASTPAY_CHAIN_SENDER_KEY_FILE": str(VAR / "chain-sender-key.json"),
        "FASTPAY_CHAIN_RPC_URL": f"http://127.0.0.1:{port}",
        "FASTPAY_DEPLOYMENT_JSON": str(VAR / "deployment.json"),
    }


LOCAL_WORLD = ["deployment.json", "authorities", "platform-key.json", "chain-sender-key.json"]


def fresh_platform() -> None:
    """Remove the previous local world and set the platform up again with demo data."""
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
    run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"])
    run([PYTHON, "manage.py", "seed_demo"])


def main() -> None:
    port = int(os.environ.get("ANVIL_PORT") or 8545)
    host, http_port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        if port_answers(port):  # before touching anything
            raise SystemExit(
                f"something already listens on 127.0.0.1:{port}; stop it or run "
                f"`make run ANVIL_PORT=<free port>` (a stray node is never reused)"
            )
        fresh_platform()
        w3 = start_chain(port)
        deployment = deploy(port)
        start_committee(port)
        fund_platform(w3, deployment)
        env = platform_env(port)
        run([PYTHON, "manage.py", "tokens_use_deployment"], env=env)
        run([PYTHON, "manage.py", "committee_sync"], env=env)
        run([PYTHON, "manage.py", "committee_health"], env=env)
        spawn(
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
        )
        log(
            f"platform on http://{host}:{http_port}/ (admin: /admin/, API docs: /api/docs/); "
            "Ctrl-C stops everything"
        )
        while all(process.poll() is None for _, process in children):
            time.sleep(0.5)
        dead = [name for name, process in children if process.poll() is not None]
        log(f"{', '.join(dead)} stopped; stopping the rest")
    except KeyboardInterrupt:
        pass
    except subprocess.CalledProcessError as exc:
        log(f"a set-up step failed: {' '.join(map(str, exc.cmd))}")
        stop_all()
        raise SystemExit(1) from None
    finally:
        stop_all()


if __name__ == "__main__":
    main()
