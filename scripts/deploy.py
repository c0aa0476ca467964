"""Deploy FastPay's contracts with Brownie and write the deployment JSON.

    brownie run scripts/deploy.py --network <network>      (or: make deploy-local)

Environment:
    COMMITTEE_CONFIG   JSON file with tokens, roles and the initial committee
                       (default deploy/committee.local.json)
    DEPLOYMENT_JSON    where to write addresses + ABIs (default var/deployment.json)
    DEPLOYER_PRIVATE_KEY  deployer key on live networks (development uses accounts[0])

The JSON's top-level ``redemption_address`` is the OfflinePaymentProcessor's address: the
recipient of redemption certificates (docs/protocol.md, "Redemption"), which authorities
serve in ``/committee`` and clients put in the orders that leave FastPay.

`deploy_fastpay`, `list_tokens` and `register_committee` are also what the Brownie tests
(tests/contracts/conftest.py) and the gas bench use, so all three deploy the same way.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

from brownie import (
    AuthorityManager,
    CertificateVerifier,
    CommitteeConsensus,
    FastPayRegistry,
    MockUSDC,
    MockUSDT,
    OfflinePaymentProcessor,
    TokenVault,
    accounts,
    chain,
    network,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "deploy" / "committee.local.json"
DEFAULT_OUTPUT = ROOT / "var" / "deployment.json"
MIN_MIGRATION_DELAY = 48 * 3600
CONTRACTS = (
    "TokenVault",
    "FastPayRegistry",
    "CommitteeConsensus",
    "CertificateVerifier",
    "AuthorityManager",
    "OfflinePaymentProcessor",
)


def deploy_fastpay(
    deployer,
    *,
    guardian=None,
    settler=None,
    treasury=None,
    migration_delay=MIN_MIGRATION_DELAY,
    min_stake=10**18,
    reward_bps=1_000,
):
    """Deploy and wire every FastPay contract; returns them in a namespace.

    The deployer gets DEFAULT_ADMIN_ROLE everywhere (list tokens, register the committee,
    then ``hand_over_admin``); ``guardian`` may pause and cancel a vault migration;
    ``settler`` submits batches; ``treasury`` receives slashed stake.
    """
    tx = {"from": deployer}
    guardian = guardian or deployer
    treasury = treasury or deployer
    vault = TokenVault.deploy(deployer, guardian, migration_delay, tx)
    registry = FastPayRegistry.deploy(deployer, guardian, vault, tx)
    consensus = CommitteeConsensus.deploy(deployer, tx)
    verifier = CertificateVerifier.deploy(consensus, tx)
    manager = AuthorityManager.deploy(
        deployer, consensus, verifier, min_stake, reward_bps, treasury, tx
    )
    processor = OfflinePaymentProcessor.deploy(deployer, guardian, vault, verifier, tx)

    vault.grantRole(vault.DEPOSITOR_ROLE(), registry, tx)
    vault.grantRole(vault.PROCESSOR_ROLE(), processor, tx)
    consensus.grantRole(consensus.MANAGER_ROLE(), manager, tx)
    if settler is not None:
        processor.grantRole(processor.SETTLER_ROLE(), settler, tx)
    return SimpleNamespace(
        vault=vault,
        registry=registry,
        consensus=consensus,
        verifier=verifier,
        manager=manager,
        processor=processor,
    )


def hand_over_admin(system, deployer, admin):
    """Give DEFAULT_ADMIN_ROLE to ``admin`` everywhere and drop the deployer's."""
    tx = {"from": deployer}
    for contract in (
        system.vault,
        system.registry,
        system.consensus,
        system.manager,
        system.processor,
    ):
        contract.grantRole(contract.DEFAULT_ADMIN_ROLE(), admin, tx)
        contract.renounceRole(contract.DEFAULT_ADMIN_ROLE(), deployer, tx)


def list_tokens(system, admin, tokens, ledger_decimals=6):
    """Allow-list ``tokens`` in the vault (ids follow the order given)."""
    for token in tokens:
        system.vault.addToken(token, ledger_decimals, {"from": admin})


