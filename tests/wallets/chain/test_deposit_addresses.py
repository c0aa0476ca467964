"""GET/POST /api/v1/deposit-addresses/: one address per user per chain, derived from the
deposits xpub (the dev mnemonic's: index 0 is anvil's first account), indexes never reused,
an EIP-681 URI and its QR; every unhappy path a 4xx with a code and the field."""

from io import StringIO

import png
import pytest
from django.core.management import call_command
from django.db import connection

from fastpay import keyvault
from tests.threads import run_threads
from tests.wallets.factories import PendingUserFactory, UserFactory
from wallets.chain import addresses, hd
from wallets.chain.models import Chain, ConfirmationTier, DepositAddress, HDAccount

DEV_MNEMONIC = "test test test test test test test test test test test junk"
ANVIL_0, ANVIL_1, ANVIL_2 = (
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
)
USDT_BSC = "0x55d398326f99059fF775485246999027B3197955"
URL = "/api/v1/deposit-addresses/"


@pytest.fixture
def bsc(db):
    return Chain.objects.create(chain_id=56, name="BSC", poa=True, confirmations=15)


@pytest.fixture
def keys(settings, tmp_path, bsc):
    """wallet_init with the dev mnemonic (its deposit index i is anvil's account i)."""
    settings.FASTPAY_KEK = keyvault.new_kek_text()
    settings.FASTPAY_HD_SEED_FILE = str(tmp_path / "hd-seed.json")
    mnemonic = tmp_path / "mnemonic.txt"
    mnemonic.write_text(DEV_MNEMONIC)
    call_command("wallet_init", "--mnemonic-file", str(mnemonic), stdout=StringIO())
    return HDAccount.objects.get(name="deposits")


@pytest.fixture
def seeded(db):
    """The seeded BSC tokens (this folder's usdt/usdc fixtures point them at an anvil)."""
    from wallets.models import Token

    return {t.symbol: t for t in Token.objects.filter(symbol__in=["USDT", "USDC"])}


@pytest.fixture
def api(client_for, alice):
    return client_for(alice)


def error_of(response):
    return response.json()["error"]


# ------------------------------------------------------------------ create and get


def test_it_creates_the_address_once_then_returns_the_same(keys, api, bsc):
    first = api.post(URL, {"chain_id": 56}, format="json")
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["address"] == ANVIL_0
    assert body["chain_id"] == 56
    assert set(body) == {"id", "chain_id", "address", "created_at", "tokens"}
    usdt = next(t for t in body["tokens"] if t["symbol"] == "USDT")
    assert usdt == {
        "symbol": "USDT",
        "contract_address": USDT_BSC,
        "decimals": 18,
        "eip681_uri": f"ethereum:{USDT_BSC}@56/transfer?address={ANVIL_0}",
        "confirmations": 15,
    }
    assert [t["symbol"] for t in body["tokens"]] == ["USDC", "USDT"]
    again = api.post(URL, {"chain_id": 56}, format="json")
    assert again.status_code == 200
    assert again.json() == body
    by_token = api.post(URL, {"token": "usdt"}, format="json")
    assert by_token.status_code == 200 and by_token.json()["id"] == body["id"]
    assert api.get(f"{URL}{body['id']}/").json() == body
    assert DepositAddress.objects.count() == 1
    keys.refresh_from_db()
    assert keys.next_index == 1


def test_one_address_per_user_per_chain_and_indexes_are_consecutive(keys, client_for, bsc):
    Chain.objects.create(chain_id=31337, name="anvil", confirmations=2, block_window=64)
    alice, bob = UserFactory(), UserFactory()
    a56 = client_for(alice).post(URL, {"chain_id": 56}, format="json").json()
    b56 = client_for(bob).post(URL, {"chain_id": 56}, format="json").json()
    a_anvil = client_for(alice).post(URL, {"chain_id": 31337}, format="json").json()
    assert [a56["address"], b56["address"], a_anvil["address"]] == [ANVIL_0, ANVIL_1, ANVIL_2]
    assert a_anvil["tokens"] == []  # no enabled token on that chain yet
    rows = DepositAddress.objects.order_by("index")
    assert [(r.index, r.user_id, r.chain.chain_id) for r in rows] == [
        (0, alice.pk, 56),
        (1, bob.pk, 56),
        (2, alice.pk, 31337),
    ]
    listing = client_for(alice).get(URL)
    assert listing.status_code == 200
    assert [r["id"] for r in listing.json()["results"]] == [a_anvil["id"], a56["id"]]
    assert [r["id"] for r in client_for(bob).get(URL).json()["results"]] == [b56["id"]]


