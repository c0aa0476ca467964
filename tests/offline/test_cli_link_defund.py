"""`fastpay wallet link` and `fastpay wallet defund` end to end: the CLI's own PlatformClient
over real HTTP to the platform (live_server, a real JWT), real authority node processes."""

import socket

import pytest

from fastpay_protocol import cli
from tests.offline import conftest as offline_conftest

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("platform_gateway", "allow_all_risk"),
]


def run(capsys, *argv) -> tuple[int, str]:
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().out


@pytest.fixture
def payer(monkeypatch, capsys, alice, tmp_path):
    """Alice's wallet file on a key the committee funded at genesis, not linked yet; the
    CLI's environment carries her passphrase and a real access token."""
    from rest_framework_simplejwt.tokens import RefreshToken

    monkeypatch.setattr("fastpay_protocol.wallet.SCRYPT_N", 2**10)
    monkeypatch.setenv("FASTPAY_WALLET_PASSPHRASE", "pw")
    monkeypatch.setenv("FASTPAY_ACCOUNT_KEY", next(offline_conftest._payer_keys).hex())
    monkeypatch.setenv("FASTPAY_API_TOKEN", str(RefreshToken.for_user(alice).access_token))
    path = tmp_path / "alice.db"
    assert cli.main(["wallet", "init", "--wallet", str(path), "--import-key"]) == 0
    capsys.readouterr()
    return path


def _available(user, token) -> int:
    from wallets.models import AccountKind, LedgerAccount

    account = LedgerAccount.objects.filter(owner=user, token=token, kind=AccountKind.AVAILABLE)
    return account.values_list("balance", flat=True).first() or 0


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _link(capsys, payer, live_server):
    return run(capsys, "wallet", "link", "--wallet", payer, "--platform", live_server.url)


def _defund(capsys, payer, platform_url, nodes, usdt, amount):
    return run(
        capsys,
        "wallet",
        "defund",
        "--wallet",
        payer,
        "--platform",
        platform_url,
        "--committee",
        nodes[0].url,
        "--asset",
        usdt.contract_address,
        "--amount",
        amount,
    )


def test_wallet_link_links_the_wallets_address_to_the_user(capsys, payer, live_server, alice):
    from fastpay_protocol.wallet import Wallet
    from offline.models import FastPayAccount

    code, out = _link(capsys, payer, live_server)

    address = Wallet.open(str(payer), "pw").address
    assert code == 0, out
    assert out.strip() == f"linked {address} to user alice"
    assert FastPayAccount.objects.get(user=alice).address == address


def test_wallet_link_is_refused_for_an_address_another_user_holds(capsys, payer, live_server, bob):
    from fastpay_protocol.wallet import Wallet
    from offline.models import FastPayAccount

    FastPayAccount.objects.create(user=bob, address=Wallet.open(str(payer), "pw").address)

    code, out = _link(capsys, payer, live_server)

    assert code == 1
    assert out.startswith("REFUSED address_taken")
    assert FastPayAccount.objects.filter(user__username="alice").count() == 0


def test_wallet_defund_moves_money_to_the_online_balance(
    capsys, payer, live_server, nodes, committee_client, alice, usdt
):
    from fastpay_protocol.wallet import Wallet
    from offline.models import OfflineTransfer, TransferDirection, TransferState

    assert _link(capsys, payer, live_server)[0] == 0
    address = Wallet.open(str(payer), "pw").address
    before = committee_client.account_state(address).balance(usdt.contract_address)

    code, out = _defund(capsys, payer, live_server.url, nodes, usdt, "2.5")

    assert code == 0, out
    assert "defund #0  2.5  done" in out
    assert _available(alice, usdt) == 2_500_000
    transfer = OfflineTransfer.objects.get(user=alice)
    assert (transfer.direction, transfer.state, transfer.amount) == (
        TransferDirection.DEFUND,
        TransferState.DONE,
        2_500_000,
    )
    after = committee_client.account_state(address).balance(usdt.contract_address)
    assert before - after == 2_500_000


