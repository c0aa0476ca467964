"""A byzantine authority process equivocates; the platform records the evidence and
AuthorityManager on a real anvil slashes it — end to end."""

import json
import time

import pytest
from eth_account import Account

from authorities.models import CommitteeMember, EquivocationEvidence, MemberStatus
from authorities.node.local import LOCAL_ACCOUNTS, anvil_key
from authorities.services.committee import committee_sync_chain
from authorities.services.evidence import evidence_record, evidence_submit
from fastpay.models import OutboxEvent
from tests.authorities.anvil import _artifact, _deploy, require_chain_tools, running_anvil, transact
from tests.authorities.node_fixtures import Users, make_order
from tests.authorities.nodes import committee_domain, local_committee, signed_order_json

pytestmark = pytest.mark.django_db
STAKE = 10 * 10**18
USERS = Users(2)


def deploy_committee(w3, out, members):
    """CommitteeConsensus + CertificateVerifier + AuthorityManager, the committee registered
    and its epoch started; a deployment JSON the nodes and the platform read."""
    admin = w3.eth.accounts[0]  # the admin of both, standing in for the timelock
    consensus = _deploy(w3, "CommitteeConsensus", 0, admin, 7 * 86400)
    verifier = _deploy(w3, "CertificateVerifier", consensus.address)
    manager = _deploy(
        w3,
        "AuthorityManager",
        *(0, admin, consensus.address, verifier.address, 10**18, 1_000, admin),
        *(10 * 86400, 14 * 86400),  # activation delay, unbonding period
    )
    transact(
        w3,
        consensus.functions.grantRole(consensus.functions.MANAGER_ROLE().call(), manager.address),
        admin,
    )
    for address in members:
        receipt = w3.eth.wait_for_transaction_receipt(
            manager.functions.registerAuthority(address, f"http://{address}.invalid").transact(
                {"from": admin, "value": STAKE}
            )
        )
        assert receipt.status == 1
    transact(w3, manager.functions.advanceEpoch(0), admin)  # the first epoch: active at once
    epoch = manager.functions.currentEpoch().call()
    path = out / "deployment.json"
    path.write_text(
        json.dumps(
            {
                "chain_id": w3.eth.chain_id,
                "contracts": {
                    "CertificateVerifier": {"address": verifier.address, "abi": []},
                    "AuthorityManager": {
                        "address": manager.address,
                        "abi": _artifact("AuthorityManager")["abi"],
                    },
                    "CommitteeConsensus": {
                        "address": consensus.address,
                        "abi": _artifact("CommitteeConsensus")["abi"],
                    },
                    "OfflinePaymentProcessor": {"address": "0x" + "00" * 19 + "f2", "abi": []},
                },
                "tokens": [],
                "committee": {
                    "epoch": epoch,
                    "members": [
                        {"address": a, "stake_wei": str(STAKE), "name": ""} for a in members
                    ],
                },
            }
        )
    )
    return manager, path, epoch


def test_a_byzantine_authority_is_slashed_on_chain(tmp_path, settings):
    require_chain_tools()
    members = [Account.from_key(anvil_key(i)).address for i in LOCAL_ACCOUNTS]
    user = USERS.take()
    with running_anvil() as w3:
        manager, deployment_path, epoch = deploy_committee(w3, tmp_path, members)
        settings.FASTPAY_CHAIN_RPC_URL = w3.provider.endpoint_uri
        settings.FASTPAY_DEPLOYMENT_JSON = str(deployment_path)
        with local_committee(
            tmp_path / "nodes",
            genesis=USERS.genesis(),
            byzantine=("authority-4",),
            deployment_path=str(deployment_path),
            start=False,
        ) as nodes:
            liar = nodes[3].start()
            domain = committee_domain(liar)
            first = make_order(user, amount=1_000_000, epoch=epoch)
            second = make_order(user, amount=7_000_000, epoch=epoch)
            votes = []
            for order in (first, second):
                status, body = liar.post(
                    "/authority/v1/orders", signed_order_json(domain, order, user.key)
                )
                assert status == 200, body
                votes.append(bytes.fromhex(body["vote"]["signature"][2:]))
            urls = {n.address: n.url for n in nodes}
            rows = committee_sync_chain(urls=urls)
            assert sorted((r.address, r.stake, r.status) for r in rows) == sorted(
                (a, STAKE, "active") for a in members
            )

        evidence, _ = evidence_record(
            domain=domain,
            first=first.as_message(),
            first_signature=votes[0],
            second=second.as_message(),
            second_signature=votes[1],
        )
        reporter = anvil_key(2)
        before = w3.eth.get_balance(Account.from_key(reporter).address)
        evidence = evidence_submit(evidence_id=evidence.pk, sender_key=reporter)

        assert evidence.status == "submitted", evidence.error
        assert evidence.authority == liar.address
        assert not manager.functions.isAuthorityActive(liar.address).call()
        # the reporter's reward (10% of the stake) outweighs the gas it paid
        assert w3.eth.get_balance(Account.from_key(reporter).address) > before
        member = CommitteeMember.objects.get(address=liar.address, epoch=epoch)
        assert member.status == MemberStatus.SLASHED
        # the chain agrees, and a re-sync from it keeps the liar slashed, the others active
        CommitteeMember.objects.filter(pk=member.pk).update(status=MemberStatus.ACTIVE)
        statuses = {r.address: r.status for r in committee_sync_chain(urls=urls)}
        assert statuses[liar.address] == MemberStatus.SLASHED
        assert sorted(statuses.values()).count(MemberStatus.ACTIVE) == 3

        # the same evidence again is a no-op here, and the contract refuses reuse
        assert evidence_submit(evidence_id=evidence.pk, sender_key=reporter).tx_hash == (
            evidence.tx_hash
        )
        EquivocationEvidence.objects.filter(pk=evidence.pk).update(status="new")
        again = evidence_submit(evidence_id=evidence.pk, sender_key=reporter)
        assert again.status == "already_slashed"
        assert "already slashed" in again.error