def test_an_index_is_never_reused_after_a_failed_allocation(keys, alice, bsc, monkeypatch):
    """A transaction that fails after taking an index rolls the counter back with it: the
    index is not lost (consecutive) and never given twice (unique)."""
    real = DepositAddress.objects.create

    def boom(**fields):
        real(**fields)
        raise RuntimeError("crash after the insert")

    monkeypatch.setattr(DepositAddress.objects, "create", boom)
    with pytest.raises(RuntimeError):
        addresses.deposit_address_for(alice, bsc)
    monkeypatch.undo()
    assert not DepositAddress.objects.exists()
    assert addresses.deposit_address_for(alice, bsc).index == 0
    invoice = addresses.invoice_address_create(bsc, "invoice:1")
    assert invoice.index == 1 and invoice.user is None
    assert addresses.invoice_address_create(bsc, "invoice:1") == invoice
    assert addresses.invoice_address_create(bsc, "invoice:2").index == 2


def test_the_confirmations_shown_follow_the_first_tier(keys, api, seeded):
    ConfirmationTier.objects.create(token=seeded["USDT"], min_units=0, confirmations=20)
    body = api.post(URL, {"chain_id": 56}, format="json").json()
    assert {t["symbol"]: t["confirmations"] for t in body["tokens"]} == {"USDC": 15, "USDT": 20}


def test_another_users_address_is_404(keys, client_for, alice, bob):
    row = client_for(alice).post(URL, {"chain_id": 56}, format="json").json()
    for path in (f"{URL}{row['id']}/", f"{URL}{row['id']}/qr.png?token=USDT"):
        response = client_for(bob).get(path)
        assert response.status_code == 404
        assert error_of(response) == {
            "code": "not_found",
            "message": "no such deposit address",
            "param": "address_id",
        }
    for odd in ("999999", str(2**63), str(2**70)):
        assert client_for(alice).get(f"{URL}{odd}/").status_code == 404
    assert client_for(alice).get(f"{URL}-1/").status_code == 404  # not the int converter
    assert client_for(alice).get(f"{URL}abc/").status_code == 404


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"chain_id": 1}, "unknown_chain", "chain_id"),  # no such Chain row
        ({"chain_id": 97}, "unknown_chain", "chain_id"),  # disabled (below)
        ({"token": "DOGE"}, "unknown_token", "token"),
        ({"token": "USDT", "chain_id": 97}, "unknown_token", "token"),  # not on that chain
        ({"token": "ÜSDT"}, "unknown_token", "token"),
        ({"token": "\uff35\uff33\uff24\uff34"}, "unknown_token", "token"),  # fullwidth
        ({"token": "USDT\u200b"}, "unknown_token", "token"),  # zero-width space
        ({"token": "ETH"}, "unknown_token", "token"),  # the native coin: gas only
    ],
)
def test_unknown_chain_or_token_is_400_with_code_and_param(keys, api, body, code, param):
    Chain.objects.create(chain_id=97, name="BSC testnet", enabled=False)
    from wallets.models import Token

    Token.objects.create(
        symbol="ETH",
        name="Ether",
        chain_id=56,
        contract_address=addresses.NATIVE_CONTRACT,
        decimals=18,
        ledger_decimals=12,
        enabled=True,
    )
    response = api.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert (error_of(response)["code"], error_of(response)["param"]) == (code, param)
    assert not DepositAddress.objects.exists()


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"chain_id": "56"}, "not_an_integer", "chain_id"),
        ({"chain_id": 56.0}, "not_an_integer", "chain_id"),
        ({"chain_id": True}, "not_an_integer", "chain_id"),
        ({"chain_id": None}, "null", "chain_id"),
        ({"chain_id": [56]}, "not_an_integer", "chain_id"),
        ({"chain_id": 0}, "min_value", "chain_id"),
        ({"chain_id": -56}, "min_value", "chain_id"),
        ({"chain_id": 2**63}, "max_value", "chain_id"),
        ({"chain_id": 10**400}, "max_value", "chain_id"),
        ({}, "required", "chain_id"),
        ({"chain_id": 56, "user": 1}, "unknown_field", "user"),
        ({"token": " USDT"}, "whitespace", "token"),
        ({"token": 56}, "invalid", "token"),
        ({"token": ""}, "blank", "token"),
        ({"token": "U" * 1000}, "max_length", "token"),
        ({"token": "US\x00DT"}, "invalid_string", "token"),
    ],
)
def test_odd_input_is_400_never_500(keys, api, body, code, param):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert (error_of(response)["code"], error_of(response)["param"]) == (code, param)


