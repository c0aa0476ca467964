"""Online payments: create (one or a batch), hold, approve, reject, refund.

State machine: PENDING -> PROCESSING -> SUCCESS | FAILED | FLAGGED;
FLAGGED -> SUCCESS (approved) | FAILED (rejected). A flagged payment's money sits in the
payer's HELD account until staff decide.

Lock order, everywhere: the payer's User row (sequence), then Payment rows, then
LedgerAccount rows in id order (`accounts_lock`). Creation never locks Payment rows and
decisions never lock User rows, so no two use cases can wait on each other in a cycle.

Fees and splits (docs/splits.md): a payment's parts (wallets.services.payment_parts) each
pay their payee's MerchantFee; the entry that credits the payees credits FEES the fees
(payer -amount, each payee +its part - its fee, FEES +the fees). A flagged payment's fee
is fixed when it is created and charged when it is released; a failed one charges none.
Refunds return at most what the payees received: the platform's fee is not refunded.
FEES is one row per token: fee-bearing payments queue on its lock (it is locked with the
others, in id order), payments without a fee never touch it.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models.functions import Lower

from fastpay.errors import DomainError, IdempotencyError, NotFound
from fastpay.events import event_record, events_record
from fastpay.locks import for_update
from fastpay.models import OutboxEvent
from fastpay.money import format_units
from wallets.errors import (
    AccountNotApproved,
    InsufficientFunds,
    InvalidSplit,
    InvalidStateTransition,
    NotPayee,
    PaymentBlocked,
    RefundExceedsPayment,
    SelfPayment,
    StaffPayee,
    TokenDisabled,
    UnknownPayee,
)
from wallets.fees import fee_schedules_for
from wallets.models import (
    AccountKind,
    EntryKind,
    LedgerAccount,
    Payment,
    PaymentState,
    Refund,
    Token,
    User,
    UserRole,
)
from wallets.risk import (
    PaymentDraft,
    RiskDecision,
    payment_risk_assess_many,
    payment_risk_record,
)
from wallets.services.ledger import (
    Line,
    PostingBatchItem,
    accounts_lock,
    ledger_post,
    ledger_post_many,
    system_account,
    user_account,
)
from wallets.services.payment_parts import (
    Share,
    SplitRequest,
    payment_payee_ids,
    payment_shares,
    refund_allocate,
    shares_compute,
    shares_json,
    shares_payload,
    splits_match,
)

TRANSITIONS = {
    PaymentState.PENDING: {PaymentState.PROCESSING},
    PaymentState.PROCESSING: {PaymentState.SUCCESS, PaymentState.FAILED, PaymentState.FLAGGED},
    PaymentState.FLAGGED: {PaymentState.SUCCESS, PaymentState.FAILED},
    PaymentState.SUCCESS: set(),
    PaymentState.FAILED: set(),
}

TOPICS = {
    PaymentState.SUCCESS: "payment.succeeded",
    PaymentState.FAILED: "payment.failed",
    PaymentState.FLAGGED: "payment.flagged",
}


@dataclass(slots=True)
class PaymentItem:
    """One requested payment. `payee` is a username; `amount` is in ledger units.

    A split payment names its parts in `splits` instead (`payee` is then ignored: the
    first part's payee is the payment's `payee`)."""

    payee: str
    token: Token
    amount: int
    description: str = ""
    metadata: dict = field(default_factory=dict)
    latitude: object = None
    longitude: object = None
    idempotency_key: str | None = None
    splits: Sequence[SplitRequest] | None = None

    def __post_init__(self):
        if self.splits:
            self.payee = self.splits[0].payee
        else:
            self.splits = None


@dataclass(slots=True)
class ItemResult:
    payment: Payment | None = None
    error: DomainError | None = None
    replayed: bool = False


def payment_create(*, payer: User, item: PaymentItem) -> Payment:
    """Create and settle one payment; raise its domain error if it is refused.

    A blocked payment is recorded FAILED (for the audit trail) and then refused.
    """
    (result,) = payment_create_batch(payer=payer, items=[item])
    if result.error is not None:
        raise result.error
    return result.payment


def payment_create_batch(*, payer: User, items: Sequence[PaymentItem]) -> list[ItemResult]:
    """Create many payments from one payer in one transaction; a result per item.

    Every item is validated, risk-assessed and checked against the running balance in
    memory while the touched accounts are locked, then everything is written with bulk
    inserts. A refused item (insufficient funds, unknown payee, ...) makes no row and does
    not affect the others. Payees and their fee schedules are read once for the batch.
    """
    results = [ItemResult() for _ in items]
    with transaction.atomic():
        payer = for_update(User.objects).get(pk=payer.pk)
        if not payer.is_approved:
            raise AccountNotApproved("your account is not approved to send payments")

        pending = _replay_idempotent_items(payer, items, results)
        payees = _payees_by_username({name for i in pending for name in _names(items[i])})
        schedules = fee_schedules_for(
            (payees[name.lower()].pk, items[i].token.pk)
            for i in pending
            for name in _names(items[i])
            if name.lower() in payees
        )
        valid: list[tuple[int, PaymentItem, list[Share]]] = []
        drafts: list[PaymentDraft] = []
        for index in pending:
            item = items[index]
            try:
                shares = _validate_item(payer, item, payees, schedules)
            except DomainError as exc:
                results[index].error = exc
                continue
            valid.append((index, item, shares))
            drafts.append(
                PaymentDraft(
                    payer=payer,
                    payee=payees[item.payee.lower()],
                    token=item.token,
                    amount=item.amount,
                    latitude=item.latitude,
                    longitude=item.longitude,
                    metadata=item.metadata,
                )
            )
        # In order, in one call (the assessor reads the payer's history once and counts
        # earlier items in later ones'); it may refuse an item (e.g. a circuit breaker
        # pauses payments): that item's result is the error.
        risks = payment_risk_assess_many(drafts)
        accepted: list[tuple[int, PaymentItem, list[Share], object]] = []
        for (index, item, shares), risk in zip(valid, risks, strict=True):
            if isinstance(risk, DomainError):
                results[index].error = risk
                continue
            accepted.append((index, item, shares, risk))

        if accepted:
            _settle_accepted(payer, accepted, results, payees)
    return results


def _names(item: PaymentItem) -> list[str]:
    return [part.payee for part in item.splits] if item.splits else [item.payee]


def _replay_idempotent_items(payer, items, results) -> list[int]:
    """Fill results for items whose idempotency key already made a payment; return the
    indexes still to process. The same key twice inside one batch is refused."""
    keys = [item.idempotency_key for item in items if item.idempotency_key]
    existing = (
        {
            payment.idempotency_key: payment
            for payment in Payment.objects.filter(
                payer=payer, idempotency_key__in=keys
            ).select_related("token", "payee")
        }
        if keys
        else {}
    )
    seen: set[str] = set()
    pending = []
    for index, item in enumerate(items):
        key = item.idempotency_key
        if key and key in seen:
            results[index].error = IdempotencyError(
                "the same idempotency_key appears twice in this batch", param="idempotency_key"
            )
            continue
        if key:
            seen.add(key)
        if key and key in existing:
            payment = existing[key]
            same = (payment.token_id, payment.amount) == (item.token.id, item.amount)
            if not (same and splits_match(payment, item.payee, item.splits)):
                results[index].error = IdempotencyError(
                    "this idempotency_key was used for a different payment",
                    param="idempotency_key",
                )
            else:
                results[index] = ItemResult(payment=payment, replayed=True)
            continue
        pending.append(index)
    return pending


def _payees_by_username(usernames: set[str]) -> dict[str, User]:
    """Lower-cased username -> user: usernames are unique ignoring case (a functional
    unique index on LOWER(username) serves this IN)."""
    users = User.objects.annotate(username_lower=Lower("username")).filter(
        username_lower__in={name.lower() for name in usernames}
    )
    return {user.username.lower(): user for user in users}


def _payee_check(payer: User, name: str, payees: dict[str, User], param: str) -> User:
    payee = payees.get(name.lower())
    if payee is None:
        raise UnknownPayee(f"no user named {name!r}", param=param)
    if payee.pk == payer.pk:
        raise SelfPayment(param=param)
    if payee.is_staff or payee.role == UserRole.STAFF:
        # a back-office account holds no customer money; paying one is a mistake or a scam
        raise StaffPayee(param=param)
    if not payee.is_approved:
        raise AccountNotApproved("the payee cannot receive payments", param=param)
    return payee


def _validate_item(
    payer: User, item: PaymentItem, payees: dict[str, User], schedules
) -> list[Share]:
    """The item's shares (one for a payment to one payee), or its domain error."""
    if not item.token.enabled:
        raise TokenDisabled(f"{item.token.symbol} is disabled", param="token")
    if item.splits:
        checked, seen = [], set()
        for i, part in enumerate(item.splits):
            payee = _payee_check(payer, part.payee, payees, f"splits[{i}].payee")
            if payee.pk in seen:
                raise InvalidSplit(
                    f"{payee.username!r} is named twice: one part per payee",
                    param=f"splits[{i}].payee",
                )
            seen.add(payee.pk)
            checked.append(payee)
    else:
        checked = [_payee_check(payer, item.payee, payees, "payee")]
    if item.amount <= 0:
        raise DomainError("the amount must be positive", param="amount", code="invalid_amount")
    return shares_compute(
        amount=item.amount,
        token_id=item.token.pk,
        payees=checked,
        requests=item.splits,
        schedules=schedules,
    )


