"""Platform-side fixtures of the on-chain settlement tests (the world: world.py)."""

import pytest

from tests.settlement.batches.world import settlement_world

PLATFORM_KEY = b"\x78" * 32


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with settlement_world(tmp_path_factory.mktemp("settlement-world")) as w:
        yield w


@pytest.fixture
def settler_key(settings, tmp_path, world):
    """The settler (SETTLER_ROLE on the processor) as the sender's ``key:chain-sender``."""
    from fastpay import keyvault

    settings.FASTPAY_KEK = keyvault.new_kek_text()
    path = tmp_path / "chain-sender-key.json"
    path.write_text(
        keyvault.seal(
            bytes(world.settler.key),
            keyvault.kek_from_text(settings.FASTPAY_KEK),
            label="chain-sender",
        )
    )
    settings.FASTPAY_CHAIN_SENDER_KEY_FILE = str(path)
    return world.settler.address


@pytest.fixture
def chain(db, world):
    from wallets.chain.models import Chain
    from wallets.models import Token

    chain, _ = Chain.objects.update_or_create(
        chain_id=world.chain_id,
        defaults={
            "name": "anvil",
            "rpc_urls": [world.url],
            "confirmations": 2,
            "max_log_range": 500,
            "poll_interval_ms": 50,
            "native_symbol": "ETH",
        },
    )
    # (a transactional test before may have flushed the seeded rows)
    Token.objects.update_or_create(
        symbol="USDT",
        defaults={
            "name": "Tether USD",
            "chain_id": chain.chain_id,
            "contract_address": world.usdt.address,
            "decimals": 18,
            "ledger_decimals": 6,
            "enabled": True,
        },
    )
    return chain


@pytest.fixture
def platform_gateway(world, monkeypatch):
    """The platform's real Gateway over the four nodes, where the platform looks for it."""
    from authorities import gateway as gateway_module
    from fastpay_protocol.committee import fetch_committee

    committee = fetch_committee(world.nodes[0].url)
    assert committee.vault_address == world.vault.address
    gw = gateway_module.Gateway(committee, PLATFORM_KEY, timeout_s=5)
    monkeypatch.setattr(gateway_module, "gateway", lambda: gw)
    return gw


@pytest.fixture
def settle(world, chain, settler_key, platform_gateway):
    """settle(): one settlement tick and the sender's follow loop, mining between, until
    nothing moves; returns the ticks' counts."""
    from settlement.batches.services import batches_tick
    from wallets.chain.sender import tx_follow

    def run(rounds: int = 12) -> list[dict]:
        ticks = []
        for _ in range(rounds):
            ticks.append(batches_tick())
            world.rpc("anvil_mine", [hex(1)])
            tx_follow(chain)
        return ticks

    return run
