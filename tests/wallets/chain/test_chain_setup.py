"""manage.py tokens_use_deployment against a real anvil: the tokens pointed at the
deployment, the Chain row (chain id asked of the node) and the native gas token; then
wallet_init records the chain's platform addresses."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from fastpay import keyvault
from wallets.chain.addresses import NATIVE_CONTRACT
from wallets.chain.models import Chain, PlatformAddress
from wallets.models import Token

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(anvil, tmp_path, settings):
    settings.FASTPAY_CHAIN_RPC_URL = anvil.url
    path = tmp_path / "deployment.json"
    path.write_text(
        json.dumps(
            {
                "chain_id": anvil.chain_id,
                "tokens": [
                    {"symbol": "USDT", "address": anvil.usdt.address, "decimals": 18},
                    {"symbol": "USDC", "address": anvil.usdc.address, "decimals": 6},
                ],
            }
        )
    )
    return path


def use(path, *args):
    out = StringIO()
    call_command("tokens_use_deployment", "--deployment", str(path), *args, stdout=out)
    return out.getvalue()


def test_it_creates_the_local_chain_and_its_native_token(anvil, deployment):
    output = use(deployment)
    chain = Chain.objects.get(chain_id=anvil.chain_id)
    assert (chain.rpc_urls, chain.confirmations, chain.enabled) == ([anvil.url], 2, True)
    native = Token.objects.get(chain_id=anvil.chain_id, contract_address=NATIVE_CONTRACT)
    assert (native.symbol, native.decimals, native.ledger_decimals, native.enabled) == (
        "ETH",
        18,
        12,
        False,
    )
    usdc = Token.objects.get(symbol="USDC")
    assert (usdc.chain_id, usdc.contract_address, usdc.decimals) == (
        anvil.chain_id,
        anvil.usdc.address,
        6,
    )
    assert f"chain {anvil.chain_id}" in output
    # again: nothing new, an operator's change of confirmations kept
    Chain.objects.filter(pk=chain.pk).update(confirmations=5)
    use(deployment)
    assert Chain.objects.get(pk=chain.pk).confirmations == 5
    assert Token.objects.filter(contract_address=NATIVE_CONTRACT).count() == 1


def test_then_wallet_init_records_its_platform_addresses(anvil, deployment, settings, tmp_path):
    settings.FASTPAY_KEK = keyvault.new_kek_text()
    settings.FASTPAY_HD_SEED_FILE = str(tmp_path / "hd-seed.json")
    use(deployment)
    call_command("wallet_init", stdout=StringIO())
    roles = PlatformAddress.objects.filter(chain__chain_id=anvil.chain_id)
    assert sorted(roles.values_list("role", flat=True)) == ["gas_station", "hot", "settler"]


def test_a_node_of_another_chain_is_refused_before_anything_changes(anvil, deployment):
    data = json.loads(deployment.read_text())
    data["chain_id"] = 56
    deployment.write_text(json.dumps(data))
    before = list(Token.objects.values())
    with pytest.raises(CommandError, match=f"is chain {anvil.chain_id}"):
        use(deployment)
    assert list(Token.objects.values()) == before
    assert not Chain.objects.exists()


def test_an_unreachable_node_is_refused(deployment, settings):
    settings.FASTPAY_CHAIN_RPC_URL = "http://127.0.0.1:9"
    with pytest.raises(CommandError, match="no chain id"):
        use(deployment)
    assert not Chain.objects.exists()