def _accounts_for(payer: User, accepted) -> dict[tuple[int | None, int, str], LedgerAccount]:
    """(owner id, token id, kind) -> account for every account the batch touches; FEES
    (owner None) only for tokens some item charges a fee in."""
    wanted = set()
    fee_tokens = {}
    for _, item, shares, _ in accepted:
        wanted.add((payer.pk, item.token, AccountKind.AVAILABLE))
        wanted.add((payer.pk, item.token, AccountKind.HELD))
        for share in shares:
            wanted.add((share.payee_id, item.token, AccountKind.AVAILABLE))
            if share.fee:
                fee_tokens[item.token.pk] = item.token
    owners = {owner for owner, _, _ in wanted}
    tokens = {token.pk for _, token, _ in wanted}
    found = {
        (a.owner_id, a.token_id, a.kind): a
        for a in LedgerAccount.objects.filter(owner_id__in=owners, token_id__in=tokens)
    }
    # Create missing accounts in one canonical order (we already hold the payer's row lock):
    # two transactions inserting the same pair of accounts in opposite orders could
    # otherwise wait on each other's uncommitted unique-index entries.
    for owner, token, kind in sorted(wanted, key=lambda w: (w[0], w[1].pk, w[2])):
        if (owner, token.pk, kind) not in found:
            found[(owner, token.pk, kind)] = user_account(User(pk=owner), token, kind)
    for token in fee_tokens.values():
        found[(None, token.pk, AccountKind.FEES)] = system_account(token, AccountKind.FEES)
    return found


