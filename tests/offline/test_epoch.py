"""A committee change (new epoch) while vouchers of the old epoch are outstanding, with
four real node processes restarted on a new committee file: the nodes keep voting in the
previous epoch until its ``voting_until``, the platform certifies those spends with the
previous committee, terminals given the previous committee still accept them; after the
window a spend stays PENDING (retried) and says why."""

import json
import time

import pytest
from eth_account import Account

from tests.authorities.nodes import local_committee, start_all, stop_all

UNIT = 1_000_000
PAYER_KEY = (0xE90C000).to_bytes(32, "big")
PLATFORM_KEY = b"\x77" * 32


@pytest.fixture(scope="module")
def epoch_nodes(tmp_path_factory, token_addresses):
    directory = tmp_path_factory.mktemp("epoch-nodes")
    genesis = [(Account.from_key(PAYER_KEY).address, token_addresses["USDT"], 100 * UNIT)]
    with local_committee(directory, genesis=genesis) as nodes:
        first = json.loads((directory / "committee.json").read_text())
        yield directory, nodes, first


def move_to_epoch_2(directory, nodes, first: dict, *, voting_until: int) -> None:
    """Restart every node on a committee file of epoch 2 (same members) that keeps epoch 1
    as a previous epoch, voted in until ``voting_until``."""
    document = {
        **first,
        "epoch": 2,
        "previous_epochs": [
            {"epoch": 1, "members": first["members"], "voting_until": voting_until}
        ],
    }
    (directory / "committee.json").write_text(json.dumps(document))
    stop_all(nodes)
    start_all(nodes)


@pytest.fixture
def use_committee_file(monkeypatch):
    """Point the platform at a Gateway built from the committee file, as in production."""
    from authorities import gateway as gateway_module
    from fastpay_protocol.membership import committee_load
    from offline import committee as offline_committee

    gateways = []

    def use(directory):
        loaded = committee_load(directory / "committee.json")
        gateway = gateway_module.Gateway(
            loaded.committee, PLATFORM_KEY, timeout_s=5, previous=dict(loaded.previous)
        )
        gateways.append(gateway)
        for target in (
            gateway_module,
            offline_committee,
            "offline.services.vouchers",
            "offline.services.transfers",
        ):
            if isinstance(target, str):
                monkeypatch.setattr(f"{target}.gateway", lambda: gateway)
            else:
                monkeypatch.setattr(target, "gateway", lambda: gateway)
        return gateway

    yield use
    for gateway in gateways:
        for client in gateway._clients.values():
            client.close()


def test_vouchers_outstanding_across_an_epoch_change_are_paid_within_the_window(
    epoch_nodes, alice, usdt, api_platform, client_for, use_committee_file, tmp_path, fund
):
    from fastpay_protocol import signing
    from fastpay_protocol.pos import Terminal
    from fastpay_protocol.voucher import Refused
    from fastpay_protocol.wallet import Wallet
    from offline.models import FastPayAccount, Redemption, RedemptionState
    from tests.wallets.factories import UserFactory
    from wallets.models import UserRole

    directory, nodes, first = epoch_nodes
    gateway = use_committee_file(directory)
    epoch_1 = gateway.committee
    wallet = Wallet.create(str(tmp_path / "alice.db"), "pw", account_key=PAYER_KEY, n=2**10)
    FastPayAccount.objects.create(user=alice, address=wallet.address)
    fund(alice, usdt, 10)  # online money for the vouchers' collateral (docs/offline.md)
    vendor = UserFactory(username="epoch-vendor", role=UserRole.VENDOR)
    vendor_address = signing.Signer(b"\x42" * 32).address
    FastPayAccount.objects.create(user=vendor, address=vendor_address)
    vouchers = [
        wallet.issue(
            gateway.client(),
            api_platform(alice),
            token=usdt.contract_address,
            amount=2 * UNIT,
            validity_s=3600,
        )
        for _ in range(2)
    ]
    in_window, too_late = (
        v.pay(epoch_1.hasher, vendor=vendor_address, amount=UNIT).to_text() for v in vouchers
    )

    move_to_epoch_2(directory, nodes, first, voting_until=int(time.time()) + 3600)
    gateway = use_committee_file(directory)
    assert (gateway.committee.epoch, sorted(gateway.committees)) == (2, [1, 2])

    # a terminal configured after the change still accepts epoch-1 vouchers...
    config = client_for(vendor).get("/api/v1/offline/terminal/").json()
    assert [c["epoch"] for c in config["previous_committees"]] == [1]
    current = Terminal.create(
        str(tmp_path / "shop.pos"),
        vendor=vendor_address,
        issuer=config["issuer"],
        committee=gateway.committee,
        previous=tuple(gateway.committees[e] for e in [1]),
    )
    current.accept(in_window)
    # ...one that only knows the new epoch refuses them, with the reason
    bare = Terminal.create(
        str(tmp_path / "bare.pos"),
        vendor=vendor_address,
        issuer=config["issuer"],
        committee=gateway.committee,
    )
    with pytest.raises(Refused) as refused:
        bare.accept(in_window)
    assert refused.value.reason == "unknown_epoch"

    # the nodes still vote in epoch 1: the spend is certified by epoch 1's committee
    result = api_platform(vendor).redemptions_sync([in_window])["results"][0]
    assert result["state"] == "pending"
    redemption = Redemption.objects.get(pk=result["id"])
    assert redemption.state == RedemptionState.SETTLED
    assert redemption.certificate["order"]["epoch"] == 1
    assert gateway.client().account_state(vendor_address).balance(usdt.contract_address) == UNIT

    # once the window has closed the nodes refuse: the spend waits, saying why
    move_to_epoch_2(directory, nodes, first, voting_until=int(time.time()) - 1)
    gateway = use_committee_file(directory)
    result = api_platform(vendor).redemptions_sync([too_late])["results"][0]
    redemption = Redemption.objects.get(pk=result["id"])
    assert redemption.state == RedemptionState.PENDING
    assert "wrong_epoch" in redemption.last_error
    assert redemption.attempts == 1