@pytest.mark.django_db(
    transaction=True, serialized_rollback=True
)  # the evidence recorder writes from its own thread
def test_a_byzantine_nodes_conflicting_votes_are_slashed_with_no_operator_action(
    tmp_path, settings, monkeypatch
):
    """The platform's committee client certifies two orders for one (sender, sequence);
    the byzantine node votes for both. The process's vote watch sees it, the evidence is
    recorded and submitted (FASTPAY_SLASHING_AUTO, the Celery task, eager here), and the
    node's stake on anvil drops to 0 — nobody calls anything else."""
    from authorities.gateway import Gateway
    from authorities.services.evidence import recorder
    from fastpay import keyvault
    from fastpay_protocol.committee import ConflictingOrder, fetch_committee

    require_chain_tools()
    members = [Account.from_key(anvil_key(i)).address for i in LOCAL_ACCOUNTS]
    user = USERS.take()
    kek = bytes(range(32))
    sender_key_file = tmp_path / "chain-sender.json"
    sender_key_file.write_text(keyvault.seal(anvil_key(2), kek))
    settings.FASTPAY_KEK = kek.hex()
    settings.FASTPAY_CHAIN_SENDER_KEY_FILE = str(sender_key_file)
    settings.FASTPAY_SLASHING_AUTO = True
    with running_anvil() as w3:
        manager, deployment_path, epoch = deploy_committee(w3, tmp_path, members)
        settings.FASTPAY_CHAIN_RPC_URL = w3.provider.endpoint_uri
        settings.FASTPAY_DEPLOYMENT_JSON = str(deployment_path)
        with local_committee(
            tmp_path / "nodes",
            genesis=USERS.genesis(),
            byzantine=("authority-4",),
            deployment_path=str(deployment_path),
        ) as nodes:
            liar = nodes[3]
            committee_sync_chain(urls={n.address: n.url for n in nodes})
            gateway = Gateway(fetch_committee(nodes[0].url), None, timeout_s=5)
            monkeypatch.setattr("authorities.gateway.gateway", lambda: gateway)
            client = gateway.client()
            first = make_order(user, amount=1_000_000, epoch=epoch)
            second = make_order(user, amount=7_000_000, epoch=epoch)
            stake_before = manager.functions.authorities(liar.address).call()[0]

            client.certify(client.sign_order(user.key, **_fields(first)))
            with pytest.raises(ConflictingOrder):  # the honest ones hold the first order
                client.certify(client.sign_order(user.key, **_fields(second)))

            assert recorder() is not None and recorder().wait_idle(60)

            # the report is two transactions (commit, then reveal): wait for them, bounded
            for _ in range(300):
                pending = EquivocationEvidence.objects.filter(status__in=("new", "submitting"))
                if EquivocationEvidence.objects.exists() and not pending.exists():
                    break
                time.sleep(0.1)
        evidence = EquivocationEvidence.objects.get()
        assert (evidence.authority, evidence.status) == (liar.address, "submitted")
        assert {evidence.first_order["amount"], evidence.second_order["amount"]} == {
            1_000_000,
            7_000_000,
        }
        assert stake_before == STAKE
        assert manager.functions.authorities(liar.address).call()[0] == 0
        assert manager.functions.authorities(liar.address).call()[3]  # slashed
        receipt = w3.eth.get_transaction_receipt(evidence.tx_hash)
        assert receipt.status == 1 and receipt.to == manager.address
        assert CommitteeMember.objects.get(address=liar.address).status == MemberStatus.SLASHED
        assert OutboxEvent.objects.filter(topic="authority.slashed").count() == 1


def _fields(order):
    return {
        "recipient": order.recipient,
        "token": order.token,
        "amount": order.amount,
        "sequence": order.sequence,
        "epoch": order.epoch,
    }
