"""wallets.chain.hd against the published vectors: BIP-32 test vectors 1 and 2, BIP-39
(trezor/python-mnemonic, passphrase "TREZOR"), and the development mnemonic whose first
BIP-44 addresses are anvil's (and hardhat's) first accounts."""

import base64
import json
import os
import stat

import pytest
from eth_account import Account

from fastpay import keyvault
from wallets.chain import hd

DEV_MNEMONIC = "test test test test test test test test test test test junk"
#: anvil's default accounts 0..2 (m/44'/60'/0'/0/i of DEV_MNEMONIC) and their keys
ANVIL = [
    (
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    ),
    (
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    ),
    (
        "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    ),
]

# BIP-32 (bitcoin/bips bip-0032.mediawiki, "Test Vectors"): path -> (xpub, xprv)
VECTOR_1_SEED = "000102030405060708090a0b0c0d0e0f"
VECTOR_1 = {
    "m": (
        "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8",
        "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi",
    ),
    "m/0'": (
        "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw",
        "xprv9uHRZZhk6KAJC1avXpDAp4MDc3sQKNxDiPvvkX8Br5ngLNv1TxvUxt4cV1rGL5hj6KCesnDYUhd7oWgT11eZG7XnxHrnYeSvkzY7d2bhkJ7",
    ),
    "m/0'/1": (
        "xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ",
        "xprv9wTYmMFdV23N2TdNG573QoEsfRrWKQgWeibmLntzniatZvR9BmLnvSxqu53Kw1UmYPxLgboyZQaXwTCg8MSY3H2EU4pWcQDnRnrVA1xe8fs",
    ),
    "m/0'/1/2'": (
        "xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5",
        "xprv9z4pot5VBttmtdRTWfWQmoH1taj2axGVzFqSb8C9xaxKymcFzXBDptWmT7FwuEzG3ryjH4ktypQSAewRiNMjANTtpgP4mLTj34bhnZX7UiM",
    ),
    "m/0'/1/2'/2": (
        "xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV",
        "xprvA2JDeKCSNNZky6uBCviVfJSKyQ1mDYahRjijr5idH2WwLsEd4Hsb2Tyh8RfQMuPh7f7RtyzTtdrbdqqsunu5Mm3wDvUAKRHSC34sJ7in334",
    ),
    "m/0'/1/2'/2/1000000000": (
        "xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy",
        "xprvA41z7zogVVwxVSgdKUHDy1SKmdb533PjDz7J6N6mV6uS3ze1ai8FHa8kmHScGpWmj4WggLyQjgPie1rFSruoUihUZREPSL39UNdE3BBDu76",
    ),
}
VECTOR_2_SEED = (
    "fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a2"
    "9f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542"
)
VECTOR_2 = {
    "m": (
        "xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB",
        "xprv9s21ZrQH143K31xYSDQpPDxsXRTUcvj2iNHm5NUtrGiGG5e2DtALGdso3pGz6ssrdK4PFmM8NSpSBHNqPqm55Qn3LqFtT2emdEXVYsCzC2U",
    ),
    "m/0": (
        "xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH",
        "xprv9vHkqa6EV4sPZHYqZznhT2NPtPCjKuDKGY38FBWLvgaDx45zo9WQRUT3dKYnjwih2yJD9mkrocEZXo1ex8G81dwSM1fwqWpWkeS3v86pgKt",
    ),
    "m/0/2147483647'": (
        "xpub6ASAVgeehLbnwdqV6UKMHVzgqAG8Gr6riv3Fxxpj8ksbH9ebxaEyBLZ85ySDhKiLDBrQSARLq1uNRts8RuJiHjaDMBU4Zn9h8LZNnBC5y4a",
        "xprv9wSp6B7kry3Vj9m1zSnLvN3xH8RdsPP1Mh7fAaR7aRLcQMKTR2vidYEeEg2mUCTAwCd6vnxVrcjfy2kRgVsFawNzmjuHc2YmYRmagcEPdU9",
    ),
    "m/0/2147483647'/1": (
        "xpub6DF8uhdarytz3FWdA8TvFSvvAh8dP3283MY7p2V4SeE2wyWmG5mg5EwVvmdMVCQcoNJxGoWaU9DCWh89LojfZ537wTfunKau47EL2dhHKon",
        "xprv9zFnWC6h2cLgpmSA46vutJzBcfJ8yaJGg8cX1e5StJh45BBciYTRXSd25UEPVuesF9yog62tGAQtHjXajPPdbRCHuWS6T8XA2ECKADdw4Ef",
    ),
    "m/0/2147483647'/1/2147483646'": (
        "xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL",
        "xprvA1RpRA33e1JQ7ifknakTFpgNXPmW2YvmhqLQYMmrj4xJXXWYpDPS3xz7iAxn8L39njGVyuoseXzU6rcxFLJ8HFsTjSyQbLYnMpCqE2VbFWc",
    ),
    "m/0/2147483647'/1/2147483646'/2": (
        "xpub6FnCn6nSzZAw5Tw7cgR9bi15UV96gLZhjDstkXXxvCLsUXBGXPdSnLFbdpq8p9HmGsApME5hQTZ3emM2rnY5agb9rXpVGyy3bdW6EEgAtqt",
        "xprvA2nrNbFZABcdryreWet9Ea4LvTJcGsqrMzxHx98MMrotbir7yrKCEXw7nadnHM8Dq38EGfSh6dqA9QWTyefMLEcBYJUuekgW4BYPJcr9E7j",
    ),
}

# BIP-39 (trezor/python-mnemonic vectors.json, English, passphrase "TREZOR"):
# mnemonic -> (seed, master xprv)
BIP39_TREZOR = [
    (
        " ".join(["abandon"] * 11 + ["about"]),
        "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04",
        "xprv9s21ZrQH143K3h3fDYiay8mocZ3afhfULfb5GX8kCBdno77K4HiA15Tg23wpbeF1pLfs1c5SPmYHrEpTuuRhxMwvKDwqdKiGJS9XFKzUsAF",
    ),
    (
        "legal winner thank year wave sausage worth useful legal winner thank yellow",
        "2e8905819b8723fe2c1d161860e5ee1830318dbf49a83bd451cfb8440c28bd6fa457fe1296106559a3c80937a1c1069be3a3a5bd381ee6260e8d9739fce1f607",
        "xprv9s21ZrQH143K2gA81bYFHqU68xz1cX2APaSq5tt6MFSLeXnCKV1RVUJt9FWNTbrrryem4ZckN8k4Ls1H6nwdvDTvnV7zEXs2HgPezuVccsq",
    ),
    (
        "letter advice cage absurd amount doctor acoustic avoid letter advice cage above",
        "d71de856f81a8acc65e6fc851a38d4d7ec216fd0796d0a6827a3ad6ed5511a30fa280f12eb2e47ed2ac03b5c462a0358d18d69fe4f985ec81778c1b370b652a8",
        "xprv9s21ZrQH143K2shfP28KM3nr5Ap1SXjz8gc2rAqqMEynmjt6o1qboCDpxckqXavCwdnYds6yBHZGKHv7ef2eTXy461PXUjBFQg6PrwY4Gzq",
    ),
    (
        " ".join(["zoo"] * 23 + ["vote"]),
        "dd48c104698c30cfe2b6142103248622fb7bb0ff692eebb00089b32d22484e1613912f0a5b694407be899ffd31ed3992c456cdf60f5d4564b8ba3f05a69890ad",
        "xprv9s21ZrQH143K2WFF16X85T2QCpndrGwx6GueB72Zf3AHwHJaknRXNF37ZmDrtHrrLSHvbuRejXcnYxoZKvRquTPyp2JiNG3XcjQyzSEgqCB",
    ),
]


@pytest.mark.parametrize(
    ("seed_hex", "vector"), [(VECTOR_1_SEED, VECTOR_1), (VECTOR_2_SEED, VECTOR_2)], ids=["1", "2"]
)
def test_bip32_published_vectors(seed_hex, vector):
    seed = bytes.fromhex(seed_hex)
    for path, (xpub, xprv) in vector.items():
        assert hd.derive_path(seed, path) == (xprv, xpub), path


@pytest.mark.parametrize(("mnemonic", "seed_hex", "xprv"), BIP39_TREZOR, ids=lambda v: v[:12])
def test_bip39_mnemonic_to_seed_vectors(mnemonic, seed_hex, xprv):
    seed = hd.seed_from_mnemonic(mnemonic, "TREZOR")
    assert seed.hex() == seed_hex
    assert hd.derive_path(seed, "m")[0] == xprv


def test_dev_mnemonic_gives_anvils_first_accounts():
    seed = hd.seed_from_mnemonic(DEV_MNEMONIC)
    xpub = hd.account_xpub(seed, 0)
    for index, (address, key_hex) in enumerate(ANVIL):
        assert hd.address_at(xpub, index) == address
        key = hd.private_key_at(seed, 0, index)
        assert key.hex() == key_hex
        assert Account.from_key(key).address == address
    assert hd.address_path(0, 2) == "m/44'/60'/0'/0/2"


def test_xpub_only_derivation_equals_private_derivation():
    seed = hd.seed_from_mnemonic(DEV_MNEMONIC)
    for account in (0, 1, 7):
        xpub = hd.account_xpub(seed, account)
        assert xpub == hd.derive_path(seed, hd.account_path(account))[1]
        for change in (0, 1):
            for index in (0, 1, 2, 999, 2**31 - 1):
                key = hd.private_key_at(seed, account, index, change)
                assert hd.address_at(xpub, index, change) == Account.from_key(key).address


def test_an_xprv_is_refused_where_an_xpub_is_expected():
    seed = hd.seed_from_mnemonic(DEV_MNEMONIC)
    xprv, xpub = hd.derive_path(seed, "m/44'/60'/0'")
    with pytest.raises(hd.HDError, match="not a private key"):
        hd.address_at(xprv, 0)
    # the same key re-encoded with public version bytes but private data is not an xpub
    with pytest.raises(hd.HDError):
        hd.address_at("xpub" + xprv[4:], 0)
    with pytest.raises(hd.HDError, match="not a valid"):
        hd.address_at(xpub[:-1] + ("1" if xpub[-1] != "1" else "2"), 0)  # checksum broken
    with pytest.raises(hd.HDError, match="depth 3"):
        hd.address_at(hd.derive_path(seed, "m")[1], 0)  # the master xpub: not an account


@pytest.mark.parametrize("index", [-1, 2**31, 2**64, "0", 1.0, True, None])
def test_odd_indexes_are_refused(index):
    seed = hd.seed_from_mnemonic(DEV_MNEMONIC)
    with pytest.raises(hd.HDError):
        hd.address_at(hd.account_xpub(seed, 0), index)
    with pytest.raises(hd.HDError):
        hd.private_key_at(seed, 0, index)


def test_a_mnemonic_with_a_bad_checksum_or_word_is_refused():
    with pytest.raises(hd.HDError, match="checksum"):
        hd.seed_from_mnemonic("test " * 12)
    with pytest.raises(hd.HDError):
        hd.seed_from_mnemonic("test test test test test test test test test test test junkk")
    with pytest.raises(hd.HDError):
        hd.seed_from_mnemonic("")


def test_seed_create_makes_a_24_word_mnemonic_and_its_seed():
    mnemonic, seed = hd.seed_create()
    assert len(mnemonic.split()) == 24
    assert hd.seed_from_mnemonic(mnemonic) == seed and len(seed) == 64
    assert hd.seed_create()[1] != seed
    assert hd.seed_fingerprint(seed) == hd.seed_fingerprint(hd.seed_from_mnemonic(mnemonic))
    assert len(hd.seed_fingerprint(seed)) == 8


def test_seed_fingerprint_is_the_bip32_master_fingerprint():
    # bitcoin/bips bip-0032 vector 1: master identifier 3442193e...
    assert hd.seed_fingerprint(bytes.fromhex(VECTOR_1_SEED)) == "3442193e"


# ------------------------------------------------------------------ the sealed seed file


@pytest.fixture
def seed_file(settings, tmp_path):
    settings.FASTPAY_KEK = keyvault.new_kek_text()
    settings.FASTPAY_HD_SEED_FILE = str(tmp_path / "var" / "hd-seed.json")
    return tmp_path / "var" / "hd-seed.json"


@pytest.mark.django_db
def test_seal_and_load_round_trip_mode_0600_no_clear_text(seed_file):
    seed = hd.seed_from_mnemonic(DEV_MNEMONIC)
    assert hd.seed_seal(seed) == seed_file
    assert stat.S_IMODE(os.stat(seed_file).st_mode) == 0o600
    text = seed_file.read_text()
    assert seed.hex() not in text and "test test" not in text
    assert json.loads(text)["label"] == hd.SEED_LABEL
    assert hd.seed_load() == seed
    assert [p.name for p in seed_file.parent.iterdir()] == ["hd-seed.json"]  # no temp left


@pytest.mark.django_db
def test_an_existing_seed_file_is_never_overwritten(seed_file):
    first = hd.seed_from_mnemonic(DEV_MNEMONIC)
    hd.seed_seal(first)
    with pytest.raises(hd.HDError, match="never overwritten"):
        hd.seed_seal(hd.seed_create()[1])
    assert hd.seed_load() == first


@pytest.mark.django_db
def test_a_wrong_kek_is_refused(seed_file, settings):
    hd.seed_seal(hd.seed_from_mnemonic(DEV_MNEMONIC))
    settings.FASTPAY_KEK = keyvault.new_kek_text()
    with pytest.raises(hd.HDError, match="wrong KEK or tampered"):
        hd.seed_load()


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["ciphertext", "wrapped_key", "label", "nonce"])
def test_a_tampered_envelope_is_refused(seed_file, field):
    hd.seed_seal(hd.seed_from_mnemonic(DEV_MNEMONIC))
    envelope = json.loads(seed_file.read_text())
    if field == "label":
        envelope["label"] = "another-key"
    else:
        raw = bytearray(base64.b64decode(envelope[field]))
        raw[0] ^= 1
        envelope[field] = base64.b64encode(bytes(raw)).decode()
    seed_file.write_text(json.dumps(envelope))
    with pytest.raises(hd.HDError, match="wrong KEK or tampered"):
        hd.seed_load()