def test_a_body_that_is_not_an_object_is_400(keys, api):
    for raw in ("[56]", '"56"', "56", "{", '{"token": "\\ud800"}', "null"):
        response = api.post(URL, raw, content_type="application/json")
        assert response.status_code == 400, (raw, response.content)
        assert "code" in error_of(response)


def test_before_wallet_init_it_is_503_deposits_unavailable(api, bsc):
    response = api.post(URL, {"chain_id": 56}, format="json")
    assert response.status_code == 503
    assert error_of(response)["code"] == "deposits_unavailable"
    assert not DepositAddress.objects.exists()
    assert api.get(URL).json()["results"] == []


def test_unauthenticated_is_401_everywhere(keys, client_for):
    anonymous = client_for()
    for method, path in (
        ("get", URL),
        ("post", URL),
        ("get", f"{URL}1/"),
        ("get", f"{URL}1/qr.png"),
    ):
        response = getattr(anonymous, method)(path)
        assert response.status_code == 401, path
        assert error_of(response)["code"] == "not_authenticated"


def test_a_pending_user_gets_no_address(keys, client_for):
    response = client_for(PendingUserFactory()).post(URL, {"chain_id": 56}, format="json")
    assert response.status_code == 403
    assert error_of(response)["code"] == "account_not_approved"


def test_an_api_key_needs_the_balances_read_scope(keys, alice):
    from rest_framework.test import APIClient

    from fastpay.api_keys import api_key_create

    _, reader = api_key_create(user=alice, name="till", scopes=["balances:read"])
    _, payer = api_key_create(user=alice, name="pay", scopes=["payments:write"])
    ok = APIClient(HTTP_AUTHORIZATION=f"Bearer {reader}")
    assert ok.post(URL, {"chain_id": 56}, format="json").status_code == 201
    refused = APIClient(HTTP_AUTHORIZATION=f"Bearer {payer}").get(URL)
    assert refused.status_code == 403


# ------------------------------------------------------------------ QR code


def _decode_qr(data: bytes) -> str | None:
    """The QR's text when a decoder is installed (zxing-cpp, requirements-dev.txt), else
    None (the test then checks a valid PNG and the URI header only)."""
    try:
        import zxingcpp
    except ImportError:
        return None
    width, height, rows, info = png.Reader(bytes=data).asDirect()
    scale = 255 if info["bitdepth"] == 1 else 1
    pixels = bytearray()
    for row in rows:  # the first channel: the image is black and white
        pixels.extend(value * scale for value in row[:: info["planes"]])
    found = zxingcpp.read_barcodes(memoryview(bytes(pixels)).cast("B", (height, width)))
    return found[0].text if found else ""


