"""Committee changes (epoch e -> e+1) with four real node processes that follow the
committee file live (no restart): no overlap (epoch e stops voting at e+1's
``activates_at``, by every node's own clock), a voucher of epoch e settles before the
close, and a FUND reserved in epoch e but not certified before the close completes after
it, re-signed by the platform for e+1 at the same sequence — even when nodes already
voted for the original in e (the handover carries their votes). Each test moves the
module's committee one epoch on."""

import json
import os
import time

import pytest
from eth_account import Account

from fastpay_protocol import handoff
from tests.authorities.nodes import local_committee

UNIT = 1_000_000
PAYER_KEY = (0xE90C000).to_bytes(32, "big")
PLATFORM_KEY = b"\x77" * 32
# node polls sped up: the schedule file and the handover of the closed epoch
FAST = {"AUTHORITY_SCHEDULE_POLL_MS": "200", "AUTHORITY_HANDOVER_POLL_MS": "200"}
LEAD_S = 6  # an epoch is announced this long before it activates (the nodes pre-sync)


@pytest.fixture(scope="module")
def epoch_nodes(tmp_path_factory, token_addresses):
    directory = tmp_path_factory.mktemp("epoch-nodes")
    usdt = token_addresses["USDT"]
    genesis = [
        (Account.from_key(PAYER_KEY).address, usdt, 100 * UNIT),
        (Account.from_key(PLATFORM_KEY).address, usdt, 1000 * UNIT),
    ]
    with local_committee(directory, genesis=genesis, extra_env=FAST) as nodes:
        first = json.loads((directory / "committee.json").read_text())
        yield directory, nodes, first


def announce(directory, first: dict, epoch: int, activates_at: int) -> None:
    """Rewrite the committee file with epochs 1..``epoch`` (same members), ``epoch``
    activating at ``activates_at``; the earlier epochs keep the times they were
    announced with (a past epoch never changes)."""
    ACTIVATES_AT[epoch] = activates_at
    base = {k: v for k, v in first.items() if k not in ("epoch", "previous_epochs")}
    previous = [
        {"epoch": e, "members": first["members"], "activates_at": ACTIVATES_AT[e]}
        for e in range(1, epoch)
    ]
    document = {**base, "epoch": epoch, "activates_at": activates_at, "previous_epochs": previous}
    path = directory / "committee.json"
    path.write_text(json.dumps(document))
    stamp = time.time()
    os.utime(path, (stamp, stamp))


ACTIVATES_AT = {1: 0}  # epoch -> activates_at, as announced in this module


def wait_until(when: float) -> None:
    time.sleep(max(0.0, when - time.time()))


@pytest.fixture
def platform(monkeypatch):
    """Point the platform at a Gateway that follows the nodes' committee file."""
    from authorities import gateway as gateway_module
    from fastpay_protocol.membership import committee_load
    from offline import committee as offline_committee
    from offline.services import platform_accounts

    gateways = []

    def use(directory):
        path = str(directory / "committee.json")
        gateway = gateway_module.Gateway(
            schedule=gateway_module.file_schedule(committee_load(path)),
            platform_key=PLATFORM_KEY,
            timeout_s=5,
        )
        gateway._source = gateway_module._file_source(path)
        gateway._stamp = gateway._source()[0]
        gateways.append(gateway)
        for target in (gateway_module, offline_committee):
            monkeypatch.setattr(target, "gateway", lambda: gateway)
        for target in ("offline.services.vouchers", "offline.services.transfers"):
            monkeypatch.setattr(f"{target}.gateway", lambda: gateway)
        monkeypatch.setattr(offline_committee, "client", lambda epoch=None: gateway.client(epoch))
        platform_accounts._checked.clear()
        return gateway

    yield use
    for gateway in gateways:
        gateway.epochs.close()


