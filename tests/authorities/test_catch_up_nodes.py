"""A committee that heals itself, with four real node processes: a node SIGKILLed while
online/offline moves go on comes back behind; the platform brings it up to date by itself
(its periodic catch-up, or its next move) and committee health shows the lag back at 0."""

import pytest
from eth_account import Account

from authorities.models import CommitteeMember
from authorities.services.committee import committee_health_check, committee_sync
from fastpay_protocol import signing
from fastpay_protocol.committee import fetch_committee
from fastpay_protocol.messages import AccountInfo
from tests.authorities.node_fixtures import TOKEN, make_order
from tests.authorities.nodes import local_committee
from tests.wallets.factories import UserFactory

pytestmark = pytest.mark.django_db

PLATFORM_KEY = b"\x78" * 32
PLATFORM = signing.Signer(PLATFORM_KEY).address
FUND = 1_000_000
DEFUND = 400_000


@pytest.fixture
def world(tmp_path, monkeypatch):
    """Four nodes (only the platform funded at genesis), the platform's real Gateway on
    them, the registry synced with their URLs."""
    from authorities.gateway import Gateway

    with local_committee(tmp_path, genesis=[(PLATFORM, TOKEN, 10**12)]) as nodes:
        committee = fetch_committee(nodes[0].url)
        gateway = Gateway(committee, PLATFORM_KEY, timeout_s=5)
        monkeypatch.setattr("authorities.gateway.gateway", lambda: gateway)
        committee_sync(
            epoch=committee.epoch,
            members=[
                {"name": n.name, "address": n.address, "stake_wei": 10**19, "url": n.url}
                for n in nodes
            ],
        )
        try:
            yield nodes, gateway
        finally:
            gateway.client().close()


def linked_payers(count):
    """Users with a linked FastPay account that nothing funded but the platform."""
    from offline.models import FastPayAccount

    payers = [Account.create() for _ in range(count)]
    for payer in payers:
        FastPayAccount.objects.create(user=UserFactory(), address=payer.address)
    return payers


def view(node, address) -> AccountInfo:
    status, body = node.get(f"/authority/v1/accounts/{address}")
    assert status == 200, body
    return AccountInfo.from_json(body)


def moves_while_down(gateway, payers, funds):
    """``funds`` FUND moves (platform -> payer, round robin), then one DEFUND (payer ->
    platform) per payer: every payer's certificate needs a credit the node missed."""
    epoch = gateway.epoch()
    for sequence in range(funds):
        gateway.certify_and_confirm(
            gateway.order(
                sender=PLATFORM,
                recipient=payers[sequence % len(payers)].address,
                token=TOKEN,
                amount=FUND,
                sequence=sequence,
                epoch=epoch,
            )
        )
    for payer in payers:
        defund = make_order(payer, recipient=PLATFORM, amount=DEFUND, sequence=0, epoch=epoch)
        gateway.client().transfer(defund, payer.key)


def lags():
    return dict(CommitteeMember.objects.values_list("address", "lag"))


def test_a_node_killed_and_restarted_is_caught_up_by_the_periodic_task(world):
    from authorities.tasks import committee_catch_up_task

    nodes, gateway = world
    payers = linked_payers(4)
    nodes[3].kill()
    moves_while_down(gateway, payers, funds=20)
    nodes[3].start()
    committee_health_check(platform_address=PLATFORM)
    assert lags()[nodes[3].address] == 20  # behind on the platform's account
    status, body = nodes[3].post(
        "/authority/v1/orders",
        gateway.client()
        .sign_order(payers[0].key, recipient=PLATFORM, token=TOKEN, amount=1, sequence=1)
        .to_json(),
    )
    assert (status, body["error"]["code"]) == (409, "sequence_mismatch")  # the drill's bug

    summary = committee_catch_up_task()

    assert summary["pushed"] == {nodes[3].address: 24}  # 20 funds, 4 defunds
    assert summary["lag"] == {nodes[3].address: 0} and summary["unknown"] == []
    assert set(lags().values()) == {0}
    for payer in [*payers, Account.from_key(PLATFORM_KEY)]:
        assert view(nodes[3], payer.address) == view(nodes[0], payer.address)
    assert view(nodes[3], payers[0].address).balance(TOKEN) == 5 * FUND - DEFUND
    committee_health_check(platform_address=PLATFORM)
    assert set(lags().values()) == {0}
    signed = gateway.client().sign_order(
        payers[0].key, recipient=PLATFORM, token=TOKEN, amount=1, sequence=1
    )
    for node in nodes:  # the payer's next order: every authority votes
        status, body = node.post("/authority/v1/orders", signed.to_json())
        assert status == 200, (node.name, body)
    assert committee_catch_up_task()["pushed"] == {}  # nothing left: a no-op


