"""manage.py wallet_init: creates and seals the seed, records the public keys, is idempotent,
refuses a different seed, never prints the mnemonic, writes a 0600 backup on request."""

import os
import stat
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from fastpay import keyvault
from wallets.chain import hd
from wallets.chain.models import AddressRole, Chain, HDAccount, PlatformAddress

DEV_MNEMONIC = "test test test test test test test test test test test junk"
pytestmark = pytest.mark.django_db


@pytest.fixture
def keys_env(settings, tmp_path):
    settings.FASTPAY_KEK = keyvault.new_kek_text()
    settings.FASTPAY_HD_SEED_FILE = str(tmp_path / "var" / "hd-seed.json")
    return tmp_path


@pytest.fixture
def chains(db):
    return [
        Chain.objects.create(chain_id=56, name="BSC", poa=True, confirmations=15),
        Chain.objects.create(chain_id=31337, name="anvil", confirmations=2, block_window=64),
        Chain.objects.create(chain_id=1, name="Ethereum", enabled=False),
    ]


def run(*args) -> str:
    out = StringIO()
    call_command("wallet_init", *args, stdout=out, stderr=out)
    return out.getvalue()


def snapshot():
    return (
        list(HDAccount.objects.order_by("name").values()),
        list(PlatformAddress.objects.order_by("pk").values()),
    )


def test_it_creates_a_sealed_seed_and_records_the_public_keys(keys_env, chains):
    output = run()
    path = hd.seed_path()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    seed = hd.seed_load()
    fingerprint = hd.seed_fingerprint(seed)
    assert fingerprint in output
    accounts = {a.name: a for a in HDAccount.objects.all()}
    assert {name: a.account_index for name, a in accounts.items()} == hd.ACCOUNTS
    for name, account in accounts.items():
        assert account.xpub == hd.account_xpub(seed, hd.ACCOUNTS[name])
        assert account.seed_fingerprint == fingerprint
        assert account.next_index == 0
    rows = PlatformAddress.objects.order_by("chain__chain_id", "index")
    # enabled chains only; hot 0, gas station 1, settler 2 of the operations account
    assert [(r.chain.chain_id, r.role, r.index) for r in rows] == [
        (56, AddressRole.HOT, 0),
        (56, AddressRole.GAS_STATION, 1),
        (56, AddressRole.SETTLER, 2),
        (31337, AddressRole.HOT, 0),
        (31337, AddressRole.GAS_STATION, 1),
        (31337, AddressRole.SETTLER, 2),
    ]
    for row in rows:
        assert row.account.name == "operations"
        assert row.address == hd.address_at(accounts["operations"].xpub, row.index)


def test_a_second_run_changes_nothing(keys_env, chains):
    run()
    before, envelope = snapshot(), hd.seed_path().read_text()
    output = run()
    assert "nothing to do" in output
    assert snapshot() == before
    assert hd.seed_path().read_text() == envelope


def test_an_imported_mnemonic_gives_its_known_addresses(keys_env, chains):
    mnemonic_file = keys_env / "m.txt"
    mnemonic_file.write_text("  " + DEV_MNEMONIC.replace(" ", "\n") + "\n")
    run("--mnemonic-file", str(mnemonic_file))
    seed = hd.seed_from_mnemonic(DEV_MNEMONIC)
    assert hd.seed_load() == seed
    deposits = HDAccount.objects.get(name="deposits")
    assert hd.address_at(deposits.xpub, 0) == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    hot = PlatformAddress.objects.get(chain__chain_id=31337, role=AddressRole.HOT)
    assert hot.address == hd.address_at(hd.account_xpub(seed, 1), 0)
    # the same mnemonic again (the seed file exists): accepted, nothing changes
    before = snapshot()
    assert "nothing to do" in run("--mnemonic-file", str(mnemonic_file))
    assert snapshot() == before


def test_a_different_seed_against_recorded_accounts_is_refused(keys_env, chains):
    run()
    recorded = snapshot()
    # a restore with another mnemonic (the seed file lost): refused, nothing written
    hd.seed_path().unlink()
    other = keys_env / "other.txt"
    other.write_text(DEV_MNEMONIC)
    with pytest.raises(CommandError, match="refusing a different seed"):
        run("--mnemonic-file", str(other), "--backup-to", str(keys_env / "b.txt"))
    assert not hd.seed_path().exists()
    assert not (keys_env / "b.txt").exists()
    assert snapshot() == recorded


def test_a_mnemonic_other_than_the_sealed_seed_is_refused(keys_env, chains):
    run()
    other = keys_env / "other.txt"
    other.write_text(DEV_MNEMONIC)
    envelope = hd.seed_path().read_text()
    with pytest.raises(CommandError, match="another seed"):
        run("--mnemonic-file", str(other))
    assert hd.seed_path().read_text() == envelope