def active_everywhere(nodes, epoch: int, timeout: float = 20) -> None:
    """Until every node says ``epoch`` is active (its own clock and schedule poll)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        epochs = []
        for node in nodes:
            status, body = node.get("/authority/v1/committee")
            epochs.append(body.get("epoch") if status == 200 else None)
        if all(e == epoch for e in epochs):
            return
        time.sleep(0.2)
    raise AssertionError(f"nodes at epochs {epochs}, not {epoch}")


def test_a_voucher_of_the_old_epoch_settles_before_the_close(
    epoch_nodes, alice, usdt, fund, api_platform, client_for, platform, tmp_path
):
    from fastpay_protocol import signing
    from fastpay_protocol.pos import Terminal
    from fastpay_protocol.wallet import Wallet
    from offline.models import FastPayAccount, Redemption, RedemptionState
    from tests.wallets.factories import UserFactory
    from wallets.models import UserRole

    directory, nodes, first = epoch_nodes
    gateway = platform(directory)
    current = gateway.epoch()
    wallet = Wallet.create(str(tmp_path / "alice.db"), "pw", account_key=PAYER_KEY, n=2**10)
    FastPayAccount.objects.create(user=alice, address=wallet.address)
    fund(alice, usdt, 10)  # online money for the voucher's collateral (docs/offline.md)
    vendor = UserFactory(username="epoch-vendor", role=UserRole.VENDOR)
    vendor_address = signing.Signer(b"\x42" * 32).address
    FastPayAccount.objects.create(user=vendor, address=vendor_address)
    voucher = wallet.issue(
        gateway.client(),
        api_platform(alice),
        token=usdt.contract_address,
        amount=2 * UNIT,
        validity_s=3600,
    )
    payment = voucher.pay(gateway.committee.hasher, vendor=vendor_address, amount=UNIT).to_text()

    boundary = int(time.time()) + LEAD_S
    announce(directory, first, current + 1, boundary)
    gateway.refresh(force=True)

    # synced before the close: certified by the voucher's own epoch
    config = client_for(vendor).get("/api/v1/offline/terminal/").json()
    terminal = Terminal.create(
        str(tmp_path / "shop.pos"),
        vendor=vendor_address,
        issuer=config["issuer"],
        committee=gateway.committee,
    )
    terminal.accept(payment)
    result = api_platform(vendor).redemptions_sync([payment])["results"][0]
    redemption = Redemption.objects.get(pk=result["id"])
    assert redemption.state == RedemptionState.SETTLED, redemption.last_error
    assert redemption.certificate["order"]["epoch"] == current
    assert time.time() < boundary  # settled inside the epoch

    wait_until(boundary + 0.5)
    active_everywhere(nodes, current + 1)
    # after the close the certificate is still valid, under its own epoch's committee
    assert gateway.verify(redemption.certificate).epoch == current
    state = gateway.client().account_state(vendor_address)
    assert state.balance(usdt.contract_address) == UNIT


def test_the_old_epoch_stops_at_the_boundary_and_a_fund_reserved_before_completes_after(
    epoch_nodes, alice, usdt, fund, client_for, platform, django_capture_on_commit_callbacks
):
    from fastpay_protocol.committee import CommitteeClient, VoteWatch, WrongEpoch
    from offline.models import FastPayAccount, OfflineTransfer, TransferState
    from offline.services.transfers import offline_fund_process

    directory, nodes, first = epoch_nodes
    gateway = platform(directory)
    current = gateway.epoch()
    old_committee = gateway.committee_of(current)
    device = Account.create()
    FastPayAccount.objects.create(user=alice, address=device.address)
    fund(alice, usdt, 50)

    # reserved in epoch 1; its certification does not run (the worker is down)
    response = client_for(alice).post(
        "/api/v1/offline/fund/", {"token": "USDT", "amount": "7"}, format="json"
    )
    assert response.status_code == 202, response.json()
    transfer = OfflineTransfer.objects.get()
    assert (transfer.state, transfer.epoch) == (TransferState.PENDING, current)

    boundary = int(time.time()) + LEAD_S
    announce(directory, first, current + 1, boundary)
    gateway.refresh(force=True)
    assert gateway.epoch() == current and gateway.schedule.closes_at(current) == boundary
    wait_until(boundary + 0.5)
    assert gateway.epoch() == current + 1  # by the platform's clock, no restart
    active_everywhere(nodes, current + 1)

    # no overlap: every node refuses the old epoch now, naming the new one
    with (
        CommitteeClient(old_committee, timeout=5, watch=VoteWatch()) as old,
        pytest.raises(WrongEpoch) as refused,
    ):
        old.pay(PAYER_KEY, recipient=device.address, token=usdt.contract_address, amount=UNIT)
    assert refused.value.active_epoch == current + 1

    # the FUND completes in the new epoch: the same payment at the same sequence
    offline_fund_process(transfer_id=transfer.pk)

    transfer.refresh_from_db()
    assert transfer.state == TransferState.DONE and transfer.epoch == current + 1
    certified = transfer.certificate["order"]
    assert (certified["epoch"], certified["sequence"]) == (current + 1, 0)
    assert certified["amount"] == 7 * UNIT
    state = gateway.client().account_state(device.address)
    assert state.balance(usdt.contract_address) == 7 * UNIT


def test_a_fund_voted_on_in_the_old_epoch_is_certified_once_in_the_new_one(
    epoch_nodes, bob, usdt, fund, client_for, platform
):
    """The epoch-1 order of a FUND got votes from two nodes before epoch 1 closed (no
    quorum): the new epoch's members read those votes in the handover, so they vote for
    the re-signed same payment and for nothing else at that sequence."""
    from fastpay_protocol import typed_data as td
    from fastpay_protocol.committee import CommitteeClient, ConflictingOrder, VoteWatch
    from offline.models import FastPayAccount, OfflineTransfer, PlatformAccount, TransferState
    from offline.services.platform_accounts import platform_account_resume
    from offline.services.transfers import offline_fund_process
    from tests.authorities.nodes import signed_order_json

    directory, nodes, first = epoch_nodes
    gateway = platform(directory)
    current = gateway.epoch()
    device = Account.create()
    FastPayAccount.objects.create(user=bob, address=device.address)
    fund(bob, usdt, 50)
    # this test's database starts afresh while the nodes kept the earlier test's FUND: the
    # platform account's sequence is behind the committee's, so funding pauses on it...
    response = client_for(bob).post(
        "/api/v1/offline/fund/", {"token": "USDT", "amount": "3"}, format="json"
    )
    assert response.json()["error"]["code"] == "funding_paused"
    (account,) = PlatformAccount.objects.all()
    assert "below the committee's 1" in account.paused_reason
    # ...until an operator moves it to the committee's sequence
    platform_account_resume(account_id=account.pk, next_sequence=account.committee_sequence)
    response = client_for(bob).post(
        "/api/v1/offline/fund/", {"token": "USDT", "amount": "3"}, format="json"
    )
    assert response.status_code == 202, response.json()
    transfer = OfflineTransfer.objects.get(user=bob)
    order = td.TransferOrder(
        transfer.sender,
        transfer.recipient,
        usdt.contract_address,
        transfer.amount,
        transfer.sequence,
        transfer.epoch,
    )
    domain = gateway.committee_of(current).domain
    for node in nodes[:2]:  # two votes of four: no quorum before the close
        status, body = node.post(
            "/authority/v1/orders", signed_order_json(domain, order, PLATFORM_KEY)
        )
        assert status == 200, body

    boundary = int(time.time()) + LEAD_S
    announce(directory, first, current + 1, boundary)
    gateway.refresh(force=True)
    wait_until(boundary + 0.5)
    active_everywhere(nodes, current + 1)

    # another payment at that sequence in the new epoch: refused (the votes were carried)
    other = td.TransferOrder(
        transfer.sender, device.address, usdt.contract_address, 1, transfer.sequence, current + 1
    )
    with (
        # with every epoch's committee, as the platform's own client: a node that holds a
        # carried lock answers with the earlier voter's vote, verified against its epoch
        CommitteeClient(
            gateway.committee, timeout=5, watch=VoteWatch(), committees=gateway.committees
        ) as client,
        pytest.raises(ConflictingOrder),
    ):
        client.transfer(other, PLATFORM_KEY)

    offline_fund_process(transfer_id=transfer.pk)

    transfer.refresh_from_db()
    assert transfer.state == TransferState.DONE and transfer.epoch == current + 1
    assert handoff.same_payment(td.TransferOrder(**transfer.certificate["order"]), order)
    assert gateway.client().account_state(device.address).balance(usdt.contract_address) == 3 * UNIT
