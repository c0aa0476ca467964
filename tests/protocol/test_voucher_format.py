"""Vouchers and payments offline: the text form, and every refusal with its reason code."""

import os
import time

import pytest

from fastpay_protocol import signing
from fastpay_protocol.voucher import (
    OfflineVerifier,
    Payment,
    Refused,
    Voucher,
    b32decode,
    b32encode,
)
from tests.protocol.voucher_fixtures import AUTHORITIES, COMMITTEE, ISSUER, make_voucher

VENDOR = signing.Signer(b"\x42" * 32).address
OTHER_VENDOR = signing.Signer(b"\x43" * 32).address
NOW = time.time()


@pytest.fixture
def verifier():
    return OfflineVerifier(COMMITTEE, ISSUER.address, VENDOR)


def pay(voucher, amount=1_500_000, vendor=VENDOR):
    return voucher.pay(COMMITTEE.hasher, vendor=vendor, amount=amount)


def refusal(verifier, payment, now=None) -> str:
    with pytest.raises(Refused) as caught:
        verifier.verify(payment, now=time.time() if now is None else now)
    return caught.value.reason


def test_base32_round_trips_and_forgives_typing_slips():
    data = os.urandom(77)
    text = b32encode(data)
    assert b32decode(text) == data
    assert b32decode(text.lower().replace("0", "o").replace("1", "l")) == data
    assert b32decode("-".join(text[i : i + 5] for i in range(0, len(text), 5))) == data


def test_a_voucher_round_trips_through_text_with_its_key_and_certificate():
    voucher = make_voucher()
    again = Voucher.from_text(voucher.to_text())
    assert again == voucher
    again.certificate(COMMITTEE).verify(COMMITTEE)


def test_a_valid_payment_is_accepted_and_reads_back_exactly(verifier):
    voucher = make_voucher(amount=5_000_000)
    text = pay(voucher, 1_500_000).to_text()
    payment = verifier.verify(text, now=time.time())
    assert (payment.amount, payment.vendor, payment.body.voucher) == (
        1_500_000,
        VENDOR,
        voucher.address,
    )
    assert payment.body.amount == 5_000_000
    assert text.startswith("FP") and len(text) < 800


def test_the_whole_voucher_value_may_be_spent(verifier):
    voucher = make_voucher(amount=5_000_000)
    assert verifier.verify(pay(voucher, 5_000_000), now=time.time()).amount == 5_000_000


def test_it_refuses_a_truncated_payment(verifier):
    text = pay(make_voucher()).to_text()
    assert refusal(verifier, text[:-20]) == "truncated"
    assert refusal(verifier, text[:40]) == "truncated"


def test_it_refuses_a_mistyped_or_tampered_string_by_checksum(verifier):
    text = pay(make_voucher()).to_text()
    i = len(text) // 2
    tampered = text[:i] + ("2" if text[i] != "2" else "3") + text[i + 1 :]
    assert refusal(verifier, tampered) == "bad_checksum"


def test_it_refuses_garbage(verifier):
    assert refusal(verifier, "hello") == "malformed"
    assert refusal(verifier, "FP!!!") == "malformed"


def test_it_refuses_a_voucher_handed_over_instead_of_a_payment(verifier):
    assert refusal(verifier, make_voucher().to_text()) == "wrong_kind"


def test_it_refuses_a_payment_to_another_vendor(verifier):
    assert refusal(verifier, pay(make_voucher(), vendor=OTHER_VENDOR)) == "wrong_vendor"


def test_it_refuses_more_than_the_voucher_holds(verifier):
    payment = pay(make_voucher(amount=1_000_000), 1_000_000)
    inflated = Payment(payment.body, payment.vendor, 1_000_001, payment.signature)
    assert refusal(verifier, inflated.to_text()) == "amount_exceeds_voucher"


def test_it_refuses_a_changed_amount_by_its_spend_signature(verifier):
    payment = pay(make_voucher(amount=5_000_000), 1_000_000)
    changed = Payment(payment.body, payment.vendor, 2_000_000, payment.signature)
    assert refusal(verifier, changed.to_text()) == "bad_spend_signature"


