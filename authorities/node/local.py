"""A local committee for development and tests: keys for anvil's dev accounts #5-#8 (the
public 'test test ... junk' mnemonic: never use them anywhere else) sealed under a freshly
generated KEK, the committee file (from var/deployment.json when there is one) and one
environment per node. Django-free, so the test suite and `make run` can import it."""

from __future__ import annotations

import json
from pathlib import Path

from eth_account import Account

from fastpay import keyvault

ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
LOCAL_ACCOUNTS = (5, 6, 7, 8)
DEFAULT_STAKE = 10 * 10**18
# Without a deployment (no chain): placeholder contract addresses on anvil's chain id.
PLACEHOLDER_CHAIN_ID = 31337
PLACEHOLDER_VERIFIER = "0x" + "00" * 19 + "f1"
PLACEHOLDER_REDEMPTION = "0x" + "00" * 19 + "f2"
PLACEHOLDER_VAULT = "0x" + "00" * 19 + "f3"


def anvil_key(index: int) -> bytes:
    Account.enable_unaudited_hdwallet_features()
    account = Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return bytes(account.key)


def committee_document(
    *, deployment: dict | None, members: list[dict], tokens: list[dict] | None = None
) -> dict:
    """The committee file's content (format in docs/authorities.md)."""
    if deployment is None:
        return {
            "epoch": 1,
            "chain_id": PLACEHOLDER_CHAIN_ID,
            "verifying_contract": PLACEHOLDER_VERIFIER,
            "redemption_address": PLACEHOLDER_REDEMPTION,
            "vault_address": PLACEHOLDER_VAULT,
            "members": members,
            "tokens": tokens or [],
        }
    contracts = deployment["contracts"]
    return {
        "epoch": int(deployment["committee"]["epoch"]),
        "chain_id": int(deployment["chain_id"]),
        "verifying_contract": contracts["CertificateVerifier"]["address"],
        "redemption_address": contracts["OfflinePaymentProcessor"]["address"],
        # a deployment without the vault (the node tests' minimal chains) names none
        "vault_address": contracts.get("TokenVault", {}).get("address"),
        "members": members,
        "tokens": [
            {"symbol": t["symbol"], "address": t["address"], "id": int(t["id"])}
            for t in deployment.get("tokens", [])
        ]
        if tokens is None
        else tokens,
    }


def write_local_committee(
    out_dir: Path,
    *,
    keys: list[bytes] | None = None,
    deployment_path: str = "",
    rpc_url: str = "",
    ports: list[int] | None = None,
    host: str = "127.0.0.1",
    confirmations: int = 1,
    byzantine: tuple[str, ...] = (),
    tokens: list[dict] | None = None,
) -> list[dict]:
    """Write keys, committee.json and nodes.json under ``out_dir``; returns per node
    ``{"name", "address", "port", "url", "env"}`` (env: what run_authority needs)."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = keys or [anvil_key(i) for i in LOCAL_ACCOUNTS]
    ports = ports or [9101 + i for i in range(len(keys))]
    deployment = json.loads(Path(deployment_path).read_text()) if deployment_path else None
    stakes = {}
    if deployment is not None:
        stakes = {
            m["address"].lower(): int(m["stake_wei"]) for m in deployment["committee"]["members"]
        }
    kek_text = keyvault.new_kek_text()
    kek = keyvault.kek_from_text(kek_text)
    (out_dir / "kek").write_text(kek_text + "\n")
    (out_dir / "kek").chmod(0o600)
    nodes, members = [], []
    for i, (key, port) in enumerate(zip(keys, ports, strict=True)):
        name = f"authority-{i + 1}"
        address = Account.from_key(key).address
        if deployment is not None and address.lower() not in stakes:
            raise ValueError(
                f"{address} ({name}) is not in the deployment's committee: the deployment must "
                "register the keys given (anvil accounts #5-#8 by default, see "
                "deploy/committee.local.json)"
            )
        key_file = out_dir / f"{name}.key"
        key_file.write_text(keyvault.seal(key, kek, label=address))
        key_file.chmod(0o600)
        url = f"http://{host}:{port}"
        members.append(
            {
                "name": name,
                "address": address,
                "stake": stakes.get(address.lower(), DEFAULT_STAKE),
                "url": url,
            }
        )
        env = {
            "DJANGO_SETTINGS_MODULE": "fastpay.settings_authority",
            "AUTHORITY_NAME": name,
            "AUTHORITY_KEY_FILE": str(key_file),
            "AUTHORITY_KEK": kek_text,
            "AUTHORITY_COMMITTEE_FILE": str(out_dir / "committee.json"),
            "DATABASE_URL": f"sqlite:///{out_dir / (name + '.sqlite3')}",
            "AUTHORITY_CONFIRMATIONS": str(confirmations),
        }
        if rpc_url and deployment_path:
            env["CHAIN_RPC_URL"] = rpc_url
            env["DEPLOYMENT_JSON"] = str(Path(deployment_path).resolve())
        if name in byzantine:
            env["AUTHORITY_BYZANTINE"] = "1"
        nodes.append({"name": name, "address": address, "port": port, "url": url, "env": env})
    document = committee_document(deployment=deployment, members=members, tokens=tokens)
    (out_dir / "committee.json").write_text(json.dumps(document, indent=2) + "\n")
    (out_dir / "nodes.json").write_text(json.dumps(nodes, indent=2) + "\n")
    (out_dir / "nodes.json").chmod(0o600)  # it holds the KEK (local committee only)
    return nodes
