"""Invoices: create, cancel, pay from a balance, book what any path received, settle,
return differences, expire (docs/invoices.md).

Every path (on-chain deposit, FastPay balance, offline voucher) ends in the same entries:
an INVOICE_RECEIPT (the path's source -> the INVOICE system account) per payment
received, then one INVOICE_SETTLE (INVOICE -> the merchant and split payees' AVAILABLE,
FEES) when the invoice is covered, and an INVOICE_RETURN (INVOICE -> the customer, or the
merchant to refund by hand) for a difference the policy does not keep. So the INVOICE
account always equals what open invoices hold: received - settled - returned.

Lock order: the paying user's row (balance path), then Invoice rows in id order, then the
ledger accounts (``accounts_lock``, by the posting service). HTTP (rate lookups) never
runs inside a transaction.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Lower
from django.utils import timezone

from fastpay.errors import DomainError, IdempotencyError, NotFound
from fastpay.events import events_record
from fastpay.locks import for_update, rows_locked
from fastpay.models import OutboxEvent
from fastpay.money import format_units
from merchants.invoices.errors import (
    InvoiceExpired,
    InvoiceInvalid,
    InvoiceNotCancellable,
    InvoicePaid,
    NotAMerchant,
)
from merchants.models import (
    ExceptionPolicy,
    Invoice,
    InvoiceException,
    InvoicePolicy,
    InvoiceReceipt,
    InvoiceStatus,
    ReceiptMethod,
)
from wallets import splits as splitting
from wallets.errors import AccountNotApproved, InsufficientFunds, SelfPayment, StaffPayee
from wallets.fees import fee_charge
from wallets.models import AccountKind, EntryKind, LedgerAccount, Token, User, UserRole
from wallets.services.ledger import Line, ledger_post, system_account, user_account

logger = logging.getLogger(__name__)

ISSUER_ROLES = (UserRole.MERCHANT, UserRole.VENDOR)
DEFAULT_POLICY = InvoicePolicy()  # the field defaults, never saved
MAX_EXPIRY_S = 30 * 86400
MAX_MONITORING_S = 30 * 86400


@dataclass(slots=True)
class InvoiceDraft:
    """What a merchant asks for; amounts already parsed (``amount``: ledger units, or
    ``fiat_amount`` with ``currency``)."""

    token: Token
    amount: int | None = None
    currency: str = ""
    fiat_amount: Decimal | None = None
    expiry_s: int | None = None
    monitoring_s: int | None = None
    confirmations: int | None = None
    order_id: str = ""
    description: str = ""
    metadata: dict | None = None
    redirect_url: str = ""
    customer: str = ""  # a username, when the buyer is known
    splits: list[dict] | None = None  # [{"payee": username, "units": int} | {"bps": int}]


# ------------------------------------------------------------------ create, cancel


def policy_of(merchant_id: int) -> InvoicePolicy:
    return InvoicePolicy.objects.filter(merchant_id=merchant_id).first() or DEFAULT_POLICY


def invoice_create(
    *, merchant: User, draft: InvoiceDraft, idempotency_key: str | None = None
) -> tuple[Invoice, bool]:
    """A new invoice (and its on-chain address when the token's chain has an HD wallet);
    (invoice, created). The same ``idempotency_key`` returns the first invoice."""
    if not merchant.is_approved or (merchant.role not in ISSUER_ROLES and not merchant.is_staff):
        raise NotAMerchant()
    if idempotency_key:
        found = _by_key(merchant, idempotency_key)
        if found is not None:
            return _replayed(found, draft), False
    token = draft.token
    if not token.enabled:
        raise DomainError(f"{token.symbol} is disabled", param="token", code="token_disabled")
    policy = policy_of(merchant.pk)
    now = timezone.now()
    invoice = Invoice(
        id=uuid.uuid4(),
        merchant=merchant,
        token=token,
        partial_policy=policy.partial,
        partial_tolerance_bps=policy.partial_tolerance_bps,
        over_policy=policy.over,
        over_tolerance_bps=policy.over_tolerance_bps,
        late_policy=policy.late,
        slippage_bps=policy.slippage_bps,
        confirmations=policy.confirmations if draft.confirmations is None else draft.confirmations,
        order_id=draft.order_id,
        description=draft.description,
        metadata=draft.metadata or {},
        redirect_url=draft.redirect_url,
        idempotency_key=idempotency_key,
    )
    _price(invoice, draft)  # may ask the rate providers: before any transaction
    expiry = policy.expiry_s if draft.expiry_s is None else draft.expiry_s
    monitoring = policy.monitoring_s if draft.monitoring_s is None else draft.monitoring_s
    invoice.expires_at = now + timedelta(seconds=expiry)
    invoice.monitoring_until = invoice.expires_at + timedelta(seconds=monitoring)
    if draft.customer:
        invoice.customer = _customer(draft.customer, merchant)
    _fee(merchant.pk, token.pk, invoice.amount)  # a fee larger than the amount: 400
    invoice.splits = _splits_check(merchant, draft.splits or [], invoice.amount, token)
    try:
        with transaction.atomic():
            invoice.save(force_insert=True)
            invoice.address = _address_for(invoice)
            if invoice.address is not None:
                Invoice.objects.filter(pk=invoice.pk).update(address=invoice.address)
            events_record([_event(invoice, "invoice.created")])
    except IntegrityError:
        found = _by_key(merchant, idempotency_key) if idempotency_key else None
        if found is None:
            raise
        return _replayed(found, draft), False
    return invoice, True


def _by_key(merchant: User, key: str) -> Invoice | None:
    return (
        Invoice.objects.filter(merchant=merchant, idempotency_key=key)
        .select_related("token", "address", "merchant")
        .first()
    )


def _replayed(invoice: Invoice, draft: InvoiceDraft) -> Invoice:
    same = invoice.token_id == draft.token.pk and (
        (
            draft.currency
            and invoice.currency == draft.currency.upper()
            and Decimal(invoice.fiat_amount) == draft.fiat_amount
        )
        or (not draft.currency and not invoice.currency and invoice.amount == draft.amount)
    )
    if not same:
        raise IdempotencyError(
            "this idempotency key was used for a different invoice", param="idempotency_key"
        )
    return invoice


def _price(invoice: Invoice, draft: InvoiceDraft) -> None:
    """The token amount: given, or the fiat amount at a rate locked now (the peg must
    hold and the rate must be fresh: merchants.rates)."""
    from merchants.rates.lookup import pair_check, rate_get
    from merchants.rates.peg import fiat_pricing_check

    token = draft.token
    if not draft.currency:
        if draft.amount is None or draft.amount <= 0:
            raise DomainError("the amount must be positive", param="amount", code="invalid_amount")
        invoice.amount = draft.amount
        return
    base, quote = pair_check(token.symbol, draft.currency)
    fiat_pricing_check(base)
    if draft.fiat_amount is None or draft.fiat_amount <= 0:
        raise DomainError("the amount must be positive", param="amount", code="invalid_amount")
    rate = rate_get(base, quote)
    try:
        tokens = draft.fiat_amount / rate.rate
        units = int((tokens * 10**token.ledger_decimals).to_integral_value(ROUND_CEILING))
    except (InvalidOperation, ZeroDivisionError):
        raise DomainError(
            "this amount cannot be priced", param="amount", code="invalid_amount"
        ) from None
    if units <= 0 or units >= 2**62:
        raise DomainError("this amount cannot be priced", param="amount", code="invalid_amount")
    invoice.amount = units
    invoice.currency = quote
    invoice.fiat_amount = format(draft.fiat_amount.normalize(), "f")
    invoice.rate = str(rate.rate)
    invoice.rate_sources = [q.to_json() for q in rate.sources]
    invoice.rate_at = datetime.fromtimestamp(rate.computed_at, tz=UTC)


def _customer(username: str, merchant: User) -> User:
    customer = User.objects.filter(username__iexact=username).first()
    if customer is None:
        raise DomainError(f"no user named {username!r}", param="customer", code="unknown_user")
    if customer.pk == merchant.pk:
        raise SelfPayment("the merchant cannot be its own customer", param="customer")
    return customer


def _splits_check(merchant: User, requested: list[dict], amount: int, token: Token) -> list:
    """The requested parts, checked against the amount now (payees exist and may receive;
    the parts fit what is left after the fee): stored as [{payee_id, payee, units|bps}]."""
    if not requested:
        return []
    names = [str(part.get("payee", "")) for part in requested]
    users = {
        u.username.lower(): u
        for u in User.objects.annotate(lower=Lower("username")).filter(
            lower__in={n.lower() for n in names}
        )
    }
    stored = []
    for i, part in enumerate(requested):
        payee = users.get(names[i].lower())
        param = f"splits[{i}].payee"
        if payee is None:
            raise DomainError(f"no user named {names[i]!r}", param=param, code="unknown_payee")
        if payee.is_staff or payee.role == UserRole.STAFF:
            raise StaffPayee(param=param)
        if not payee.is_approved:
            raise AccountNotApproved("this payee cannot receive payments", param=param)
        entry = {"payee_id": payee.pk, "payee": payee.username}
        if part.get("units") is not None:
            entry["units"] = int(part["units"])
        else:
            entry["bps"] = int(part["bps"])
        stored.append(entry)
    try:
        _parts(merchant.pk, stored, amount - _fee(merchant.pk, token.pk, amount))
    except splitting.SplitError as exc:
        raise DomainError(str(exc), param=f"splits.{exc.param}", code="invalid_split") from None
    return stored


def _parts(merchant_id: int, stored: list[dict], net: int) -> list[tuple[int, int]]:
    """(user id, units) of ``net`` among the split parts; the merchant takes what the
    listed parts leave (the basis points they do not claim), so no listed part is the
    merchant's by accident. Raises SplitError."""
    if net <= 0:
        return []
    if not stored:
        return [(merchant_id, net)]
    parts = [splitting.Part(units=p.get("units"), bps=p.get("bps")) for p in stored]
    owners = [p["payee_id"] for p in stored]
    claimed = sum(p.get("bps") or 0 for p in stored)
    fixed = sum(p.get("units") or 0 for p in stored)
    if claimed < splitting.BPS_WHOLE and (claimed or fixed < net):
        parts.append(splitting.Part(bps=splitting.BPS_WHOLE - claimed))
        owners.append(merchant_id)
    amounts = splitting.split(net, parts)
    return [(owner, units) for owner, units in zip(owners, amounts, strict=True) if units]


def _fee(merchant_id: int, token_id: int, amount: int) -> int:
    """The platform's fee under the merchant's MerchantFee (wallets.fees; 400
    fee_exceeds_amount when larger than the amount)."""
    return fee_charge(amount, merchant_id, token_id)


def _address_for(invoice: Invoice):
    """The invoice's own deposit address on its token's chain (m/44'/60'/0'/0/i of the
    deposits HD account), or None when that chain has no HD wallet (``wallet_init``)."""
    from wallets.chain.addresses import invoice_address_create
    from wallets.chain.models import Chain, HDAccount

    chain = Chain.objects.filter(chain_id=invoice.token.chain_id).first()
    if chain is None or not HDAccount.objects.exists():
        return None
    return invoice_address_create(chain, f"invoice:{invoice.pk}")


def invoice_cancel(*, invoice_id, merchant: User) -> Invoice:
    """NEW with nothing received or seen -> INVALID (cancelled)."""
    with transaction.atomic():
        invoice = _locked(invoice_id, merchant=merchant)
        if invoice.status == InvoiceStatus.INVALID and invoice.closed_reason == "cancelled":
            return invoice
        if invoice.status != InvoiceStatus.NEW or invoice.received or invoice.pending:
            raise InvoiceNotCancellable(param="invoice")
        invoice.status = InvoiceStatus.INVALID
        invoice.closed_reason = "cancelled"
        _save(invoice, topic="invoice.invalid")
    return invoice


# ------------------------------------------------------------------ paying


def invoice_pay_from_balance(
    *, invoice_id, payer: User, idempotency_key: str | None = None
) -> Invoice:
    """The logged-in customer pays what is due from their AVAILABLE balance, in one step
    (and one transaction). A fiat invoice is paid at its locked rate unless the rate has
    since moved beyond the merchant's slippage tolerance (409 rate_moved)."""
    invoice = Invoice.objects.select_related("token").filter(pk=invoice_id).first()
    if invoice is None:
        raise NotFound("no such invoice", param="invoice")
    if invoice.currency:
        _slippage_check(invoice)
    reference = f"balance:{invoice.pk}:{payer.pk}:{idempotency_key or ''}"
    with transaction.atomic():
        payer = for_update(User.objects).get(pk=payer.pk)
        invoice = _locked(invoice_id)
        previous = InvoiceReceipt.objects.filter(reference=reference).first()
        if previous is not None:
            return invoice  # the same payer's same request: answered again, nothing moved
        if not payer.is_approved:
            raise AccountNotApproved("your account is not approved to send payments")
        if payer.pk == invoice.merchant_id:
            raise SelfPayment("a merchant cannot pay its own invoice", param="invoice")
        _payable_check(invoice, timezone.now())
        due = invoice.amount - invoice.received + invoice.returned - invoice.pending
        source = user_account(payer, invoice.token, AccountKind.AVAILABLE)
        if LedgerAccount.objects.get(pk=source.pk).balance < due:
            raise InsufficientFunds(
                f"your available {invoice.token.symbol} does not cover "
                f"{format_units(due, invoice.token.ledger_decimals)}",
                param="amount",
            )
        receipt_book(
            invoice,
            method=ReceiptMethod.BALANCE,
            reference=reference,
            units=due,
            source=source,
            payer=payer,
        )
    return invoice


def _payable_check(invoice: Invoice, now) -> None:
    if invoice.status == InvoiceStatus.SETTLED:
        raise InvoicePaid(param="invoice")
    if invoice.status == InvoiceStatus.INVALID:
        raise InvoiceInvalid(param="invoice")
    if invoice.status == InvoiceStatus.EXPIRED or now >= invoice.expires_at:
        raise InvoiceExpired(param="invoice")
    if invoice.received - invoice.returned + invoice.pending >= invoice.amount:
        raise InvoicePaid("this invoice is paid; the payment is confirming", param="invoice")


def _slippage_check(invoice: Invoice) -> None:
    from merchants.errors import RatesUnavailableError
    from merchants.rates.lookup import rate_get, slippage_check

    try:
        current = rate_get(invoice.token.symbol, invoice.currency).rate
    except RatesUnavailableError:
        return  # no fresh rate to compare: the locked rate stands
    slippage_check(
        locked=Decimal(invoice.rate), current=current, tolerance_bps=invoice.slippage_bps
    )


def invoice_receive(
    *,
    invoice_id,
    method: str,
    reference: str,
    units: int,
    source: LedgerAccount,
    payer: User | None = None,
    memo: str = "",
) -> InvoiceReceipt:
    """Book money a path received for an invoice (an on-chain deposit confirmed, an
    offline voucher settled): ``source`` -> INVOICE, then the invoice re-evaluated (it may
    settle, or return the money by its policy). Runs in the caller's transaction or its
    own; idempotent per ``reference``. The caller must not hold ledger account locks yet
    (the invoice row is locked first)."""
    with transaction.atomic():
        invoice = _locked(invoice_id)
        return receipt_book(
            invoice,
            method=method,
            reference=reference,
            units=units,
            source=source,
            payer=payer,
            memo=memo,
        )


def invoice_pending_add(*, invoice_id, units: int) -> Invoice:
    """On-chain money seen (``units`` > 0) or orphaned before confirmation (< 0): the
    invoice becomes PROCESSING once what is seen and booked covers it, NEW again when a
    reorg takes the cover away."""
    with transaction.atomic():
        invoice = _locked(invoice_id)
        invoice.pending = max(0, invoice.pending + units)
        _evaluate(invoice, timezone.now())
    return invoice


def receipt_book(
    invoice: Invoice,
    *,
    method: str,
    reference: str,
    units: int,
    source: LedgerAccount,
    payer: User | None = None,
    memo: str = "",
) -> InvoiceReceipt:
    """Inside the caller's transaction, ``invoice`` locked by it."""
    previous = InvoiceReceipt.objects.filter(reference=reference).first()
    if previous is not None:
        return previous
    if units <= 0:
        raise DomainError("a receipt is positive", param="amount", code="invalid_amount")
    now = timezone.now()
    late = invoice.status == InvoiceStatus.EXPIRED or now >= invoice.expires_at
    entry = ledger_post(
        kind=EntryKind.INVOICE_RECEIPT,
        reference=str(invoice.pk),
        lines=[Line(source, -units), Line(_invoice_account(invoice.token), units)],
        memo=(memo or f"{method} {reference}")[:255],
        idempotency_key=f"invoice-receipt:{reference}",
    )
    receipt = InvoiceReceipt.objects.create(
        invoice=invoice,
        method=method,
        reference=reference,
        amount=units,
        payer=payer,
        late=late,
        entry=entry,
    )
    invoice.received += units
    events_record([_event(invoice, "invoice.payment_received", receipt=receipt)])
    _evaluate(invoice, now, receipt=receipt)
    return receipt


# ------------------------------------------------------------------ evaluation


def _evaluate(invoice: Invoice, now, *, receipt=None) -> None:
    """Apply the status rules after money came in or was seen (docs/invoices.md)."""
    held = invoice.received - invoice.returned - invoice.settled_amount
    if invoice.status in (InvoiceStatus.SETTLED, InvoiceStatus.INVALID):
        if held > 0:  # paid twice, or paid after a cancellation: never kept
            if invoice.status == InvoiceStatus.SETTLED and invoice.exception != "paid_late":
                invoice.exception = InvoiceException.PAID_OVER
            _return(invoice, held, _mode(invoice.over_policy))
        _save(invoice, None)
        return
    if invoice.status == InvoiceStatus.EXPIRED:
        accept = invoice.late_policy == ExceptionPolicy.ACCEPT and now <= invoice.monitoring_until
        if held > 0 and accept and held >= invoice.amount - _tolerance(invoice, partial=True):
            invoice.exception = InvoiceException.PAID_LATE
            _settle(invoice, held)
        elif held > 0 and receipt is not None:
            invoice.exception = InvoiceException.PAID_LATE
            _return(invoice, held, _mode(invoice.late_policy))
        _save(invoice, None)
        return
    # NEW or PROCESSING
    if held >= invoice.amount or (
        invoice.pending == 0
        and invoice.partial_policy == ExceptionPolicy.ACCEPT
        and held > 0
        and held >= invoice.amount - _tolerance(invoice, partial=True)
    ):
        _settle(invoice, held)
        _save(invoice, None)
        return
    before = invoice.status
    if held + invoice.pending >= invoice.amount:
        invoice.status = InvoiceStatus.PROCESSING
    else:
        invoice.status = InvoiceStatus.NEW
    if held > 0 and held + invoice.pending < invoice.amount:
        invoice.exception = InvoiceException.PAID_PARTIAL
    elif invoice.exception == InvoiceException.PAID_PARTIAL:
        invoice.exception = InvoiceException.NONE
    topic = None
    if invoice.status != before:
        topic = (
            "invoice.processing" if invoice.status == InvoiceStatus.PROCESSING else "invoice.new"
        )
    _save(invoice, topic)


def _tolerance(invoice: Invoice, *, partial: bool) -> int:
    bps = invoice.partial_tolerance_bps if partial else invoice.over_tolerance_bps
    return invoice.amount * bps // splitting.BPS_WHOLE


def _mode(policy: str) -> str:
    """Where a difference the policy does not keep goes: ACCEPT beyond its tolerance is
    credited like CREDIT."""
    return ExceptionPolicy.REFUND if policy == ExceptionPolicy.REFUND else ExceptionPolicy.CREDIT


def _settle(invoice: Invoice, held: int) -> None:
    """INVOICE -> the merchant's side (the split parts, FEES) for what the invoice keeps;
    an excess beyond the over-payment tolerance goes back by the policy."""
    keep = held
    excess = held - invoice.amount
    if excess > 0:
        invoice.exception = (
            invoice.exception
            if invoice.exception == InvoiceException.PAID_LATE
            else InvoiceException.PAID_OVER
        )
        within = invoice.over_policy == ExceptionPolicy.ACCEPT and excess <= _tolerance(
            invoice, partial=False
        )
        if not within:
            keep = invoice.amount
    elif excess < 0 and invoice.exception != InvoiceException.PAID_LATE:
        invoice.exception = InvoiceException.PAID_PARTIAL
    elif excess == 0 and invoice.exception == InvoiceException.PAID_PARTIAL:
        invoice.exception = InvoiceException.NONE  # the rest came in time
    token = invoice.token
    try:
        fee = _fee(invoice.merchant_id, token.pk, keep)
    except DomainError:
        fee = keep  # an accepted shortfall smaller than the minimum fee: all of it is fee
    try:
        parts = _parts(invoice.merchant_id, invoice.splits, keep - fee)
    except splitting.SplitError:
        # an accepted shortfall left less than the fixed parts: the merchant's side is
        # shared pro rata instead (documented), never refused after the money came in
        parts = [(invoice.merchant_id, keep - fee)]
    owners = {owner for owner, _ in parts}
    accounts = {
        owner: user_account(User(pk=owner), token, AccountKind.AVAILABLE) for owner in owners
    }
    lines = [Line(_invoice_account(token), -keep)]
    lines += [Line(accounts[owner], units) for owner, units in parts]
    if fee:
        lines.append(Line(system_account(token, AccountKind.FEES), fee))
    entry = ledger_post(
        kind=EntryKind.INVOICE_SETTLE,
        reference=str(invoice.pk),
        lines=lines,
        idempotency_key=f"invoice-settle:{invoice.pk}",
    )
    invoice.status = InvoiceStatus.SETTLED
    invoice.settled_amount = keep
    invoice.fee = fee
    invoice.parts = [{"user_id": owner, "units": units} for owner, units in parts]
    invoice.settle_entry = entry
    invoice.settled_at = timezone.now()
    events_record([_event(invoice, "invoice.settled")])
    if held > keep:
        _return(invoice, held - keep, _mode(invoice.over_policy))


def _return(invoice: Invoice, units: int, mode: str) -> None:
    """``units`` of what the invoice holds go back, newest receipts first: CREDIT to the
    invoice's customer (else the receipt's payer), REFUND to the receipt's payer; money
    from an unknown on-chain sender goes to the merchant as ``refund_due``, to send back
    by hand (FastPay does not pay chain refunds to a sender address on its own)."""
    token = invoice.token
    receipts = rows_locked(InvoiceReceipt.objects.filter(invoice=invoice))
    left = units
    to: dict[int, int] = {}
    due = 0
    for receipt in sorted(receipts, key=lambda r: -r.pk):
        if left == 0:
            break
        part = min(left, receipt.amount - receipt.returned)
        if part <= 0:
            continue
        left -= part
        receipt.returned += part
        InvoiceReceipt.objects.filter(pk=receipt.pk).update(returned=F("returned") + part)
        who = receipt.payer_id
        if mode == ExceptionPolicy.CREDIT and invoice.customer_id:
            who = invoice.customer_id
        if who is None:
            who = invoice.merchant_id
            due += part
        to[who] = to.get(who, 0) + part
    moved = units - left
    if moved <= 0:
        return
    lines = [Line(_invoice_account(token), -moved)]
    lines += [
        Line(user_account(User(pk=who), token, AccountKind.AVAILABLE), part)
        for who, part in sorted(to.items())
    ]
    ledger_post(
        kind=EntryKind.INVOICE_RETURN,
        reference=str(invoice.pk),
        lines=lines,
        memo=f"{mode} of {moved} units",
    )
    invoice.returned += moved
    invoice.refund_due += due
    events_record(
        [
            _event(
                invoice,
                "invoice.returned",
                returned={
                    "units": moved,
                    "mode": mode,
                    "refund_due_units": due,
                    "to": [who for who in sorted(to)],
                },
            )
        ]
    )


# ------------------------------------------------------------------ expiry


def invoices_expire(*, now=None, limit: int = 500) -> int:
    """NEW invoices past their expiry -> EXPIRED (beat, every minute); what a partly
    paid one holds is settled within the tolerance or returned by its policy. PROCESSING
    ones wait for their confirmations. Returns how many expired."""
    now = now or timezone.now()
    ids = list(
        Invoice.objects.filter(status=InvoiceStatus.NEW, expires_at__lte=now)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    for chunk_start in range(0, len(ids), 100):
        with transaction.atomic():
            for invoice in rows_locked(
                Invoice.objects.filter(
                    pk__in=ids[chunk_start : chunk_start + 100], status=InvoiceStatus.NEW
                ).select_related("token")
            ):
                _expire(invoice, now)
                done += 1
    return done


def _expire(invoice: Invoice, now) -> None:
    held = invoice.received - invoice.returned - invoice.settled_amount
    if (
        held > 0
        and invoice.partial_policy == ExceptionPolicy.ACCEPT
        and held >= invoice.amount - _tolerance(invoice, partial=True)
    ):
        _settle(invoice, held)
        _save(invoice, None)
        return
    invoice.status = InvoiceStatus.EXPIRED
    invoice.closed_reason = "expired"
    if held > 0:
        invoice.exception = InvoiceException.PAID_PARTIAL
        _return(invoice, held, _mode(invoice.partial_policy))
    _save(invoice, topic="invoice.expired")


# ------------------------------------------------------------------ helpers


def _locked(invoice_id, *, merchant: User | None = None) -> Invoice:
    query = Invoice.objects.filter(pk=invoice_id)
    if merchant is not None:
        query = query.filter(merchant=merchant)
    invoice = for_update(query.select_related("token"), of=("self",)).first()
    if invoice is None:
        raise NotFound("no such invoice", param="invoice")
    return invoice


def _invoice_account(token: Token) -> LedgerAccount:
    return system_account(token, AccountKind.INVOICE)


SAVED_FIELDS = [
    "status",
    "exception",
    "received",
    "pending",
    "settled_amount",
    "fee",
    "returned",
    "refund_due",
    "parts",
    "settle_entry",
    "settled_at",
    "closed_reason",
    "updated_at",
]


def _save(invoice: Invoice, topic: str | None) -> None:
    invoice.save(update_fields=SAVED_FIELDS)
    if topic:
        events_record([_event(invoice, topic)])


def invoice_payload(invoice: Invoice) -> dict:
    token = invoice.token
    dec = token.ledger_decimals
    return {
        "invoice_id": str(invoice.pk),
        "merchant_id": invoice.merchant_id,
        "customer_id": invoice.customer_id,
        "status": invoice.status,
        "exception": invoice.exception,
        "token": token.symbol,
        "amount": format_units(invoice.amount, dec),
        "amount_units": invoice.amount,
        "currency": invoice.currency,
        "fiat_amount": invoice.fiat_amount,
        "rate": invoice.rate,
        "received_units": invoice.received,
        "pending_units": invoice.pending,
        "settled_units": invoice.settled_amount,
        "fee_units": invoice.fee,
        "returned_units": invoice.returned,
        "refund_due_units": invoice.refund_due,
        "order_id": invoice.order_id,
        "expires_at": invoice.expires_at.isoformat(),
    }


def _event(invoice: Invoice, topic: str, *, receipt=None, returned=None) -> OutboxEvent:
    payload = invoice_payload(invoice)
    if receipt is not None:
        payload["receipt"] = {
            "method": receipt.method,
            "amount_units": receipt.amount,
            "late": receipt.late,
            "payer_id": receipt.payer_id,
        }
    if returned is not None:
        payload["returned"] = returned
    return OutboxEvent(
        topic=topic, aggregate_type="invoice", aggregate_id=str(invoice.pk), payload=payload
    )