def test_the_platforms_next_move_catches_a_restarted_node_up_on_its_account(world):
    nodes, gateway = world
    payers = linked_payers(2)
    nodes[2].kill()
    moves_while_down(gateway, payers, funds=10)
    nodes[2].start()

    gateway.client().confirm(
        gateway.client().certify(
            gateway.client().sign_order(
                PLATFORM_KEY, recipient=payers[0].address, token=TOKEN, amount=FUND, sequence=10
            )
        ),
        wait_all=True,
    )

    assert view(nodes[2], PLATFORM).next_sequence == 11
    committee_health_check(platform_address=PLATFORM)
    assert set(lags().values()) == {0}


def test_a_node_down_across_an_epoch_change_is_caught_up_with_the_old_epochs_certificates(
    tmp_path, monkeypatch
):
    """The reported stall: after a change, a node that missed epoch-1 certificates stayed
    behind on those accounts for good (the catch-up refused them: "order epoch 1 is not
    the committee's epoch 2"). Now the restarted node reads them in its handover and the
    catch-up, verifying each certificate under its own epoch's committee, finds nothing
    left (tests/authorities/test_client_epochs.py pushes them when a node still lags)."""
    import json
    import os
    import time

    from authorities.gateway import Gateway, file_schedule
    from authorities.tasks import committee_catch_up_task
    from fastpay_protocol.membership import committee_load

    fast = {"AUTHORITY_SCHEDULE_POLL_MS": "200", "AUTHORITY_HANDOVER_POLL_MS": "200"}
    with local_committee(tmp_path, genesis=[(PLATFORM, TOKEN, 10**12)], extra_env=fast) as nodes:
        path = tmp_path / "committee.json"
        epoch_1 = fetch_committee(nodes[0].url)
        old = Gateway(epoch_1, PLATFORM_KEY, timeout_s=5)
        payers = linked_payers(2)
        nodes[3].kill()
        moves_while_down(old, payers, funds=4)
        old.epochs.close()

        first = json.loads(path.read_text())
        boundary = int(time.time()) + 4
        path.write_text(
            json.dumps(
                {
                    **first,
                    "epoch": 2,
                    "activates_at": boundary,
                    "previous_epochs": [{"epoch": 1, "members": first["members"]}],
                }
            )
        )
        os.utime(path, (time.time(), time.time()))
        time.sleep(max(0.0, boundary - time.time()) + 0.5)
        nodes[3].start()
        deadline = time.time() + 60  # its own handover first (the catch-up must find nothing)
        while time.time() < deadline:
            status, health = nodes[3].get("/authority/v1/health", timeout=2)
            if status == 200 and health.get("handover_pending") is None:
                break
            time.sleep(0.2)
        gateway = Gateway(schedule=file_schedule(committee_load(path)), platform_key=PLATFORM_KEY)
        monkeypatch.setattr("authorities.gateway.gateway", lambda: gateway)
        committee_sync(
            epoch=2,
            members=[
                {"name": n.name, "address": n.address, "stake_wei": 10**19, "url": n.url}
                for n in nodes
            ],
        )
        assert gateway.epoch() == 2

        try:
            summary = committee_catch_up_task()
        finally:
            gateway.epochs.close()

        assert summary["pushed"] == {} and summary["unknown"] == []  # nobody behind
        assert view(nodes[3], PLATFORM).next_sequence == 4
        assert [view(nodes[3], p.address).next_sequence for p in payers] == [1, 1]
