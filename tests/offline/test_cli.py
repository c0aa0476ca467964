"""The command line, both roles, end to end against real authority processes (the
platform is the Django test client behind the PlatformClient interface)."""

import argparse

import pytest

from fastpay_protocol import cli, signing
from tests.offline.conftest import PLATFORM_KEY

pytestmark = pytest.mark.usefixtures("platform_gateway", "allow_all_risk")


def run(capsys, *argv) -> tuple[int, str]:
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().out


def test_a_shell_demo_from_issue_to_settlement(
    tmp_path, capsys, monkeypatch, nodes, alice, payer_wallet, vendor_factory, api_platform, usdt
):
    from offline.models import FastPayAccount

    monkeypatch.setenv("FASTPAY_WALLET_PASSPHRASE", "pw")
    monkeypatch.setenv("FASTPAY_API_TOKEN", "unused-by-the-test-platform")
    vendor, _ = vendor_factory()
    vendor_address = FastPayAccount.objects.get(user=vendor).address
    wallet = payer_wallet(alice)  # a funded key; the CLI opens the same file
    wallet_file = wallet.db.execute("PRAGMA database_list").fetchone()[2]
    wallet.close()
    platforms = {"payer": api_platform(alice), "vendor": api_platform(vendor)}
    role = {"now": "payer"}
    monkeypatch.setattr(cli, "_platform", lambda args: platforms[role["now"]])
    monkeypatch.setattr("fastpay_protocol.wallet.SCRYPT_N", 2**10)

    code, out = run(
        capsys,
        "wallet",
        "issue",
        "--wallet",
        wallet_file,
        "--committee",
        nodes[0].url,
        "--platform",
        "http://platform",
        "--asset",
        usdt.contract_address,
        "--amount",
        "5",
        "--validity",
        3600,
    )
    assert code == 0 and "value  5 " in out
    code, out = run(
        capsys,
        "wallet",
        "pay",
        "--wallet",
        wallet_file,
        "--vendor",
        vendor_address,
        "--amount",
        "2.5",
        "--qr",
        tmp_path / "pay.png",
        "--out",
        tmp_path / "pay.txt",
    )
    assert code == 0 and "paid 2.5 to" in out
    assert (tmp_path / "pay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    pos = tmp_path / "shop.pos"
    issuer = signing.Signer(PLATFORM_KEY).address
    code, out = run(
        capsys,
        "pos",
        "init",
        "--pos",
        pos,
        "--committee",
        nodes[0].url,
        "--vendor",
        vendor_address,
        "--issuer",
        issuer,
    )
    assert code == 0
    code, out = run(capsys, "pos", "accept", "--pos", pos, "--file", tmp_path / "pay.txt")
    assert code == 0 and out.startswith("ACCEPTED 2.5")
    code, out = run(capsys, "pos", "accept", "--pos", pos, "--file", tmp_path / "pay.txt")
    assert code == 1 and out.startswith("REFUSED already_seen")
    code, out = run(capsys, "pos", "accept", "--pos", pos, "FP0000")
    assert code == 1 and out.startswith("REFUSED")

    role["now"] = "vendor"
    code, out = run(capsys, "pos", "sync", "--pos", pos, "--platform", "http://platform")
    assert code == 0 and "1 pending" in out
    code, out = run(capsys, "pos", "sync", "--pos", pos, "--platform", "http://platform")
    assert "1 settled" in out and "settled" in out.splitlines()[-1]

    code, out = run(
        capsys,
        "wallet",
        "sweep",
        "--wallet",
        wallet_file,
        "--committee",
        nodes[0].url,
        "--grace",
        0,
    )
    assert code == 0 and "swept 2.5" in out
    code, out = run(capsys, "wallet", "list", "--wallet", wallet_file)
    assert "swept" in out


def test_amounts_are_parsed_without_floats():
    assert cli.parse_units("2.5") == 2_500_000
    assert cli.parse_units("0.000001") == 1
    assert cli.format_units(2_500_000) == "2.5"
    with pytest.raises(argparse.ArgumentTypeError):
        cli.parse_units("0.0000001")


@pytest.fixture
def platform_vendor(monkeypatch, vendor_factory, api_platform):
    """A vendor whose CLI talks to the test platform."""
    monkeypatch.setenv("FASTPAY_API_TOKEN", "unused-by-the-test-platform")
    vendor, _ = vendor_factory()
    monkeypatch.setattr(cli, "_platform", lambda args: api_platform(vendor))
    return vendor


def test_pos_init_and_refresh_read_the_platforms_terminal_config(
    tmp_path, capsys, platform_gateway, platform_vendor, committee, monkeypatch
):
    from authorities import gateway as gateway_module
    from fastpay_protocol.messages import Committee
    from fastpay_protocol.pos import Terminal
    from offline import committee as offline_committee
    from offline.models import FastPayAccount
    from tests.offline.conftest import PLATFORM_KEY

    pos = tmp_path / "refresh.pos"

    code, out = run(capsys, "pos", "init", "--pos", pos, "--platform", "http://platform")
    assert code == 0 and f"committee epoch {committee.epoch}" in out
    terminal = Terminal(str(pos))
    assert terminal.vendor == FastPayAccount.objects.get(user=platform_vendor).address
    assert terminal.previous == ()
    terminal.close()

    # the committee changed: the platform now also settles the previous epoch's vouchers
    newer = Committee.from_json({**committee.to_json(), "epoch": committee.epoch + 1})
    changed = gateway_module.Gateway(
        newer, PLATFORM_KEY, timeout_s=5, previous={committee.epoch: committee}
    )
    monkeypatch.setattr(offline_committee, "gateway", lambda: changed)
    code, out = run(capsys, "pos", "refresh", "--pos", pos, "--platform", "http://platform")
    assert code == 0
    assert f"epoch {committee.epoch + 1}" in out
    assert f"previous epochs still accepted: {committee.epoch}" in out
    terminal = Terminal(str(pos))
    assert (terminal.committee.epoch, [c.epoch for c in terminal.previous]) == (
        committee.epoch + 1,
        [committee.epoch],
    )
    terminal.close()


def test_pos_commands_on_a_missing_store_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTPAY_API_TOKEN", "x")
    with pytest.raises(SystemExit) as error:
        cli.main(["pos", "queue", "--pos", str(tmp_path / "nope.pos")])
    assert "run `pos init` first" in str(error.value)


def test_pos_refresh_refuses_another_ticket_issuer(tmp_path, capsys, platform_vendor, nodes):
    pos = tmp_path / "other.pos"
    other = signing.Signer(b"\x55" * 32).address
    code, _ = run(
        capsys,
        "pos",
        "init",
        "--pos",
        pos,
        "--committee",
        nodes[0].url,
        "--vendor",
        other,
        "--issuer",
        other,
    )
    assert code == 0

    with pytest.raises(SystemExit) as error:
        cli.main(["pos", "refresh", "--pos", str(pos), "--platform", "http://platform"])
    assert "ticket issuer" in str(error.value)
