"""Operator credits and debits of a user's balance against CUSTODY.

The chain watcher will credit deposits through this same service. CUSTODY is minus what
the platform holds on-chain, so a credit of X moves CUSTODY down by X.
"""

from django.db import transaction

from fastpay.errors import DomainError, IdempotencyError
from fastpay.events import event_record
from fastpay.money import format_units
from wallets.errors import NotAnOperator, ReasonRequired
from wallets.models import AccountKind, EntryKind, JournalEntry, Token, User
from wallets.services.ledger import Line, ledger_post, system_account, user_account

OPERATOR_PERMISSION = "wallets.adjust_balance"


def operator_and_reason_check(operator: User | None, reason: str) -> None:
    """What every operator money move needs: the wallets.adjust_balance permission
    (``operator=None`` is the system itself) and a reason."""
    if operator is not None and not operator.has_perm(OPERATOR_PERMISSION):
        raise NotAnOperator()
    if not reason or not reason.strip():
        raise ReasonRequired(param="reason")


def ledger_adjust(
    *,
    user: User,
    token: Token,
    amount: int,
    reason: str,
    operator: User | None,
    idempotency_key: str,
) -> JournalEntry:
    """Credit (amount > 0) or debit (amount < 0) the user's AVAILABLE account against
    CUSTODY, once per idempotency key. `operator=None` is the system itself (chain watcher,
    demo seeding); a person must hold the wallets.adjust_balance permission."""
    operator_and_reason_check(operator, reason)
    if not isinstance(amount, int) or amount == 0:
        raise DomainError(
            "the amount must be a non-zero number of ledger units",
            param="amount",
            code="invalid_amount",
        )
    if not idempotency_key:
        raise DomainError(
            "an idempotency key is required",
            param="idempotency_key",
            code="idempotency_key_required",
        )
    with transaction.atomic():
        existing = JournalEntry.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            _same_adjustment_or_raise(existing, user=user, token=token, amount=amount)
            return existing
        account = user_account(user, token, AccountKind.AVAILABLE)
        custody = system_account(token, AccountKind.CUSTODY)
        entry = ledger_post(
            kind=EntryKind.ADJUSTMENT,
            reference=f"user:{user.pk}",
            lines=[Line(account, amount), Line(custody, -amount)],
            memo=reason.strip()[:255],
            idempotency_key=idempotency_key,
            created_by=operator,
        )
        event_record(
            topic="ledger.adjusted",
            aggregate_type="journal_entry",
            aggregate_id=entry.pk,
            payload={
                "entry_id": entry.pk,
                "user_id": user.pk,
                "user": user.username,
                "token": token.symbol,
                "amount_units": amount,
                "amount": format_units(amount, token.ledger_decimals),
                "reason": reason.strip(),
                "operator": operator.username if operator else None,
                "state": "posted",
            },
        )
    return entry


def _same_adjustment_or_raise(entry: JournalEntry, *, user, token, amount) -> None:
    postings = {
        (p.account.owner_id, p.account.token_id, p.amount)
        for p in entry.postings.select_related("account")
    }
    if entry.kind != EntryKind.ADJUSTMENT or (user.pk, token.pk, amount) not in postings:
        raise IdempotencyError(
            "this idempotency key was used for a different adjustment", param="idempotency_key"
        )
