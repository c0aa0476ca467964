"""Offline vouchers (docs/offline.md): the format, the compact
text form, and the offline verification a vendor's terminal runs. No Django, no I/O.

A voucher is a certificate moving ``amount`` (ledger units) from the payer's FastPay
account to a fresh one-time voucher address, plus the platform's *ticket*: its signature
over the voucher and a validity window ``[not_before, not_after]`` (unix seconds), given
when the voucher was registered (and the payer's offline limits checked). A terminal
refuses a voucher without a valid ticket, so an unregistered voucher is worthless.

A payment is what the payer's device hands to a vendor offline: the voucher without its
key (and without the payer's order signature, which only the authorities need: the
platform keeps the full certificate) plus the voucher key's signature on the order
``voucher -> vendor, amount <= voucher amount, sequence 0``.

Binary form (big-endian), then text = "FP" + Crockford base32 of (binary + 4-byte
SHA-256 checksum)::

    version u8 = 1 | kind u8 ('V' voucher with key, 'P' payment) | length u16 (whole
    binary, checksum excluded) | epoch u64 | payer 20 | voucher 20 | token 20 |
    amount u64 | sequence u64 | not_before u64 | not_after u64 | ticket 65 |
    n u8 | n votes x 65 (vote signatures only: the voter is recovered) |
    'V': voucher key 32 | payer order signature 65
    'P': vendor 20 | spend amount u64 | spend signature 65
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from fastpay_protocol import signing
from fastpay_protocol import typed_data as td
from fastpay_protocol.addresses import checksum
from fastpay_protocol.messages import Certificate, Committee, Vote

VERSION = 1
KIND_VOUCHER = ord("V")
KIND_PAYMENT = ord("P")
TEXT_PREFIX = "FP"
TICKET_TAG = b"FastPay voucher ticket v1"
_HEAD = struct.Struct(">BBHQ20s20s20sQQQQ65sB")
_SIG = 65
_CHECKSUM = 4

# Crockford base32: no I, L, O, U; decoding maps I/L to 1 and O to 0, ignores case, dashes
# and spaces, so a string read aloud or typed on a keypad survives.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class _Order(NamedTuple):
    """A TransferOrder's fields for digests only (signing.Hasher reads the attributes),
    without TransferOrder's validation: the fields come from a fixed-width binary."""

    sender: str
    recipient: str
    token: str
    amount: int
    sequence: int
    epoch: int


class Refused(ValueError):
    """A voucher or payment that a terminal (or the platform) must not accept.

    ``reason`` is a stable code (docs/offline.md, "Reason codes")."""

    def __init__(self, reason: str, message: str = ""):
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason
        self.message = message or reason


# ------------------------------------------------------------------ base32 + checksum


_RFC4648 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_CROCKFORD = str.maketrans(_RFC4648, _ALPHABET)
_FROM_CROCKFORD = str.maketrans(_ALPHABET + "ILO", _RFC4648 + "BBA", "- \n\r\t")


def b32encode(data: bytes) -> str:
    """Crockford base32, big-endian bit order, no padding (RFC 4648's bit layout)."""
    return base64.b32encode(data).decode().rstrip("=").translate(_TO_CROCKFORD)


def b32decode(text: str) -> bytes:
    cleaned = text.upper().translate(_FROM_CROCKFORD)
    if not _RFC4648_CHARS.issuperset(cleaned):
        bad = next(c for c in cleaned if c not in _RFC4648_CHARS)
        raise Refused("malformed", f"{bad!r} is not a base32 character")
    size = len(cleaned) * 5 // 8
    if not cleaned:
        return b""
    # the characters as the digits of one base-32 integer (int() parses a power-of-two base
    # in C; base64.b32decode loops in Python: ~60 us for a payment), the bits past the last
    # whole byte dropped as before
    value = int(cleaned.translate(_TO_DIGITS), 32)
    return (value >> (len(cleaned) * 5 - size * 8)).to_bytes(size, "big")


_RFC4648_CHARS = frozenset(_RFC4648)
_TO_DIGITS = str.maketrans(_RFC4648, "0123456789abcdefghijklmnopqrstuv")


