import json

import pytest

from fastpay.keyvault import KeyVaultError, kek_from_text, new_kek_text, reseal, seal, unseal


def test_a_sealed_key_opens_with_its_kek_only():
    kek, other = kek_from_text(new_kek_text()), kek_from_text(new_kek_text())
    envelope = seal(b"\x01" * 32, kek, label="0xabc")

    assert unseal(envelope, kek) == b"\x01" * 32
    assert b"\x01" * 32 not in envelope.encode()
    with pytest.raises(KeyVaultError):
        unseal(envelope, other)


def test_a_tampered_label_is_refused():
    kek = kek_from_text(new_kek_text())
    data = json.loads(seal(b"secret", kek, label="authority-1"))
    data["label"] = "authority-2"
    with pytest.raises(KeyVaultError):
        unseal(json.dumps(data), kek)


def test_rotation_rewraps_under_the_new_kek():
    old, new = kek_from_text(new_kek_text()), kek_from_text(new_kek_text())
    rotated = reseal(seal(b"secret", old, label="x"), old, new)

    assert unseal(rotated, new) == b"secret"
    with pytest.raises(KeyVaultError):
        unseal(rotated, old)


@pytest.mark.parametrize("text", ["", "abc", "AAAA", "00" * 31])
def test_a_malformed_kek_says_what_it_must_be(text):
    with pytest.raises(KeyVaultError, match="32 bytes"):
        kek_from_text(text)
