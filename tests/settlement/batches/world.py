"""The world of the on-chain settlement tests: one anvil with the real settlement contracts
deployed from build/contracts (CommitteeConsensus, CertificateVerifier, TokenVault,
FastPayRegistry, OfflinePaymentProcessor, MockUSDT), four real authority node processes
whose committee file names that processor and vault, users with FastPay balances at the
nodes (genesis) and a pool funded by an on-chain deposit.

The committee is installed straight in CommitteeConsensus (the deployer holds its
MANAGER_ROLE here, standing in for AuthorityManager), so a test can install a successor
epoch and move anvil's clock past the first epoch's settlement window."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account

from authorities.node.local import LOCAL_ACCOUNTS, anvil_key
from fastpay_protocol import typed_data as td
from tests.authorities.anvil import (
    _artifact,
    _deploy,
    require_chain_tools,
    rlp_list,
    running_anvil,
    transact,
)
from tests.authorities.node_fixtures import certify, confirm, make_order
from tests.authorities.nodes import committee_domain, local_committee

STAKE = 10 * 10**18
SCALE = 10**12  # MockUSDT: 18 decimals, 6 ledger decimals in the vault
USER_UNITS = 1_000_000_000  # 1,000 tokens per user at the committee
POOL_TOKENS = 100_000
WINDOW_S = 7 * 86_400


@dataclass
class World:
    w3: object
    url: str
    consensus: object
    verifier: object
    vault: object
    registry: object
    processor: object
    usdt: object
    nodes: list
    members: list[str]
    users: list
    settler: object  # eth_account LocalAccount (SETTLER_ROLE on the processor)
    domain: td.Domain
    epoch: int = 1

    @property
    def chain_id(self) -> int:
        return self.w3.eth.chain_id

    def take_user(self):
        return self.users.pop(0)

    def redeem(self, user, amount: int, *, sequence: int = 0, apply: bool = True) -> dict:
        """A redemption certificate of ``user`` (recipient: the processor), confirmed at
        every node unless ``apply`` is False."""
        order = make_order(
            user,
            recipient=self.processor.address,
            amount=amount,
            sequence=sequence,
            epoch=self.epoch,
            token=self.usdt.address,
        )
        cert = certify(self.nodes, self.domain, order, user)
        if apply:
            confirm(self.nodes, cert)
        return cert

    def vault_balance(self, address: str) -> int:
        return self.vault.functions.balanceOf(address, self.usdt.address).call()

    def pool(self) -> int:
        return self.vault.functions.poolBalance(self.usdt.address).call()

    def settle_alone(self, cert: dict) -> None:
        """``processOfflinePayment`` of one certificate by someone else (anyone may)."""
        order = cert["order"]
        votes = {v["authority"]: bytes.fromhex(v["signature"][2:]) for v in cert["votes"]}
        call = self.processor.functions.processOfflinePayment(
            (
                order["sender"],
                order["recipient"],
                order["token"],
                int(order["amount"]),
                int(order["sequence"]),
                int(order["epoch"]),
            ),
            td.pack_signatures(votes),
        )
        transact(self.w3, call, self.w3.eth.accounts[3])

    def rpc(self, method: str, params: list):
        answer = self.w3.provider.make_request(method, params)
        assert "error" not in answer, answer
        return answer.get("result")


def _deploy_system(w3, members: list[str], settler: str, out: Path) -> dict:
    admin = w3.eth.accounts[0]
    consensus = _deploy(w3, "CommitteeConsensus", 0, admin, WINDOW_S)
    manager_role = consensus.functions.MANAGER_ROLE().call()
    transact(w3, consensus.functions.grantRole(manager_role, admin), admin)
    transact(w3, consensus.functions.snapshot(1, members, [STAKE] * len(members), 0), admin)
    verifier = _deploy(w3, "CertificateVerifier", consensus.address)
    nonce = w3.eth.get_transaction_count(admin)
    me = bytes.fromhex(admin[2:])
    registry_at = w3.to_checksum_address(w3.keccak(rlp_list(me, nonce + 1))[12:])
    processor_at = w3.to_checksum_address(w3.keccak(rlp_list(me, nonce + 2))[12:])
    zero = "0x" + "00" * 20
    vault = _deploy(w3, "TokenVault", 0, admin, admin, registry_at, processor_at, zero, 48 * 3600)
    registry = _deploy(w3, "FastPayRegistry", 0, admin, admin, vault.address)
    processor = _deploy(
        w3, "OfflinePaymentProcessor", 0, admin, admin, settler, vault.address, verifier.address
    )
    assert (registry.address, processor.address) == (registry_at, processor_at)
    usdt = _deploy(w3, "MockUSDT")
    transact(w3, vault.functions.addToken(usdt.address, 6), admin)
    # the pool: someone's deposit (the nodes do not follow this chain: genesis balances)
    funder = w3.eth.accounts[2]
    amount = POOL_TOKENS * 10**18
    transact(w3, registry.functions.registerUser(), funder)
    transact(w3, usdt.functions.mint(funder, amount), funder)
    transact(w3, usdt.functions.approve(vault.address, amount), funder)
    transact(w3, registry.functions.depositTokens(usdt.address, amount), funder)
    deployment = {
        "network": "anvil-test",
        "chain_id": w3.eth.chain_id,
        "block_number": w3.eth.block_number,
        "contracts": {
            name: {"address": c.address, "abi": []}
            for name, c in (
                ("CommitteeConsensus", consensus),
                ("CertificateVerifier", verifier),
                ("TokenVault", vault),
                ("FastPayRegistry", registry),
                ("OfflinePaymentProcessor", processor),
            )
        },
        "tokens": [{"symbol": "USDT", "address": usdt.address, "id": 0, "decimals": 18}],
        "committee": {
            "epoch": 1,
            "members": [{"address": a, "stake_wei": str(STAKE), "name": ""} for a in members],
        },
    }
    path = out / "deployment.json"
    path.write_text(json.dumps(deployment))
    return {
        "consensus": consensus,
        "verifier": verifier,
        "vault": vault,
        "registry": registry,
        "processor": processor,
        "usdt": usdt,
        "path": str(path),
    }


@contextlib.contextmanager
def settlement_world(out: Path, *, users: int = 24):
    require_chain_tools()
    members = [Account.from_key(anvil_key(i)).address for i in LOCAL_ACCOUNTS]
    user_keys = [Account.from_key((0x5E771E000 + i).to_bytes(32, "big")) for i in range(users)]
    settler = Account.from_key(anvil_key(1))
    with running_anvil() as w3:
        system = _deploy_system(w3, members, settler.address, out)
        genesis = [(u.address, system["usdt"].address, USER_UNITS) for u in user_keys]
        with local_committee(
            out / "nodes", deployment_path=system["path"], genesis=genesis
        ) as nodes:
            yield World(
                w3=w3,
                url=w3.provider.endpoint_uri,
                consensus=system["consensus"],
                verifier=system["verifier"],
                vault=system["vault"],
                registry=system["registry"],
                processor=system["processor"],
                usdt=system["usdt"],
                nodes=nodes,
                members=members,
                users=user_keys,
                settler=settler,
                domain=committee_domain(nodes[0]),
            )


def contract_abi(name: str) -> list:
    return _artifact(name)["abi"]