def _credit_lines(accounts, token: Token, shares: Sequence[Share]) -> list[Line]:
    """The payees' and FEES' lines of a payment's settling entry (no zero line: a part
    whose fee took all of it credits its payee nothing)."""
    lines = [
        Line(accounts[(s.payee_id, token.pk, AccountKind.AVAILABLE)], s.units)
        for s in shares
        if s.units
    ]
    fees = sum(s.fee for s in shares)
    if fees:
        lines.append(Line(accounts[(None, token.pk, AccountKind.FEES)], fees))
    return lines


def _settle_accepted(payer: User, accepted, results: list[ItemResult], payees) -> None:
    accounts = _accounts_for(payer, accepted)
    locked = accounts_lock(a.id for a in accounts.values())
    balance = {account_id: account.balance for account_id, account in locked.items()}

    payments: list[Payment] = []
    assessed: list[tuple[Payment, object]] = []
    postings: list[PostingBatchItem] = []
    sequence = payer.next_payment_sequence
    for index, item, shares, risk in accepted:
        source = accounts[(payer.pk, item.token.pk, AccountKind.AVAILABLE)]
        if risk.decision == RiskDecision.BLOCK:
            state, kind = PaymentState.FAILED, None
        elif risk.decision == RiskDecision.REVIEW:
            state, kind = PaymentState.FLAGGED, EntryKind.HOLD
        else:
            state, kind = PaymentState.SUCCESS, EntryKind.PAYMENT
        if kind is not None and balance[source.id] < item.amount:
            results[index].error = InsufficientFunds(
                f"available {format_units(balance[source.id], item.token.ledger_decimals)} "
                f"{item.token.symbol} does not cover this payment",
                param="amount",
            )
            continue
        charged = state != PaymentState.FAILED
        payment = Payment(
            id=uuid.uuid4(),
            payer=payer,
            payee=payees[shares[0].payee.lower()],
            token=item.token,
            amount=item.amount,
            fee=sum(s.fee for s in shares) if charged else 0,
            splits=shares_json(shares, charged=charged) if item.splits else [],
            state=state,
            sequence=sequence,
            idempotency_key=item.idempotency_key,
            description=item.description,
            metadata=item.metadata,
            latitude=item.latitude,
            longitude=item.longitude,
            failure_code=PaymentBlocked.code if state == PaymentState.FAILED else "",
            risk_score=risk.score,
            risk_reasons=list(risk.reasons),
        )
        sequence += 1
        payments.append(payment)
        assessed.append((payment, risk))
        results[index].payment = payment
        if state == PaymentState.FAILED:
            results[index].error = PaymentBlocked(param="amount")
            continue
        if state == PaymentState.FLAGGED:
            held = accounts[(payer.pk, item.token.pk, AccountKind.HELD)]
            lines = [Line(source, -item.amount), Line(held, item.amount)]
        else:
            lines = [Line(source, -item.amount), *_credit_lines(accounts, item.token, shares)]
        for line in lines:
            balance[line.account.id] += line.amount
        postings.append(PostingBatchItem(kind=kind, reference=str(payment.id), lines=lines))

    if not payments:
        return
    Payment.objects.bulk_create(payments)
    payment_risk_record(assessed)
    ledger_post_many(postings, locked=locked)
    events_record(_payment_event(p) for p in payments)
    User.objects.filter(pk=payer.pk).update(next_payment_sequence=sequence)
    payer.next_payment_sequence = sequence