def test_it_refuses_a_spend_not_signed_by_the_voucher_key(verifier):
    voucher = make_voucher()
    stranger = Voucher(voucher.body, os.urandom(32), voucher.payer_signature)
    assert refusal(verifier, pay(stranger)) == "bad_spend_signature"


def test_it_refuses_an_expired_or_not_yet_valid_voucher(verifier):
    voucher = make_voucher(not_before=int(NOW) - 100, not_after=int(NOW) + 100)
    assert refusal(verifier, pay(voucher), now=NOW + 101) == "expired"
    assert refusal(verifier, pay(voucher), now=NOW - 101) == "not_yet_valid"
    assert verifier.verify(pay(voucher), now=int(NOW) + 100).amount == 1_500_000


def test_it_refuses_a_stretched_window_by_the_ticket(verifier):
    payment = pay(make_voucher(not_after=int(NOW) - 10))
    body = payment.body.__class__(**{**payment.body.__dict__, "not_after": int(NOW) + 10**6})
    assert refusal(verifier, Payment(body, payment.vendor, payment.amount, payment.signature)) == (
        "bad_ticket"
    )


def test_it_refuses_a_raised_voucher_value_by_the_ticket(verifier):
    payment = pay(make_voucher(amount=1_000_000), 1_000_000)
    body = payment.body.__class__(**{**payment.body.__dict__, "amount": 9_000_000})
    assert refusal(verifier, Payment(body, payment.vendor, 1_000_000, payment.signature)) == (
        "bad_ticket"
    )


def test_it_refuses_a_voucher_the_platform_never_registered(verifier):
    payment = pay(make_voucher())
    body = payment.body.__class__(**{**payment.body.__dict__, "ticket": os.urandom(65)})
    assert refusal(verifier, Payment(body, payment.vendor, 1_500_000, payment.signature)) == (
        "bad_ticket"
    )


def test_it_refuses_a_certificate_without_quorum(verifier):
    assert refusal(verifier, pay(make_voucher(voters=AUTHORITIES[:2]))) == "bad_certificate"


def test_it_refuses_a_forged_certificate_signed_by_outsiders(verifier):
    outsiders = [signing.Signer(os.urandom(32)) for _ in range(3)]
    assert refusal(verifier, pay(make_voucher(voters=outsiders))) == "bad_certificate"


def test_it_refuses_a_certificate_with_a_repeated_vote(verifier):
    assert refusal(verifier, pay(make_voucher(voters=AUTHORITIES[:1] * 3))) == "bad_certificate"


def test_it_refuses_a_voucher_of_another_epoch(verifier):
    voucher = make_voucher()
    body = voucher.body.__class__(**{**voucher.body.__dict__, "epoch": 2})
    payment = Voucher(body, voucher.key, voucher.payer_signature).pay(
        COMMITTEE.hasher, vendor=VENDOR, amount=1
    )
    assert refusal(verifier, payment) == "unknown_epoch"


def test_a_wallet_cannot_sign_more_than_the_voucher_holds():
    with pytest.raises(ValueError):
        pay(make_voucher(amount=1_000), 1_001)


def test_verification_is_well_under_50_ms(verifier):
    text = pay(make_voucher()).to_text()
    start = time.perf_counter()
    for _ in range(20):
        verifier.verify(text, now=time.time())
    assert (time.perf_counter() - start) / 20 < 0.05


def test_b32decode_is_the_rfc4648_decoding_cut_to_whole_bytes():
    import base64
    import os

    from fastpay_protocol.voucher import _FROM_CROCKFORD, b32decode, b32encode

    def reference(text):
        cleaned = text.upper().translate(_FROM_CROCKFORD)
        padded = cleaned + "A" * (-len(cleaned) % 8)
        return base64.b32decode(padded)[: len(cleaned) * 5 // 8]

    for size in [*range(12), 463]:
        text = b32encode(os.urandom(size))
        for cut in range(len(text) + 1):  # truncated texts decode the same way too
            assert b32decode(text[:cut]) == reference(text[:cut])
        assert b32decode(text.lower()) == b32decode(text)
