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

Governance: every contract's admin is a FastPayTimelock (OpenZeppelin TimelockController;
proposers/executors from ``roles.proposers``/``roles.executors``, the deployer when empty:
development only, a multisig in production). The deployer is the timelock's one-time
bootstrapper: it wires the roles, lists the tokens and installs epoch 1 (active at once)
as the timelock, then ``end_bootstrap`` closes that for good and checks that the deployer
administers nothing and the delay is at least MIN_TIMELOCK_DELAY. Delays and windows come
from the config's ``governance`` object (docs/contracts.md, "Deploy").

`deploy_fastpay`, `list_tokens`, `register_committee` and `end_bootstrap` are also what
the Brownie tests (tests/contracts/conftest.py) and the gas bench use, so they all deploy
the same way.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

from brownie import (
    AuthorityManager,
    BatchTransfer,
    CertificateVerifier,
    CommitteeConsensus,
    FastPayRegistry,
    FastPayTimelock,
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
# Governance (docs/contracts.md, "Trust assumptions"). The timelock's delay is never below
# MIN_TIMELOCK_DELAY (checked here before anything is deployed, and on-chain by
# FastPayTimelock.MIN_DELAY); the others have their floors on-chain too.
MIN_TIMELOCK_DELAY = 24 * 3600
DEFAULT_TIMELOCK_DELAY = 48 * 3600
DEFAULT_ADMIN_DELAY = 24 * 3600  # AccessControlDefaultAdminRules: admin transfer delay
DEFAULT_ACTIVATION_DELAY = 10 * 86400  # >= voucher max validity (7 d) + grace (3 d)
# CommitteeConsensus.MIN_SETTLEMENT_WINDOW: a pause (3 d) + the cooldown between pauses
# (1 d) + a 3 d margin, so a pause never makes a closed epoch's redemption unsettleable
# (checked here before anything is deployed, and on-chain).
MIN_SETTLEMENT_WINDOW = 7 * 86400
DEFAULT_SETTLEMENT_WINDOW = 7 * 86400
DEFAULT_UNBONDING_PERIOD = 14 * 86400
CONTRACTS = (
    "TokenVault",
    "FastPayRegistry",
    "CommitteeConsensus",
    "CertificateVerifier",
    "AuthorityManager",
    "OfflinePaymentProcessor",
    "FastPayTimelock",
)
ADMINISTERED = ("vault", "registry", "consensus", "manager", "processor")


def deploy_fastpay(
    deployer,
    *,
    guardian=None,
    settler=None,
    treasury=None,
    migration_delay=MIN_MIGRATION_DELAY,
    min_stake=10**18,
    reward_bps=1_000,
    proposers=None,
    executors=None,
    timelock_delay=DEFAULT_TIMELOCK_DELAY,
    admin_delay=DEFAULT_ADMIN_DELAY,
    activation_delay=DEFAULT_ACTIVATION_DELAY,
    settlement_window=DEFAULT_SETTLEMENT_WINDOW,
    unbonding_period=DEFAULT_UNBONDING_PERIOD,
):
    """Deploy and wire every FastPay contract; returns them in a namespace.

    The admin (DEFAULT_ADMIN_ROLE) of all five contracts is a FastPayTimelock whose
    ``proposers`` and ``executors`` default to the deployer (development; a multisig in
    production). The deployer holds no role on the five contracts: it is the timelock's
    bootstrapper, so it can still ``bootstrap`` (list tokens, register the committee)
    until ``end_bootstrap``; after that every admin call waits ``timelock_delay``.
    ``guardian`` may pause; ``settler`` submits batches; ``treasury`` (default: the
    timelock) receives slashed stake.
    """
    if int(timelock_delay) < MIN_TIMELOCK_DELAY:
        raise ValueError(
            f"timelock delay {timelock_delay} s is below the floor MIN_TIMELOCK_DELAY "
            f"({MIN_TIMELOCK_DELAY} s)"
        )
    if int(settlement_window) < MIN_SETTLEMENT_WINDOW:
        raise ValueError(
            f"settlement window {settlement_window} s is below the floor MIN_SETTLEMENT_WINDOW "
            f"({MIN_SETTLEMENT_WINDOW} s: a pause plus its cooldown plus a margin)"
        )
    tx = {"from": deployer}
    guardian = guardian or deployer
    proposers = list(proposers or [deployer])
    executors = list(executors or [deployer])
    timelock = FastPayTimelock.deploy(timelock_delay, proposers, executors, deployer, tx)
    treasury = treasury or timelock
    consensus = CommitteeConsensus.deploy(admin_delay, timelock, settlement_window, tx)
    # H1 (settlement contracts): the lines constructing TokenVault, FastPayRegistry,
    # CertificateVerifier and OfflinePaymentProcessor; their admin is ``timelock``.
    verifier = CertificateVerifier.deploy(consensus, tx)
    vault, registry, processor = deploy_settlement(
        deployer,
        verifier,
        admin=timelock,
        admin_delay=admin_delay,
        guardian=guardian,
        settler=settler,
        migration_delay=migration_delay,
    )
    manager = AuthorityManager.deploy(
        admin_delay,
        timelock,
        consensus,
        verifier,
        min_stake,
        reward_bps,
        treasury,
        activation_delay,
        unbonding_period,
        tx,
    )
    system = SimpleNamespace(
        timelock=timelock,
        vault=vault,
        registry=registry,
        consensus=consensus,
        verifier=verifier,
        manager=manager,
        processor=processor,
    )
    # wiring roles: granted once here, later only through the timelock (the vault's
    # depositor and processor, and the processor's settler, are set by their constructors:
    # deploy_settlement)
    wiring = [
        (consensus.grantRole, (consensus.MANAGER_ROLE(), manager)),
    ]
    bootstrap(system, deployer, wiring)
    return system


ZERO_ADDRESS = "0x" + "00" * 20


def create_address(deployer, nonce):
    """The address of the contract ``deployer`` creates with transaction ``nonce`` (CREATE:
    keccak256(rlp([sender, nonce]))[12:])."""
    from eth_utils import keccak, to_checksum_address

    def rlp_bytes(data):
        if len(data) == 1 and data[0] < 0x80:
            return data
        return bytes([0x80 + len(data)]) + data  # shorter than 56 bytes here

    sender = bytes.fromhex(str(deployer)[2:])
    nonce_bytes = nonce.to_bytes((nonce.bit_length() + 7) // 8, "big") if nonce else b""
    payload = rlp_bytes(sender) + rlp_bytes(nonce_bytes)
    return to_checksum_address(keccak(bytes([0xC0 + len(payload)]) + payload)[12:])


def deploy_settlement(
    deployer,
    verifier,
    *,
    admin,
    admin_delay=DEFAULT_ADMIN_DELAY,
    guardian=None,
    settler=None,
    migration_delay=MIN_MIGRATION_DELAY,
    predecessor=ZERO_ADDRESS,
):
    """TokenVault, FastPayRegistry and OfflinePaymentProcessor, in three consecutive
    transactions of ``deployer``. The vault's ``depositor`` (the registry) and ``processor``
    are fixed in its constructor, nobody can change them later, so their addresses are
    computed from the deployer's next nonces first; the registry's and the processor's
    constructors check that the vault names them (a wrong guess reverts the deploy).
    ``predecessor``: the vault whose pool this one may receive in a migration."""
    tx = {"from": deployer}
    guardian = guardian or deployer
    nonce = int(deployer.nonce)
    registry_at, processor_at = (
        create_address(deployer, nonce + 1),
        create_address(deployer, nonce + 2),
    )
    vault = TokenVault.deploy(
        admin_delay, admin, guardian, registry_at, processor_at, predecessor, migration_delay, tx
    )
    registry = FastPayRegistry.deploy(admin_delay, admin, guardian, vault, tx)
    processor = OfflinePaymentProcessor.deploy(
        admin_delay, admin, guardian, settler or ZERO_ADDRESS, vault, verifier, tx
    )
    if (registry.address, processor.address) != (registry_at, processor_at):
        raise RuntimeError("deploy_settlement: another transaction of the deployer interleaved")
    return vault, registry, processor


def bootstrap(system, deployer, calls):
    """Make ``calls`` [(contract.method, args) or (contract.method, args, value)] as the
    timelock, at once (only the bootstrapper, only before ``end_bootstrap``)."""
    targets, values, payloads = [], [], []
    for call in calls:
        method, args, value = (*call, 0) if len(call) == 2 else call
        targets.append(method._address)
        values.append(int(value))
        payloads.append(method.encode_input(*args))
    return system.timelock.bootstrap(
        targets, values, payloads, {"from": deployer, "value": sum(values)}
    )


def end_bootstrap(system, deployer):
    """Close the bootstrap for good and check the result: the timelock administers every
    contract, the deployer none, and the timelock's delay is at least the floor."""
    system.timelock.endBootstrap({"from": deployer})
    check_governance(system, deployer)


def check_governance(system, deployer):
    timelock = system.timelock
    problems = []
    if int(timelock.getMinDelay()) < MIN_TIMELOCK_DELAY:
        problems.append(f"timelock delay {timelock.getMinDelay()} < {MIN_TIMELOCK_DELAY}")
    if int(timelock.bootstrapper(), 16) != 0:
        problems.append(f"the timelock's bootstrap is still open ({timelock.bootstrapper()})")
    for name in ADMINISTERED:
        contract = getattr(system, name)
        admin_role = contract.DEFAULT_ADMIN_ROLE()
        if not contract.hasRole(admin_role, timelock):
            problems.append(f"{name}: the timelock is not the admin")
        if contract.hasRole(admin_role, deployer):
            problems.append(f"{name}: the deployer still holds the admin role")
    if problems:
        raise RuntimeError("governance check failed: " + "; ".join(problems))


def list_tokens(system, deployer, tokens, ledger_decimals=6):
    """Allow-list ``tokens`` in the vault (ids follow the order given), during the bootstrap."""
    calls = [(system.vault.addToken, (token, ledger_decimals)) for token in tokens]
    if calls:
        bootstrap(system, deployer, calls)


def local_endpoint(address):
    """A placeholder node URL for an authority registered without one (tests, bench)."""
    return f"http://authority-{str(address).lower()}.invalid"


def register_committee(system, deployer, members, activates_at=0):
    """During the bootstrap: register ``members`` [(address, stake_wei) or (address,
    stake_wei, endpoint)] and install them as the next epoch, active from ``activates_at``
    (0 = at once, allowed for the first epoch only). Returns the epoch."""
    calls = []
    for member in members:
        address, stake = member[0], int(member[1])
        endpoint = member[2] if len(member) > 2 else local_endpoint(address)
        calls.append((system.manager.registerAuthority, (address, endpoint), stake))
    calls.append((system.manager.advanceEpoch, (int(activates_at),)))
    bootstrap(system, deployer, calls)
    return int(system.consensus.currentEpoch())


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
    if roles.get("admin"):
        raise SystemExit(
            f"{config_path}: roles.admin is gone: the admin of every contract is the timelock; "
            "set roles.proposers / roles.executors (a multisig in production)"
        )
    governance = config.get("governance", {})
    timelock_delay = int(governance.get("timelock_delay_seconds", DEFAULT_TIMELOCK_DELAY))
    if timelock_delay < MIN_TIMELOCK_DELAY:
        raise SystemExit(
            f"{config_path}: governance.timelock_delay_seconds={timelock_delay} is below the "
            f"floor {MIN_TIMELOCK_DELAY} (MIN_TIMELOCK_DELAY)"
        )
    proposers = [a for a in roles.get("proposers", []) if a] or [deployer]
    executors = [a for a in roles.get("executors", []) if a] or [deployer]
    system = deploy_fastpay(
        deployer,
        guardian=roles.get("guardian") or deployer,
        settler=roles.get("settler") or deployer,
        treasury=roles.get("treasury") or None,
        migration_delay=int(config.get("migration_delay_seconds", MIN_MIGRATION_DELAY)),
        min_stake=int(config["min_stake_wei"]),
        reward_bps=int(config["reward_bps"]),
        proposers=proposers,
        executors=executors,
        timelock_delay=timelock_delay,
        admin_delay=int(governance.get("admin_delay_seconds", DEFAULT_ADMIN_DELAY)),
        activation_delay=int(governance.get("activation_delay_seconds", DEFAULT_ACTIVATION_DELAY)),
        settlement_window=int(
            governance.get("settlement_window_seconds", DEFAULT_SETTLEMENT_WINDOW)
        ),
        unbonding_period=int(governance.get("unbonding_period_seconds", DEFAULT_UNBONDING_PERIOD)),
    )
    tokens = []
    for entry in config["tokens"]:
        token = _resolve_token(entry, deployer)
        ledger_decimals = int(entry.get("ledger_decimals", 6))
        list_tokens(system, deployer, [token], ledger_decimals)
        tokens.append(
            {
                "symbol": entry["symbol"],
                "address": token.address,
                "id": len(tokens),
                "decimals": int(token.decimals()),
                "ledger_decimals": ledger_decimals,
            }
        )

    members = [
        (a["address"], int(a["stake_wei"]), a.get("endpoint") or local_endpoint(a["address"]))
        for a in config["authorities"]
    ]
    # the first epoch activates at once (no users yet); every later one through the timelock
    epoch = register_committee(system, deployer, members)
    end_bootstrap(system, deployer)
    timelock, consensus, manager = system.timelock, system.consensus, system.manager

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
                ("vault", "registry", "consensus", "verifier", "manager", "processor", "timelock"),
                strict=True,
            )
        },
        "tokens": tokens,
        "committee": {
            "epoch": int(epoch),
            "activates_at": int(consensus.activatesAt(epoch)),
            "members": [
                {
                    "address": address,
                    "stake_wei": str(stake),
                    "name": a.get("name", ""),
                    "endpoint": endpoint,
                }
                for (address, stake, endpoint), a in zip(
                    members, config["authorities"], strict=True
                )
            ],
        },
        "roles": {
            "admin": timelock.address,
            "proposers": [str(a) for a in proposers],
            "executors": [str(a) for a in executors],
            "guardian": str(roles.get("guardian") or deployer),
            "settler": str(roles.get("settler") or deployer),
            "treasury": str(manager.treasury()),
        },
        "governance": {
            "timelock": timelock.address,
            "timelock_delay_seconds": int(timelock.getMinDelay()),
            "admin_delay_seconds": int(manager.defaultAdminDelay()),
            "activation_delay_seconds": int(manager.activationDelay()),
            "settlement_window_seconds": int(consensus.settlementWindow()),
            "unbonding_period_seconds": int(manager.unbondingPeriod()),
        },
    }
    # merchant payouts' batch-transfer contract (no owner, no state: settlement/payouts)
    batch = BatchTransfer.deploy({"from": deployer})
    deployment["contracts"]["BatchTransfer"] = {
        "address": batch.address,
        "abi": _abi("BatchTransfer"),
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(deployment, indent=2) + "\n")
    print(f"FastPay deployed on {network.show_active()} (chain {chain.id}); wrote {output}")
    print(f"  {'redemption address':<24} {deployment['redemption_address']}")
    for name, entry in deployment["contracts"].items():
        print(f"  {name:<24} {entry['address']}")