def _checksum(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[:_CHECKSUM]


def to_text(binary: bytes) -> str:
    return TEXT_PREFIX + b32encode(binary + _checksum(binary))


def from_text(text: str) -> bytes:
    """The binary of a text voucher/payment. Refused: malformed, truncated, bad_checksum."""
    if not isinstance(text, str):
        raise Refused("malformed", "not a string")
    text = text.strip()
    if not text.upper().startswith(TEXT_PREFIX):
        raise Refused("malformed", f"does not start with {TEXT_PREFIX}")
    raw = b32decode(text[len(TEXT_PREFIX) :])
    if len(raw) < 4 + _CHECKSUM:
        raise Refused("truncated", "too short")
    declared = int.from_bytes(raw[2:4], "big")
    if len(raw) < declared + _CHECKSUM:
        raise Refused("truncated", f"{len(raw)} bytes of {declared + _CHECKSUM}")
    if len(raw) > declared + _CHECKSUM:
        raise Refused("malformed", "trailing data")
    binary, checksum = raw[:declared], raw[declared:]
    if _checksum(binary) != checksum:
        raise Refused("bad_checksum", "the checksum does not match (mistyped or tampered)")
    return binary


# ------------------------------------------------------------------ the voucher data


def ticket_digest(
    domain: td.Domain,
    *,
    payer: str,
    voucher: str,
    token: str,
    amount: int,
    sequence: int,
    epoch: int,
    not_before: int,
    not_after: int,
) -> bytes:
    """What the platform signs when it registers a voucher: EIP-191 version 0x00 ("data
    with intended validator", the CertificateVerifier), so it can never pass for an
    EIP-712 order or vote, nor a personal_sign message."""
    return signing.keccak(
        b"\x19\x00"
        + signing.address_bytes(domain.verifying_contract)
        + TICKET_TAG
        + domain.chain_id.to_bytes(32, "big")
        + signing.address_bytes(payer)
        + signing.address_bytes(voucher)
        + signing.address_bytes(token)
        + amount.to_bytes(32, "big")
        + struct.pack(">QQQQ", sequence, epoch, not_before, not_after)
    )


def order_ticket_digest(
    domain: td.Domain, order: td.TransferOrder, *, not_before: int, not_after: int
) -> bytes:
    """`ticket_digest` of the voucher an issue certificate's order creates (payer = its
    sender, voucher account = its recipient)."""
    return ticket_digest(
        domain,
        payer=order.sender,
        voucher=order.recipient,
        token=order.token,
        amount=order.amount,
        sequence=order.sequence,
        epoch=order.epoch,
        not_before=not_before,
        not_after=not_after,
    )


@dataclass(frozen=True)
class VoucherBody:
    """What a voucher and a payment share: the certified issue order (payer -> voucher,
    ``amount`` ledger units, the payer's ``sequence``), the votes, the window and ticket."""

    epoch: int
    payer: str
    voucher: str
    token: str
    amount: int
    sequence: int
    not_before: int
    not_after: int
    ticket: bytes
    votes: tuple[bytes, ...]

    @property
    def issue_order(self) -> td.TransferOrder:
        return td.TransferOrder(*self._issue_fields())

    def _issue_fields(self) -> _Order:
        return _Order(self.payer, self.voucher, self.token, self.amount, self.sequence, self.epoch)

    def ticket_digest(self, domain: td.Domain) -> bytes:
        return ticket_digest(
            domain,
            payer=self.payer,
            voucher=self.voucher,
            token=self.token,
            amount=self.amount,
            sequence=self.sequence,
            epoch=self.epoch,
            not_before=self.not_before,
            not_after=self.not_after,
        )

    def _pack(self, kind: int, tail: bytes) -> bytes:
        if not 0 < len(self.votes) < 256:
            raise ValueError("a voucher carries 1 to 255 votes")
        head = _HEAD.pack(
            VERSION,
            kind,
            0,
            self.epoch,
            signing.address_bytes(self.payer),
            signing.address_bytes(self.voucher),
            signing.address_bytes(self.token),
            self.amount,
            self.sequence,
            self.not_before,
            self.not_after,
            self.ticket,
            len(self.votes),
        )
        binary = bytearray(head + b"".join(self.votes) + tail)
        binary[2:4] = len(binary).to_bytes(2, "big")
        return bytes(binary)


def _unpack(binary: bytes, kind: int) -> tuple[VoucherBody, bytes]:
    if len(binary) < _HEAD.size:
        raise Refused("truncated", "shorter than a voucher header")
    (version, found, _, epoch, payer, voucher, token, amount, sequence, nb, na, ticket, n) = (
        _HEAD.unpack_from(binary)
    )
    if version != VERSION:
        raise Refused("unsupported_version", f"version {version}")
    if found != kind:
        expected = "payment" if kind == KIND_PAYMENT else "voucher"
        raise Refused("wrong_kind", f"this is not a {expected}")
    votes_end = _HEAD.size + n * _SIG
    if len(binary) < votes_end:
        raise Refused("truncated", "votes cut short")
    votes = tuple(binary[i : i + _SIG] for i in range(_HEAD.size, votes_end, _SIG))
    body = VoucherBody(
        epoch=epoch,
        payer=checksum(payer),
        voucher=checksum(voucher),
        token=checksum(token),
        amount=amount,
        sequence=sequence,
        not_before=nb,
        not_after=na,
        ticket=ticket,
        votes=votes,
    )
    return body, binary[votes_end:]


@dataclass(frozen=True)
class Voucher:
    """A voucher as the payer's device holds it: body, voucher key, payer's signature."""

    body: VoucherBody
    key: bytes
    payer_signature: bytes

    @classmethod
    def create(
        cls,
        certificate: Certificate,
        key: bytes,
        *,
        not_before: int,
        not_after: int,
        ticket: bytes,
    ) -> Voucher:
        order = certificate.order
        if signing.Signer(key).address != order.recipient:
            raise ValueError("the key is not the voucher address's")
        body = VoucherBody(
            epoch=order.epoch,
            payer=order.sender,
            voucher=order.recipient,
            token=order.token,
            amount=order.amount,
            sequence=order.sequence,
            not_before=not_before,
            not_after=not_after,
            ticket=bytes(ticket),
            votes=tuple(vote.signature for vote in certificate.votes),
        )
        return cls(body, bytes(key), certificate.signature)

    @property
    def address(self) -> str:
        return self.body.voucher

    def certificate(self, committee: Committee) -> Certificate:
        """The issue certificate (voters recovered against the committee)."""
        digest = committee.hasher.vote_digest(self.body.issue_order)
        votes = tuple(Vote(signing.recover_digest(digest, s), s) for s in self.body.votes)
        return Certificate(self.body.issue_order, self.payer_signature, votes)

    def to_binary(self) -> bytes:
        return self.body._pack(KIND_VOUCHER, self.key + self.payer_signature)

    def to_text(self) -> str:
        return to_text(self.to_binary())

    @classmethod
    def from_binary(cls, binary: bytes) -> Voucher:
        body, tail = _unpack(binary, KIND_VOUCHER)
        if len(tail) != 32 + _SIG:
            raise Refused("truncated" if len(tail) < 32 + _SIG else "malformed", "voucher key")
        return cls(body, tail[:32], tail[32:])

    @classmethod
    def from_text(cls, text: str) -> Voucher:
        return cls.from_binary(from_text(text))

    def pay(
        self, hasher: signing.Hasher, *, vendor: str, amount: int, epoch: int | None = None
    ) -> Payment:
        """Sign, with the voucher key, ``amount`` (ledger units, <= the voucher's) to
        ``vendor`` at sequence 0. Pure: works offline."""
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValueError("amount must be a positive int (ledger units)")
        if amount > self.body.amount:
            raise ValueError(f"amount {amount} exceeds the voucher's {self.body.amount}")
        vendor = td._address(vendor, "vendor")
        order = td.TransferOrder(
            self.address,
            vendor,
            self.body.token,
            amount,
            0,
            self.body.epoch if epoch is None else epoch,
        )
        signature = signing.Signer(self.key).sign_digest(hasher.order_digest(order))
        return Payment(self.body, vendor, amount, signature)


@dataclass(frozen=True)
class Payment:
    """An offline payment: the voucher (no key) and the voucher key's signed spend."""

    body: VoucherBody
    vendor: str
    amount: int
    signature: bytes

    @property
    def spend_order(self) -> td.TransferOrder:
        return td.TransferOrder(*self._spend_fields())

    def _spend_fields(self) -> _Order:
        body = self.body
        return _Order(body.voucher, self.vendor, body.token, self.amount, 0, body.epoch)

    @property
    def spend_id(self) -> str:
        """Stable id of this spend (hex SHA-256 of the voucher address and signature): the
        idempotency key of a redemption."""
        return hashlib.sha256(signing.address_bytes(self.body.voucher) + self.signature).hexdigest()

    def to_binary(self) -> bytes:
        tail = signing.address_bytes(self.vendor) + struct.pack(">Q", self.amount) + self.signature
        return self.body._pack(KIND_PAYMENT, tail)

    def to_text(self) -> str:
        return to_text(self.to_binary())

    @classmethod
    def from_binary(cls, binary: bytes) -> Payment:
        body, tail = _unpack(binary, KIND_PAYMENT)
        if len(tail) != 20 + 8 + _SIG:
            raise Refused("truncated" if len(tail) < 20 + 8 + _SIG else "malformed", "spend")
        (amount,) = struct.unpack(">Q", tail[20:28])
        return cls(body, checksum(tail[:20]), amount, tail[28:])

    @classmethod
    def from_text(cls, text: str) -> Payment:
        return cls.from_binary(from_text(text))

    def signed_spend(self):
        from fastpay_protocol.messages import SignedOrder

        return SignedOrder(self.spend_order, self.signature)


# ------------------------------------------------------------------ offline verification


class OfflineVerifier:
    """Checks a payment with no I/O: the cached committee (members, stakes, epoch), the
    platform's ticket-signing address and the terminal's own vendor address.

    It does not know what the terminal has already accepted: ``pos.Terminal`` adds the
    ``already_seen`` check against its store. ``grace_s`` is not used here (a terminal
    accepts only inside the window); the platform applies it at sync.
    """

    def __init__(
        self,
        committee: Committee,
        issuer: str,
        vendor: str | None = None,
        previous: Iterable[Committee] = (),
    ):
        self.committee = committee
        self.hasher = committee.hasher
        self.issuer = signing.address_bytes(td._address(issuer, "issuer"))
        self.vendor = None if vendor is None else td._address(vendor, "vendor")
        # vouchers are signed for their issue epoch: after a committee change, those of
        # the previous epochs the platform still settles stay acceptable
        self._committees = {
            c.epoch: c for c in (*previous, committee) if c.domain == committee.domain
        }
        self._members_by_epoch = {
            epoch: frozenset(signing.address_bytes(a) for a in c.stakes)
            for epoch, c in self._committees.items()
        }

    def parse(self, payment: Payment | str | bytes) -> Payment:
        if isinstance(payment, Payment):
            return payment
        try:
            if isinstance(payment, bytes):
                return Payment.from_binary(payment)
            return Payment.from_text(payment)
        except Refused:
            raise
        except (ValueError, struct.error) as exc:
            raise Refused("malformed", str(exc)) from None

    def verify(
        self,
        payment: Payment | str | bytes,
        *,
        now: float | None,
        vendor: str | None = None,
        credentials: bool = True,
    ) -> Payment:
        """The payment if it may be accepted at unix time ``now``; raises Refused.

        ``now=None`` skips the window; ``credentials=False`` skips the ticket and the
        quorum (4 of the 5 signature recoveries): for the platform, which compares the
        voucher with the one it registered instead."""
        payment = self.parse(payment)
        body = payment.body
        expected_vendor = td._address(vendor, "vendor") if vendor else self.vendor
        if body.epoch not in self._members_by_epoch:
            known = ", ".join(str(epoch) for epoch in sorted(self._members_by_epoch))
            raise Refused(
                "unknown_epoch", f"voucher of epoch {body.epoch}, this terminal knows {known}"
            )
        if expected_vendor is not None and payment.vendor != expected_vendor:
            raise Refused("wrong_vendor", f"the payment is to {payment.vendor}")
        if payment.amount <= 0:
            raise Refused("bad_amount", "zero amount")
        if payment.amount > body.amount:
            raise Refused(
                "amount_exceeds_voucher", f"{payment.amount} > voucher value {body.amount}"
            )
        if now is not None and now < body.not_before:
            raise Refused("not_yet_valid", f"valid from {body.not_before}")
        if now is not None and now > body.not_after:
            raise Refused("expired", f"valid until {body.not_after}")
        if credentials:
            self._check_ticket(body)
            self._check_quorum(body)
        try:
            signer = signing.recover_digest_bytes(
                self.hasher.order_digest(payment._spend_fields()), payment.signature
            )
        except td.InvalidSignature:
            signer = None
        if signer != signing.address_bytes(body.voucher):
            raise Refused("bad_spend_signature", "not signed by the voucher key")
        return payment

    def _check_ticket(self, body: VoucherBody) -> None:
        try:
            signer = signing.recover_digest_bytes(
                body.ticket_digest(self.hasher.domain), body.ticket
            )
        except td.InvalidSignature:
            signer = None
        if signer != self.issuer:
            raise Refused(
                "bad_ticket", "not registered by the platform (or window/amount tampered)"
            )

    def _check_quorum(self, body: VoucherBody) -> None:
        members = self._members_by_epoch[body.epoch]
        digest = self.hasher.vote_digest(body._issue_fields())
        voters: set[bytes] = set()
        for signature in body.votes:
            try:
                voter = signing.recover_digest_bytes(digest, signature)
            except td.InvalidSignature:
                raise Refused("bad_certificate", "an invalid vote signature") from None
            if voter not in members:
                raise Refused("bad_certificate", "a vote from outside the committee")
            if voter in voters:
                raise Refused("bad_certificate", "two votes from one authority")
            voters.add(voter)
        if not self._committees[body.epoch].has_quorum("0x" + v.hex() for v in voters):
            raise Refused("bad_certificate", "the votes' stake is not more than 2/3")