@pytest.mark.parametrize(
    ("query", "uint256"),
    [("token=USDT", None), ("token=USDT&amount=12.50", "12500000000000000000")],
)
def test_the_qr_png_encodes_the_eip681_uri(keys, api, query, uint256):
    row = api.post(URL, {"chain_id": 56}, format="json").json()
    response = api.get(f"{URL}{row['id']}/qr.png?{query}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "image/png"
    uri = f"ethereum:{USDT_BSC}@56/transfer?address={ANVIL_0}"
    if uint256:
        uri += f"&uint256={uint256}"
    assert response["X-Payment-URI"] == uri
    data = response.content
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height, _, _ = png.Reader(bytes=data).read()  # a valid PNG (CRCs checked)
    assert width == height and width >= 21
    assert _decode_qr(data) in (None, uri)


@pytest.mark.parametrize(
    ("query", "code", "param"),
    [
        ("", "required", "token"),
        ("token=DOGE", "unknown_token", "token"),
        ("token=USDT&amount=abc", "invalid_amount", "amount"),
        ("token=USDT&amount=0", "invalid_amount", "amount"),
        ("token=USDT&amount=-1", "invalid_amount", "amount"),
        ("token=USDT&amount=1e3", "invalid_amount", "amount"),
        ("token=USDT&amount=0.0000001", "invalid_amount", "amount"),  # below a ledger unit
        ("token=USDT&size=9", "unknown_field", "size"),
        ("token=%C3%9CSDT", "unknown_token", "token"),
    ],
)
def test_qr_bad_query_is_400(keys, api, query, code, param):
    row = api.post(URL, {"chain_id": 56}, format="json").json()
    response = api.get(f"{URL}{row['id']}/qr.png?{query}", HTTP_ACCEPT="image/png")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert (error_of(response)["code"], error_of(response)["param"]) == (code, param)


def test_qr_of_a_token_of_another_chain_is_400(keys, api, bsc):
    Chain.objects.create(chain_id=31337, name="anvil", confirmations=2, block_window=64)
    row = api.post(URL, {"chain_id": 31337}, format="json").json()
    response = api.get(f"{URL}{row['id']}/qr.png?token=USDT")
    assert response.status_code == 400
    assert error_of(response)["code"] == "unknown_token"


def test_eip681_uri_amounts_are_exact_base_units(seeded):
    usdt, usdc = seeded["USDT"], seeded["USDC"]
    usdc.decimals = 6
    assert addresses.eip681_uri(usdt, ANVIL_0, 1) == (
        f"ethereum:{USDT_BSC}@56/transfer?address={ANVIL_0}&uint256=1000000000000"
    )
    assert addresses.eip681_uri(usdc, ANVIL_0, 12_500_000).endswith("&uint256=12500000")
    with pytest.raises(ValueError):
        addresses.eip681_uri(usdt, ANVIL_0, 0)


# ------------------------------------------------------------------ PostgreSQL, threads


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_concurrent_requests_get_distinct_consecutive_indexes(keys, client_for):
    users = [UserFactory() for _ in range(12)]
    clients = [client_for(user) for user in users]
    # every user twice at once: 24 requests, 12 addresses
    targets = [lambda c=c: c.post(URL, {"chain_id": 56}, format="json") for c in clients * 2]
    responses = run_threads(targets)
    assert all(not isinstance(r, BaseException) for r in responses), responses
    assert sorted(r.status_code for r in responses) == [200] * 12 + [201] * 12
    rows = list(DepositAddress.objects.order_by("index"))
    assert [r.index for r in rows] == list(range(12))
    assert len({r.user_id for r in rows}) == 12
    assert len({r.address for r in rows}) == 12
    by_user = {}
    for response in responses:
        body = response.json()
        assert by_user.setdefault(body["id"], body["address"]) == body["address"]
    xpub = HDAccount.objects.get(name="deposits").xpub
    assert all(r.address == hd.address_at(xpub, r.index) for r in rows)
    assert HDAccount.objects.get(name="deposits").next_index == 12


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_concurrent_invoice_and_user_addresses_share_the_counter(keys):
    chain = Chain.objects.get(chain_id=56)
    users = [UserFactory() for _ in range(6)]
    targets = [lambda u=u: addresses.deposit_address_for(u, chain) for u in users]
    targets += [
        lambda i=i: addresses.invoice_address_create(chain, f"invoice:{i}") for i in range(6)
    ]
    results = run_threads(targets)
    assert all(not isinstance(r, BaseException) for r in results), results
    assert sorted(r.index for r in results) == list(range(12))


def test_png_module_reads_what_qrcode_writes():
    """The QR test's PNG check is not vacuous: a corrupted PNG is refused."""
    from wallets.chain.api.views import _qr_png

    data = bytearray(_qr_png("ethereum:0x0@1"))
    png.Reader(bytes=bytes(data)).read()
    data[40] ^= 0xFF
    with pytest.raises(png.Error):
        _, _, rows, _ = png.Reader(bytes=bytes(data)).read()
        list(rows)


def test_a_corrupt_recorded_xpub_is_503_not_500(keys, api, caplog):
    HDAccount.objects.filter(pk=keys.pk).update(xpub="xprv-pasted-by-mistake")
    response = api.post(URL, {"chain_id": 56}, format="json")
    assert response.status_code == 503
    assert error_of(response)["code"] == "deposits_unavailable"
    assert "cannot derive addresses" in caplog.text
    assert not DepositAddress.objects.exists()
