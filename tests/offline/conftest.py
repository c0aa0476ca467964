"""The offline app against four real authority node processes (tests/authorities/nodes.py):
the platform's gateway and the offline app's committee client point at them; payers'
wallets and vendors' terminals are the real client library, talking to the API through
the DRF test client."""

import itertools
import os

import pytest
from eth_account import Account

from fastpay_protocol import signing
from fastpay_protocol.offline_api import PlatformError
from tests.authorities.nodes import local_committee

PLATFORM_KEY = b"\x77" * 32
FUNDED_UNITS = 1_000_000_000  # 1,000 tokens per payer at the committee
PAYER_KEYS = [(0xFACE000 + i).to_bytes(32, "big") for i in range(96)]
_payer_keys = iter(PAYER_KEYS)


@pytest.fixture(scope="session")
def token_addresses():
    """The seeded tokens (wallets migration 0002), read from the migration rather than the
    database: a transactional test that ran before may have flushed the table."""
    import importlib

    seed = importlib.import_module("wallets.migrations.0002_append_only_tokens_groups")
    return {symbol: address for symbol, _, _, address, _ in seed.TOKENS}


@pytest.fixture(scope="session")
def nodes(tmp_path_factory, token_addresses):
    genesis = [
        (Account.from_key(key).address, token_addresses["USDT"], FUNDED_UNITS) for key in PAYER_KEYS
    ]
    with local_committee(tmp_path_factory.mktemp("offline-nodes"), genesis=genesis) as nodes:
        yield nodes


@pytest.fixture(scope="session")
def committee(nodes):
    from fastpay_protocol.committee import fetch_committee

    return fetch_committee(nodes[0].url)


@pytest.fixture(scope="session")
def committee_client(committee):
    from fastpay_protocol.committee import CommitteeClient

    with CommitteeClient(committee, timeout=5) as client:
        yield client


@pytest.fixture
def platform_gateway(committee, monkeypatch, committee_client):
    """The real Gateway (platform key, committee of the nodes) everywhere the platform
    looks for it, and the offline app's client on the nodes."""
    from authorities import gateway as gateway_module
    from offline import committee as offline_committee

    gateway = gateway_module.Gateway(committee, PLATFORM_KEY, timeout_s=5)
    monkeypatch.setattr(gateway_module, "gateway", lambda: gateway)
    monkeypatch.setattr(offline_committee, "gateway", lambda: gateway)
    monkeypatch.setattr("offline.services.vouchers.gateway", lambda: gateway)
    monkeypatch.setattr("offline.services.transfers.gateway", lambda: gateway)
    monkeypatch.setattr(
        offline_committee,
        "client",
        lambda epoch=None: committee_client if epoch in (None, committee.epoch) else None,
    )
    return gateway


@pytest.fixture
def allow_all_risk(settings):
    settings.FASTPAY_OFFLINE_RISK_ASSESSOR = "offline.risk.allow_all"


class ApiPlatform:
    """fastpay_protocol.offline_api.PlatformClient's interface over the DRF test client;
    runs on-commit work (the eager settlement task) like a real request would."""

    def __init__(self, client, capture):
        self.client = client
        self.capture = capture

    def _post(self, path, body):
        with self.capture(execute=True):
            response = self.client.post(path, body, format="json")
        if response.status_code >= 400:
            error = response.json()["error"]
            raise PlatformError(error["code"], error["message"], response.status_code)
        return response.json()

    def voucher_register(self, *, certificate, validity_s):
        return self._post(
            "/api/v1/offline/vouchers/", {"certificate": certificate, "validity_s": validity_s}
        )

    def terminal_config(self):
        response = self.client.get("/api/v1/offline/terminal/")
        if response.status_code >= 400:
            error = response.json()["error"]
            raise PlatformError(error["code"], error["message"], response.status_code)
        return response.json()

    def redemptions_sync(self, payments):
        return self._post(
            "/api/v1/offline/redemptions/sync/", {"items": [{"payment": p} for p in payments]}
        )


@pytest.fixture
def api_platform(client_for, django_capture_on_commit_callbacks):
    return lambda user: ApiPlatform(client_for(user), django_capture_on_commit_callbacks)


#: online money a payer_wallet() user gets (whole tokens of USDT): what their vouchers'
#: collateral is held from (docs/offline.md, "Limits")
COLLATERAL_TOKENS = 100


@pytest.fixture
def payer_wallet(db, tmp_path, fund):
    """A funded FastPay key in a wallet file, linked to the user, who also has
    ``online`` (default COLLATERAL_TOKENS) USDT online to hold as vouchers' collateral."""
    from fastpay_protocol.wallet import Wallet
    from offline.models import FastPayAccount
    from wallets.models import Token

    def make(user, online: int = COLLATERAL_TOKENS):
        key = next(_payer_keys)
        wallet = Wallet.create(
            str(tmp_path / f"{user.username}.db"), "pw", account_key=key, n=2**10
        )
        FastPayAccount.objects.create(user=user, address=wallet.address)
        if online:
            fund(user, Token.objects.get(symbol="USDT"), online)
        return wallet

    return make


_vendor_numbers = itertools.count()


@pytest.fixture
def vendor_factory(db, tmp_path, committee):
    """make() -> (vendor user, its terminal)."""
    from fastpay_protocol.pos import Terminal
    from offline.models import FastPayAccount
    from tests.wallets.factories import UserFactory
    from wallets.models import UserRole

    def make(name=None):
        name = name or f"vendor{next(_vendor_numbers)}"
        user = UserFactory(username=name, role=UserRole.VENDOR)
        address = signing.Signer(os.urandom(32)).address
        FastPayAccount.objects.create(user=user, address=address)
        terminal = Terminal.create(
            str(tmp_path / f"{name}.pos"),
            vendor=address,
            issuer=signing.Signer(PLATFORM_KEY).address,
            committee=committee,
        )
        return user, terminal

    return make
