"""The keys' back office: HD accounts and deposit addresses read-only, platform addresses
addable (an external cold Safe) but never changed or deleted."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from fastpay import keyvault
from tests.wallets.factories import UserFactory
from wallets.chain import addresses
from wallets.chain.models import AddressRole, Chain, HDAccount, PlatformAddress

SAFE = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55 spec example


@pytest.fixture
def admin_client(db, settings, tmp_path):
    from wallets.models import User

    settings.FASTPAY_KEK = keyvault.new_kek_text()
    settings.FASTPAY_HD_SEED_FILE = str(tmp_path / "hd-seed.json")
    Chain.objects.create(chain_id=56, name="BSC", confirmations=15)
    call_command("wallet_init", stdout=StringIO())
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.test", "pw-123456"))
    return client


def test_hd_accounts_are_read_only(admin_client):
    account = HDAccount.objects.get(name="deposits")
    page = admin_client.get(f"/admin/wallets/hdaccount/{account.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert account.xpub in body and "m/44&#x27;/60&#x27;/0&#x27;" in body
    assert 'name="xpub"' not in body
    admin_client.post(f"/admin/wallets/hdaccount/{account.pk}/change/", {"xpub": "xpub-x"})
    assert HDAccount.objects.get(pk=account.pk).xpub == account.xpub
    assert admin_client.get("/admin/wallets/hdaccount/add/").status_code == 403
    assert admin_client.post(f"/admin/wallets/hdaccount/{account.pk}/delete/").status_code == 403


def test_deposit_addresses_are_listed_searchable_and_read_only(admin_client):
    row = addresses.deposit_address_for(UserFactory(username="carol"), Chain.objects.get())
    listing = admin_client.get("/admin/wallets/depositaddress/", {"q": "carol"})
    assert listing.status_code == 200 and row.address in listing.content.decode()
    page = admin_client.get(f"/admin/wallets/depositaddress/{row.pk}/change/").content.decode()
    assert 'name="address"' not in page and "/0/0" in page
    assert admin_client.get("/admin/wallets/depositaddress/add/").status_code == 403


def test_an_external_cold_address_is_added_once_and_never_changed(admin_client):
    chain = Chain.objects.get()
    add = "/admin/wallets/platformaddress/add/"
    refused = admin_client.post(add, {"chain": chain.pk, "role": "cold", "address": SAFE.lower()})
    assert refused.status_code == 200 and "EIP-55" in refused.content.decode()
    assert not PlatformAddress.objects.filter(role=AddressRole.COLD).exists()
    admin_client.post(add, {"chain": chain.pk, "role": "cold", "address": SAFE})
    cold = PlatformAddress.objects.get(role=AddressRole.COLD)
    assert (cold.address, cold.account, cold.index) == (SAFE, None, None)
    hot = PlatformAddress.objects.get(role=AddressRole.HOT)
    page = admin_client.get(f"/admin/wallets/platformaddress/{hot.pk}/change/").content.decode()
    assert 'name="address"' not in page and "m/44&#x27;/60&#x27;/1&#x27;/0/0" in page
    admin_client.post(
        f"/admin/wallets/platformaddress/{hot.pk}/change/",
        {"chain": chain.pk, "role": "hot", "address": SAFE},
    )
    assert PlatformAddress.objects.get(pk=hot.pk).address == hot.address
    delete = f"/admin/wallets/platformaddress/{cold.pk}/delete/"
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    # a second hot wallet for the chain: the unique role refuses it
    twice = admin_client.post(add, {"chain": chain.pk, "role": "hot", "address": SAFE})
    assert twice.status_code == 200
    assert PlatformAddress.objects.filter(role=AddressRole.HOT).count() == 1