def test_a_sealed_seed_file_foreign_to_the_database_is_refused(keys_env, chains):
    run()
    recorded = snapshot()
    hd.seed_path().unlink()
    hd.seed_seal(hd.seed_create()[1])
    with pytest.raises(CommandError, match="refusing a different seed"):
        run("--chain", "56")
    assert snapshot() == recorded


def test_it_never_prints_the_mnemonic(keys_env, chains, capfd, caplog):
    backup = keys_env / "paper" / "mnemonic.txt"
    output = run("--backup-to", str(backup))
    mnemonic = backup.read_text().strip()
    words = mnemonic.split()
    assert len(words) == 24
    captured = capfd.readouterr()
    everything = output + captured.out + captured.err + caplog.text
    assert mnemonic not in everything
    # not even a run of four of its words in order
    for i in range(len(words) - 3):
        assert " ".join(words[i : i + 4]) not in everything
    assert hd.seed_load().hex() not in everything


def test_backup_to_writes_the_mnemonic_in_a_new_0600_file(keys_env, chains):
    backup = keys_env / "mnemonic.txt"
    run("--backup-to", str(backup))
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o600
    assert hd.seed_from_mnemonic(backup.read_text()) == hd.seed_load()
    # once the seed exists its mnemonic is nowhere: a later backup is refused
    with pytest.raises(CommandError, match="only when the seed is created"):
        run("--backup-to", str(keys_env / "again.txt"))
    assert not (keys_env / "again.txt").exists()


def test_backup_to_an_existing_file_is_refused_before_anything_is_made(keys_env, chains):
    backup = keys_env / "mnemonic.txt"
    backup.write_text("keep me")
    with pytest.raises(CommandError, match="never overwritten"):
        run("--backup-to", str(backup))
    assert backup.read_text() == "keep me"
    assert not hd.seed_path().exists()
    assert not HDAccount.objects.exists()


def test_chain_adds_the_platform_addresses_of_a_chain_added_later(keys_env, chains):
    run()
    late = Chain.objects.create(chain_id=97, name="BSC testnet", enabled=False)
    assert not PlatformAddress.objects.filter(chain=late).exists()
    output = run("--chain", "97")
    assert PlatformAddress.objects.filter(chain=late).count() == 3
    assert "recorded" in output
    with pytest.raises(CommandError, match="no chain with chain id 5"):
        run("--chain", "5")


def test_without_a_kek_nothing_is_made(keys_env, chains, settings):
    settings.FASTPAY_KEK = ""
    with pytest.raises(CommandError, match="FASTPAY_KEK"):
        run()
    assert not hd.seed_path().exists()
    assert not HDAccount.objects.exists()


def test_a_wrong_kek_for_the_existing_seed_is_refused(keys_env, chains, settings):
    run()
    settings.FASTPAY_KEK = keyvault.new_kek_text()
    with pytest.raises(CommandError, match="wrong KEK or tampered"):
        run()


def test_a_bad_mnemonic_file_is_refused(keys_env, chains):
    bad = keys_env / "bad.txt"
    bad.write_text("test " * 12)
    with pytest.raises(CommandError, match="checksum"):
        run("--mnemonic-file", str(bad))
    with pytest.raises(CommandError, match="--mnemonic-file"):
        run("--mnemonic-file", str(keys_env / "missing.txt"))
    assert not hd.seed_path().exists()


def test_kek_rotation_reseals_the_same_seed(keys_env, chains, settings, monkeypatch):
    run()
    seed, old = hd.seed_load(), settings.FASTPAY_KEK
    new = keyvault.new_kek_text()
    monkeypatch.setenv("NEW_FASTPAY_KEK", new)
    out = StringIO()
    call_command("wallet_rotate_kek", stdout=out)
    assert new not in out.getvalue() and hd.seed_fingerprint(seed) in out.getvalue()
    assert stat.S_IMODE(os.stat(hd.seed_path()).st_mode) == 0o600
    with pytest.raises(hd.HDError, match="wrong KEK"):
        hd.seed_load()  # the old KEK opens it no more
    settings.FASTPAY_KEK = new
    assert hd.seed_load() == seed
    assert "nothing to do" in run()
    # a wrong new KEK leaves the file as it was
    envelope = hd.seed_path().read_text()
    monkeypatch.setenv("NEW_FASTPAY_KEK", "short")
    with pytest.raises(CommandError, match="NEW_FASTPAY_KEK"):
        call_command("wallet_rotate_kek", stdout=StringIO())
    settings.FASTPAY_KEK = old
    with pytest.raises(CommandError, match="wrong KEK"):
        call_command("wallet_rotate_kek", "--generate", stdout=StringIO())
    assert hd.seed_path().read_text() == envelope