def payment_payload(payment: Payment) -> dict:
    token = payment.token
    return {
        "payment_id": str(payment.id),
        "payer_id": payment.payer_id,
        "payer": payment.payer.username,
        "payee_id": payment.payee_id,
        "payee": payment.payee.username,
        "token": token.symbol,
        "amount_units": payment.amount,
        "amount": format_units(payment.amount, token.ledger_decimals),
        "refunded_units": payment.refunded_amount,
        "fee_units": payment.fee,
        "fee": format_units(payment.fee, token.ledger_decimals),
        "splits": shares_payload(payment),
        "state": payment.state,
        "sequence": payment.sequence,
    }


def _payment_event(payment: Payment, topic: str | None = None) -> OutboxEvent:
    return OutboxEvent(
        topic=topic or TOPICS[payment.state],
        aggregate_type="payment",
        aggregate_id=str(payment.id),
        payload=payment_payload(payment),
    )


def _payment_lock(payment_id) -> Payment:
    payment = (
        for_update(Payment.objects, of=("self",))
        .select_related("token", "payer", "payee")
        .filter(pk=payment_id)
        .first()
    )
    if payment is None:
        raise NotFound("no such payment", param="payment")
    return payment


def _transition(payment: Payment, to: str) -> None:
    if to not in TRANSITIONS[payment.state]:
        raise InvalidStateTransition(f"a {payment.state} payment cannot become {to}")
    payment.state = to


def payment_hold(*, payment_id, by: User | None, note: str = "") -> Payment:
    """Hold a payment that has not settled yet (PENDING/PROCESSING) for review: its money
    moves from the payer's AVAILABLE to HELD account."""
    with transaction.atomic():
        payment = _payment_lock(payment_id)
        if payment.state == PaymentState.PENDING:
            _transition(payment, PaymentState.PROCESSING)
        _transition(payment, PaymentState.FLAGGED)
        source = user_account(payment.payer, payment.token, AccountKind.AVAILABLE)
        held = user_account(payment.payer, payment.token, AccountKind.HELD)
        ledger_post(
            kind=EntryKind.HOLD,
            reference=str(payment.id),
            lines=[Line(source, -payment.amount), Line(held, payment.amount)],
            created_by=by,
        )
        _decision_save(payment, by=by, note=note, topic="payment.flagged")
    return payment


def payment_approve(*, payment_id, by: User | None, note: str = "") -> Payment:
    """Release a flagged payment: payer HELD -> payee AVAILABLE."""
    return _payment_decide(payment_id=payment_id, by=by, note=note, approve=True)


def payment_reject(*, payment_id, by: User | None, note: str = "") -> Payment:
    """Return a flagged payment's money: payer HELD -> payer AVAILABLE."""
    return _payment_decide(payment_id=payment_id, by=by, note=note, approve=False)


def _payment_decide(*, payment_id, by, note: str, approve: bool) -> Payment:
    with transaction.atomic():
        payment = _payment_lock(payment_id)
        target_state = PaymentState.SUCCESS if approve else PaymentState.FAILED
        _transition(payment, target_state)
        token = payment.token
        held = user_account(payment.payer, token, AccountKind.HELD)
        if approve:
            # the fee fixed at creation (Payment.fee, the parts' fee_units) is charged now
            shares = payment_shares(payment)
            accounts = {
                (s.payee_id, token.pk, AccountKind.AVAILABLE): user_account(
                    User(pk=s.payee_id), token
                )
                for s in shares
            }
            if payment.fee:
                fees = system_account(token, AccountKind.FEES)
                accounts[(None, token.pk, AccountKind.FEES)] = fees
            credits = _credit_lines(accounts, token, shares)
        else:
            credits = [Line(user_account(payment.payer, token), payment.amount)]
            payment.failure_code = "rejected_by_review"
            _fee_waive(payment)
        ledger_post(
            kind=EntryKind.RELEASE if approve else EntryKind.RETURN,
            reference=str(payment.id),
            lines=[Line(held, -payment.amount), *credits],
            created_by=by,
        )
        _decision_save(
            payment,
            by=by,
            note=note,
            topic="payment.approved" if approve else "payment.rejected",
        )
    return payment


