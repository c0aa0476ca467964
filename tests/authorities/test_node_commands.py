"""Operator commands of the node, run as processes: keygen, KEK rotation, the local
committee writer, and start-up refusing bad configuration with the variable's name."""

import json
import os
import stat
import subprocess
import sys

from eth_account import Account

from authorities.node.local import LOCAL_ACCOUNTS, anvil_key
from fastpay import keyvault
from tests.authorities.nodes import ROOT, local_committee


def manage(*args, env=None, timeout=60):
    full_env = {
        **os.environ,
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "fastpay.settings_authority",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_keygen_seals_a_fresh_key_readable_only_by_its_owner(tmp_path):
    kek = keyvault.new_kek_text()
    path = tmp_path / "node.key"
    out = manage("authority_keygen", "--key-file", str(path), env={"AUTHORITY_KEK": kek})
    assert out.returncode == 0, out.stderr
    address = out.stdout.split()[0]
    secret = keyvault.unseal(path.read_text(), keyvault.kek_from_text(kek))
    assert Account.from_key(secret).address == address
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "private" not in path.read_text() and secret.hex() not in path.read_text()
    again = manage("authority_keygen", "--key-file", str(path), env={"AUTHORITY_KEK": kek})
    assert again.returncode != 0 and "exists" in again.stderr


def test_keygen_imports_a_key_from_the_environment_and_rotation_rewraps_it(tmp_path):
    old, new = keyvault.new_kek_text(), keyvault.new_kek_text()
    key = anvil_key(LOCAL_ACCOUNTS[0])
    path = tmp_path / "node.key"
    out = manage(
        "authority_keygen",
        "--key-file",
        str(path),
        "--from-env",
        "IMPORT_KEY",
        env={"AUTHORITY_KEK": old, "IMPORT_KEY": "0x" + key.hex()},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(Account.from_key(key).address)
    out = manage(
        "authority_rotate_kek",
        env={"AUTHORITY_KEK": old, "NEW_AUTHORITY_KEK": new, "AUTHORITY_KEY_FILE": str(path)},
    )
    assert out.returncode == 0, out.stderr
    assert keyvault.unseal(path.read_text(), keyvault.kek_from_text(new)) == key
    try:
        keyvault.unseal(path.read_text(), keyvault.kek_from_text(old))
        raise AssertionError("the old KEK still opens the key")
    except keyvault.KeyVaultError:
        pass
    # rotating with the wrong current KEK changes nothing
    out = manage(
        "authority_rotate_kek",
        env={"AUTHORITY_KEK": old, "NEW_AUTHORITY_KEK": new, "AUTHORITY_KEY_FILE": str(path)},
    )
    assert out.returncode != 0 and "AUTHORITY_KEK" in out.stderr
    assert keyvault.unseal(path.read_text(), keyvault.kek_from_text(new)) == key


def test_the_local_committee_command_writes_four_nodes(tmp_path):
    out = manage("authority_local_committee", "--out", str(tmp_path), "--base-port", "9301")
    assert out.returncode == 0, out.stderr
    committee = json.loads((tmp_path / "committee.json").read_text())
    addresses = [Account.from_key(anvil_key(i)).address for i in LOCAL_ACCOUNTS]
    assert [m["address"] for m in committee["members"]] == addresses
    assert [m["url"] for m in committee["members"]] == [
        f"http://127.0.0.1:{9301 + i}" for i in range(4)
    ]
    env = dict(
        line.split("=", 1) for line in (tmp_path / "authority-2.env").read_text().splitlines()
    )
    assert env["AUTHORITY_NAME"] == "authority-2"
    key = keyvault.unseal(
        (tmp_path / "authority-2.key").read_text(), keyvault.kek_from_text(env["AUTHORITY_KEK"])
    )
    assert Account.from_key(key).address == addresses[1]


def test_start_up_names_the_variable_that_is_wrong(tmp_path):
    with local_committee(tmp_path, start=False) as nodes:
        env = nodes[0].env
        cases = [
            ({"AUTHORITY_NAME": ""}, "AUTHORITY_NAME"),
            ({"AUTHORITY_KEK": keyvault.new_kek_text()}, "AUTHORITY_KEK"),
            ({"AUTHORITY_KEY_FILE": str(tmp_path / "missing.key")}, "AUTHORITY_KEY_FILE"),
            (
                {"AUTHORITY_COMMITTEE_FILE": str(tmp_path / "nodes.json")},
                "AUTHORITY_COMMITTEE_FILE",
            ),
            ({"AUTHORITY_CONFIRMATIONS": "zero"}, "AUTHORITY_CONFIRMATIONS"),
            ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ]
        for change, variable in cases:
            out = manage("run_authority", "--port", "1", env={**env, **change})
            assert out.returncode != 0, change
            assert variable in out.stderr, (change, out.stderr[-500:])