def register_committee(system, admin, members):
    """Register ``members`` [(address, stake_wei)] and start the next epoch with them."""
    for address, stake in members:
        system.manager.registerAuthority(address, {"from": admin, "value": stake})
    return system.manager.advanceEpoch({"from": admin}).return_value


def _deployer():
    if network.show_active() in ("development",) or network.show_active().endswith("-fork"):
        return accounts[0]
    key = os.environ.get("DEPLOYER_PRIVATE_KEY")
    if not key:
        raise SystemExit("DEPLOYER_PRIVATE_KEY must be set to deploy on a live network")
    return accounts.add(key)


def _resolve_token(entry, deployer):
    """A token from the config: an address, or "mock:USDT"/"mock:USDC" for local chains."""
    address = entry["address"]
    if address == "mock:USDT":
        return MockUSDT.deploy({"from": deployer})
    if address == "mock:USDC":
        return MockUSDC.deploy({"from": deployer})
    from brownie import Contract

    return Contract.from_abi(entry["symbol"], address, MockUSDT.abi)


def _abi(name):
    from brownie import project

    return getattr(project.get_loaded_projects()[0], name).abi


def main():
    from scripts.anvil_receipts import install as wait_for_receipts

    wait_for_receipts()
    config_path = Path(os.environ.get("COMMITTEE_CONFIG", DEFAULT_CONFIG))
    output = Path(os.environ.get("DEPLOYMENT_JSON", DEFAULT_OUTPUT))
    config = json.loads(config_path.read_text())
    deployer = _deployer()

    roles = config.get("roles", {})
    system = deploy_fastpay(
        deployer,
        guardian=roles.get("guardian") or deployer,
        settler=roles.get("settler") or deployer,
        treasury=roles.get("treasury") or None,
        migration_delay=int(config.get("migration_delay_seconds", MIN_MIGRATION_DELAY)),
        min_stake=int(config["min_stake_wei"]),
        reward_bps=int(config["reward_bps"]),
    )
    tokens = []
    for entry in config["tokens"]:
        token = _resolve_token(entry, deployer)
        system.vault.addToken(token, int(entry.get("ledger_decimals", 6)), {"from": deployer})
        tokens.append(
            {
                "symbol": entry["symbol"],
                "address": token.address,
                "id": len(tokens),
                "decimals": int(token.decimals()),
                "ledger_decimals": int(entry.get("ledger_decimals", 6)),
            }
        )

    members = [(a["address"], int(a["stake_wei"])) for a in config["authorities"]]
    epoch = register_committee(system, deployer, members)
    admin = roles.get("admin") or deployer
    if admin != deployer:
        hand_over_admin(system, deployer, admin)

    deployment = {
        "network": network.show_active(),
        "chain_id": chain.id,
        "block_number": chain.height,
        "eip712_domain": {
            "name": "FastPay",
            "version": "1",
            "chainId": chain.id,
            "verifyingContract": system.verifier.address,
        },
        # a certificate whose recipient is this address is a redemption: authorities debit
        # the sender and credit no FastPay account; on-chain it settles to the sender's vault
        # balance (the only certificates that settle on-chain): the processor's own address
        "redemption_address": system.processor.address,
        "contracts": {
            name: {"address": getattr(system, attr).address, "abi": _abi(name)}
            for name, attr in zip(
                CONTRACTS,
                ("vault", "registry", "consensus", "verifier", "manager", "processor"),
                strict=True,
            )
        },
        "tokens": tokens,
        "committee": {
            "epoch": int(epoch),
            "members": [
                {"address": address, "stake_wei": str(stake), "name": a.get("name", "")}
                for (address, stake), a in zip(members, config["authorities"], strict=True)
            ],
        },
        "roles": {
            "admin": str(admin),
            "guardian": str(roles.get("guardian") or deployer),
            "settler": str(roles.get("settler") or deployer),
        },
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(deployment, indent=2) + "\n")
    print(f"FastPay deployed on {network.show_active()} (chain {chain.id}); wrote {output}")
    print(f"  {'redemption address':<24} {deployment['redemption_address']}")
    for name, entry in deployment["contracts"].items():
        print(f"  {name:<24} {entry['address']}")