def _fee_waive(payment: Payment) -> None:
    """A payment that failed charged no fee: its fee and its parts' fees become 0."""
    payment.fee = 0
    if payment.splits:
        payment.splits = shares_json(payment_shares(payment), charged=False)


def _decision_save(payment: Payment, *, by, note: str, topic: str) -> None:
    payment.decided_by = by
    payment.review_note = note
    payment.save(
        update_fields=[
            "state",
            "decided_by",
            "review_note",
            "failure_code",
            "fee",
            "splits",
            "updated_at",
        ]
    )
    events_record([_payment_event(payment, topic)])


def payment_refund(
    *,
    payment_id,
    by: User,
    amount: int | None = None,
    reason: str = "",
    idempotency_key: str | None = None,
    as_staff: bool = False,
) -> Refund:
    """Refund all (amount=None) or part of a successful payment: payee(s) -> payer.

    Only a payee may refund, from its own part, unless `as_staff` (the back office), whose
    refund is shared among the parts in proportion to what each has left to refund
    (`refund_allocate`). A refund returns at most what the payees received: the
    platform's fee is not refunded (docs/splits.md). The payment row lock serialises
    refunds of one payment, so their sum never passes the amount (a CHECK constraint
    backs this).
    """
    with transaction.atomic():
        payment = _payment_lock(payment_id)
        if not as_staff and by.pk not in payment_payee_ids(payment):
            raise NotPayee(param="payment")
        if idempotency_key:
            previous = Refund.objects.filter(payment=payment, idempotency_key=idempotency_key)
            previous = previous.first()
            if previous is not None:
                if amount is not None and previous.amount != amount:
                    raise IdempotencyError(
                        "this idempotency_key was used for a different refund",
                        param="idempotency_key",
                    )
                return previous
        if not as_staff and not by.is_approved:
            raise AccountNotApproved("your account is not approved to move money")
        if payment.state != PaymentState.SUCCESS:
            raise InvalidStateTransition(
                f"only successful payments can be refunded, not {payment.state}"
            )
        shares = payment_shares(payment)
        mine = [i for i, s in enumerate(shares) if as_staff or s.payee_id == by.pk]
        left = [shares[i].units - shares[i].refunded for i in mine]
        remaining = sum(left)
        amount = _refund_amount(payment, amount, remaining)
        parts = refund_allocate(amount, left)
        token = payment.token
        lines = [
            Line(user_account(User(pk=shares[i].payee_id), token), -units)
            for i, units in zip(mine, parts, strict=True)
            if units
        ]
        lines.append(Line(user_account(payment.payer, token), amount))
        entry = ledger_post(
            kind=EntryKind.REFUND,
            reference=str(payment.id),
            lines=lines,
            memo=reason[:255],
            created_by=by,
        )
        refund = Refund.objects.create(
            payment=payment,
            amount=amount,
            reason=reason[:255],
            idempotency_key=idempotency_key,
            entry=entry,
            created_by=by,
        )
        payment.refunded_amount += amount
        if payment.splits:
            for i, units in zip(mine, parts, strict=True):
                payment.splits[i]["refunded_units"] += units
        payment.save(update_fields=["refunded_amount", "splits", "updated_at"])
        event_record(
            topic="payment.refunded",
            aggregate_type="payment",
            aggregate_id=payment.id,
            payload={
                **payment_payload(payment),
                "refund_id": str(refund.id),
                "refund_units": amount,
                "refund_amount": format_units(amount, token.ledger_decimals),
            },
        )
    return refund


def _refund_amount(payment: Payment, amount: int | None, remaining: int) -> int:
    """The refund asked for (None: all that is left), checked against what is left."""
    token = payment.token
    amount = remaining if amount is None else amount
    if amount <= 0:
        if remaining == 0:
            if payment.fee and payment.refunded_amount == 0:
                raise RefundExceedsPayment("nothing to refund: the platform's fee took it all")
            raise RefundExceedsPayment("this payment is already fully refunded")
        raise DomainError("the amount must be positive", param="amount", code="invalid_amount")
    if amount > remaining:
        note = (
            f" (the platform's fee of {format_units(payment.fee, token.ledger_decimals)} "
            "is not refunded)"
            if payment.fee
            else ""
        )
        raise RefundExceedsPayment(
            f"at most {format_units(remaining, token.ledger_decimals)} "
            f"{token.symbol} is left to refund{note}",
            param="amount",
        )
    return amount
