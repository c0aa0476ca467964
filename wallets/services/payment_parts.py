"""A payment's parts: who receives what of its amount, and the platform's fee on each
(docs/splits.md, "Split payments"). No writes here: wallets.services.payments posts.

A payment to one payee has one part (the whole amount). A split payment's parts share the
amount by wallets.splits.split (fixed amounts first, basis points of the rest, the
largest-remainder rule). Each part is charged its own payee's MerchantFee, computed on
the part (``gross``): the payee receives ``gross - fee`` (``units``), FEES the fee, in the
payment's one entry. So ``sum(units) + sum(fee) == amount`` always, and a part whose fee
would exceed it refuses the whole payment (all or nothing).

Stored on ``Payment.splits`` (split payments only) as
``{"payee_id", "payee", "bps", "gross_units", "fee_units", "units", "refunded_units"}``.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from fastpay.money import format_units
from wallets.errors import InvalidSplit
from wallets.fees import NO_FEE, fee_apply
from wallets.models import Payment, User
from wallets.splits import FeeSchedule, Part, SplitError, split


@dataclass(frozen=True, slots=True)
class SplitRequest:
    """One requested part: ``payee`` a username; a fixed ``units`` of the amount (ledger
    units) or ``bps`` basis points of what the fixed parts leave."""

    payee: str
    units: int | None = None
    bps: int | None = None


@dataclass(frozen=True, slots=True)
class Share:
    """What one payee gets of a payment: ``gross`` of its amount, of which ``fee`` goes to
    the platform and ``units`` to the payee (all ledger units)."""

    payee_id: int
    payee: str
    gross: int
    fee: int
    bps: int | None = None
    refunded: int = 0

    @property
    def units(self) -> int:
        return self.gross - self.fee


def shares_compute(
    *,
    amount: int,
    token_id: int,
    payees: Sequence[User],
    requests: Sequence[SplitRequest] | None,
    schedules: dict[tuple[int, int], FeeSchedule],
) -> list[Share]:
    """The payment's shares, in the order asked. ``payees`` are the checked users of the
    parts (one for a single payment, ``requests`` None). Raises InvalidSplit or
    FeeTooLarge, naming the part (``splits[i].amount``) or the whole (``amount``)."""
    if requests is None:
        (payee,) = payees
        fee = fee_apply(amount, schedules.get((payee.pk, token_id), NO_FEE))
        return [Share(payee_id=payee.pk, payee=payee.username, gross=amount, fee=fee)]
    parts = []
    for i, request in enumerate(requests):
        try:
            parts.append(Part(units=request.units, bps=request.bps))
        except SplitError as exc:
            raise InvalidSplit(str(exc), param=f"splits[{i}]" + _field(exc.param)) from None
    try:
        grosses = split(amount, parts)
    except SplitError as exc:
        param = "amount" if exc.param == "amount" else "splits"
        raise InvalidSplit(str(exc), param=param) from None
    shares = []
    for i, (payee, request, gross) in enumerate(zip(payees, requests, grosses, strict=True)):
        if gross == 0:
            raise InvalidSplit(
                f"this part comes to 0 of {amount} units: a part must receive something",
                param=f"splits[{i}]",
            )
        fee = fee_apply(
            gross, schedules.get((payee.pk, token_id), NO_FEE), param=f"splits[{i}].amount"
        )
        shares.append(
            Share(payee_id=payee.pk, payee=payee.username, gross=gross, fee=fee, bps=request.bps)
        )
    return shares


def _field(param: str) -> str:
    return f".{param}" if param in ("amount", "bps") else ""


def shares_json(shares: Sequence[Share], *, charged: bool = True) -> list[dict]:
    """``Payment.splits``; ``charged=False`` (a failed payment): no fee, nothing credited
    as fee, so the parts show what they would have shared of the amount."""
    return [
        {
            "payee_id": s.payee_id,
            "payee": s.payee,
            "bps": s.bps,
            "gross_units": s.gross,
            "fee_units": s.fee if charged else 0,
            "units": s.units if charged else s.gross,
            "refunded_units": s.refunded,
        }
        for s in shares
    ]


def payment_shares(payment: Payment) -> list[Share]:
    """The shares a stored payment credits (or, flagged, will credit) on success."""
    if not payment.splits:
        return [
            Share(
                payee_id=payment.payee_id,
                payee=payment.payee.username,
                gross=payment.amount,
                fee=payment.fee,
                refunded=payment.refunded_amount,
            )
        ]
    return [
        Share(
            payee_id=p["payee_id"],
            payee=p["payee"],
            gross=p["gross_units"],
            fee=p["fee_units"],
            bps=p["bps"],
            refunded=p["refunded_units"],
        )
        for p in payment.splits
    ]


def payment_payee_ids(payment: Payment) -> list[int]:
    """Every payee of the payment, the first (``Payment.payee``) first."""
    if not payment.splits:
        return [payment.payee_id]
    return [p["payee_id"] for p in payment.splits]


def splits_match(payment: Payment, payee: str, requests: Sequence[SplitRequest] | None) -> bool:
    """Whether a retried request (same idempotency key) asks for the same parts."""
    if not requests:
        return not payment.splits and payment.payee.username.lower() == payee.lower()
    if len(payment.splits) != len(requests):
        return False
    return all(
        (
            stored["payee"].lower(),
            stored["bps"],
            stored["gross_units"] if stored["bps"] is None else None,
        )
        == (request.payee.lower(), request.bps, request.units)
        for stored, request in zip(payment.splits, requests, strict=True)
    )


def refund_allocate(amount: int, remaining: Sequence[int]) -> list[int]:
    """Share a refund of ``amount`` units among parts with ``remaining`` units left to
    refund, in proportion to them: floor shares, the units left over one each to the
    largest remainders (ties: the part listed first). No part gets more than it has left
    (a floor of at most its remaining, plus one only when that floor fell short), and the
    allocation sums to ``amount``; requires ``0 < amount <= sum(remaining)``."""
    total = sum(remaining)
    assert 0 < amount <= total, (amount, total)
    shares, remainders = [], []
    for i, left in enumerate(remaining):
        share, remainder = divmod(amount * left, total)
        shares.append(share)
        remainders.append((remainder, i))
    for _, i in sorted(remainders, key=lambda r: (-r[0], r[1]))[: amount - sum(shares)]:
        shares[i] += 1
    return shares


def shares_payload(payment: Payment) -> list[dict]:
    """The parts for events and the API (empty for a payment to one payee)."""
    decimals = payment.token.ledger_decimals
    return [
        {**part, "amount": format_units(part["units"], decimals)} for part in payment.splits or []
    ]