def test_a_defund_the_platform_missed_is_handed_in_again_and_credited_once(
    capsys, monkeypatch, payer, live_server, nodes, alice, usdt
):
    from fastpay_protocol.offline_api import PlatformClient
    from offline.models import OfflineTransfer

    assert _link(capsys, payer, live_server)[0] == 0
    down = _closed_port_url()

    # the platform cannot be reached to learn its address: nothing is signed
    code, out = _defund(capsys, payer, down, nodes, usdt, "1")
    assert code == 1 and out.startswith("REFUSED unreachable")

    # certified and confirmed at the committee, then the platform is gone for the hand-in
    real_defund = PlatformClient.defund
    monkeypatch.setattr(
        PlatformClient,
        "defund",
        lambda self, **kw: real_defund(PlatformClient(down, self.token, timeout=1), **kw),
    )
    code, out = _defund(capsys, payer, live_server.url, nodes, usdt, "1")
    monkeypatch.setattr(PlatformClient, "defund", real_defund)
    assert code == 1
    assert "defund #0  1  certified" in out and "run `wallet defund` again" in out
    assert _available(alice, usdt) == 0

    code, out = run(capsys, "wallet", "defund", "--wallet", payer, "--platform", live_server.url)
    assert code == 0, out
    assert "defund #0  1  done" in out
    assert _available(alice, usdt) == 1_000_000

    code, out = run(capsys, "wallet", "defund", "--wallet", payer, "--platform", live_server.url)
    assert (code, out.strip()) == (0, "nothing to defund (give --asset and --amount)")
    assert OfflineTransfer.objects.filter(user=alice).count() == 1
    assert _available(alice, usdt) == 1_000_000


def test_a_defund_above_the_offline_balance_is_refused_by_the_committee(
    capsys, payer, live_server, nodes, alice, usdt
):
    from offline.models import OfflineTransfer

    assert _link(capsys, payer, live_server)[0] == 0

    code, out = _defund(capsys, payer, live_server.url, nodes, usdt, "5000")

    assert code == 1
    assert out.startswith("REFUSED by the committee")
    assert _available(alice, usdt) == 0
    assert not OfflineTransfer.objects.filter(user=alice).exists()


def test_wallet_defund_without_a_link_is_refused_by_the_platform(
    capsys, payer, live_server, nodes, alice, usdt
):
    code, out = _defund(capsys, payer, live_server.url, nodes, usdt, "1")

    assert code == 1
    assert out.startswith("REFUSED")
    assert _available(alice, usdt) == 0


def test_pos_init_with_a_merchant_api_key_caches_the_committee_and_the_merchants_address(
    capsys, monkeypatch, live_server, committee, tmp_path
):
    """docs/offline.md: `FASTPAY_API_TOKEN=$SHOP_KEY fastpay pos init --platform $P`."""
    from fastpay.api_keys import api_key_create
    from fastpay_protocol import signing
    from fastpay_protocol.pos import Terminal
    from offline.models import FastPayAccount
    from tests.wallets.factories import UserFactory
    from wallets.models import UserRole

    shop = UserFactory(username="shop", role=UserRole.MERCHANT)
    address = signing.Signer(b"\x42" * 32).address
    FastPayAccount.objects.create(user=shop, address=address)
    _, secret = api_key_create(user=shop, name="till", scopes=["payments:read"])
    monkeypatch.setenv("FASTPAY_API_TOKEN", secret)

    code, out = run(
        capsys, "pos", "init", "--pos", tmp_path / "shop.pos", "--platform", live_server.url
    )

    assert code == 0, out
    assert f"vendor {address}" in out
    terminal = Terminal(str(tmp_path / "shop.pos"))
    assert terminal.vendor == address
    assert terminal.issuer == signing.Signer(offline_conftest.PLATFORM_KEY).address
    assert f"committee epoch {committee.epoch}" in out


def test_the_account_endpoint_names_the_platforms_address_while_the_committee_is_silent(
    monkeypatch, client_for, alice
):
    """What `wallet defund` reads first: the platform's address comes from its own key, so
    a committee that does not answer the account read in time does not hide it."""
    from authorities.gateway import CommitteeUnavailable
    from offline.models import FastPayAccount

    class SilentCommittee:
        platform_address = "0x" + "ab" * 20

        def account_state(self, address):
            raise CommitteeUnavailable("no quorum answered in time")

    monkeypatch.setattr("offline.services.transfers.gateway", lambda: SilentCommittee())
    FastPayAccount.objects.create(user=alice, address="0x" + "cd" * 20)

    response = client_for(alice).get("/api/v1/offline/account/")

    assert response.status_code == 200
    assert response.json() == {
        "address": "0x" + "cd" * 20,
        "platform_address": "0x" + "ab" * 20,
        "state": None,
    }
