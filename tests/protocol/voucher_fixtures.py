"""Shared pieces of the voucher tests: a committee of keys signed in-process (pure tests)
and an in-memory stand-in for the platform's voucher registration (the real one is the
Django app, tested in tests/offline)."""

from __future__ import annotations

import os
import time

from fastpay_protocol import signing
from fastpay_protocol import typed_data as td
from fastpay_protocol.messages import Certificate, Committee, Member, Vote
from fastpay_protocol.offline_api import PlatformError
from fastpay_protocol.voucher import Voucher, order_ticket_digest

TOKEN = "0x" + "55" * 20
AUTHORITY_KEYS = [bytes([i + 1]) * 32 for i in range(4)]
AUTHORITIES = [signing.Signer(k) for k in AUTHORITY_KEYS]
ISSUER = signing.Signer(b"\x99" * 32)
COMMITTEE = Committee(
    epoch=1,
    chain_id=31337,
    verifying_contract="0x" + "00" * 19 + "f1",
    redemption_address="0x" + "00" * 19 + "f2",
    members=tuple(
        Member(f"a{i}", s.address, 10, f"http://127.0.0.1:{9000 + i}")
        for i, s in enumerate(AUTHORITIES)
    ),
)


def ticket(committee: Committee, certificate: Certificate, not_before: int, not_after: int):
    order = certificate.order
    digest = order_ticket_digest(
        committee.domain, order, not_before=not_before, not_after=not_after
    )
    return ISSUER.sign_digest(digest)


def make_voucher(
    *,
    amount=5_000_000,
    payer=None,
    voters=AUTHORITIES[:3],
    not_before=None,
    not_after=None,
    committee=COMMITTEE,
    sequence=0,
) -> Voucher:
    payer = payer or signing.Signer(os.urandom(32))
    key = os.urandom(32)
    order = td.TransferOrder(
        payer.address, signing.Signer(key).address, TOKEN, amount, sequence, committee.epoch
    )
    hasher = committee.hasher
    votes = tuple(Vote(a.address, a.sign_digest(hasher.vote_digest(order))) for a in voters)
    certificate = Certificate(order, payer.sign_digest(hasher.order_digest(order)), votes)
    now = int(time.time())
    not_before = now - 60 if not_before is None else not_before
    not_after = now + 3600 if not_after is None else not_after
    return Voucher.create(
        certificate,
        key,
        not_before=not_before,
        not_after=not_after,
        ticket=ticket(committee, certificate, not_before, not_after),
    )


class FakePlatform:
    """voucher_register as the platform answers it (limit: ``max_amount``)."""

    def __init__(self, committee: Committee, max_amount: int = 10**12):
        self.committee = committee
        self.max_amount = max_amount
        self.registered: list[dict] = []

    def voucher_register(self, *, certificate: dict, validity_s: int) -> dict:
        parsed = Certificate.from_json(certificate)
        parsed.verify(self.committee)
        if parsed.order.amount > self.max_amount:
            raise PlatformError("limit_per_voucher", "above the per-voucher limit", 409)
        now = int(time.time())
        self.registered.append(certificate)
        return {
            "not_before": now - 5,
            "not_after": now + validity_s,
            "ticket": "0x" + ticket(self.committee, parsed, now - 5, now + validity_s).hex(),
        }