@pytest.mark.django_db
def test_no_seed_file_or_no_kek_is_seed_unavailable(seed_file, settings):
    with pytest.raises(hd.SeedUnavailable, match="wallet_init"):
        hd.seed_load()
    settings.FASTPAY_KEK = ""
    with pytest.raises(hd.SeedUnavailable, match="FASTPAY_KEK"):
        hd.seed_seal(hd.seed_from_mnemonic(DEV_MNEMONIC))
    assert not seed_file.exists()


@pytest.mark.django_db
def test_a_seed_whose_fingerprint_differs_from_the_accounts_is_refused(seed_file):
    from wallets.chain.models import HDAccount

    seed = hd.seed_from_mnemonic(DEV_MNEMONIC)
    hd.seed_seal(seed)
    other = hd.seed_create()[1]
    HDAccount.objects.create(
        name="deposits",
        account_index=0,
        xpub=hd.account_xpub(other, 0),
        seed_fingerprint=hd.seed_fingerprint(other),
    )
    with pytest.raises(hd.SeedMismatch, match="wrong seed file"):
        hd.seed_load()
    assert hd.seed_load(check_fingerprint=False) == seed  # wallet_init compares it itself
    HDAccount.objects.update(
        xpub=hd.account_xpub(seed, 0), seed_fingerprint=hd.seed_fingerprint(seed)
    )
    assert hd.seed_load() == seed
