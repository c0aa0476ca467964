"""Moving money between a user's online balance (the ledger) and their FastPay account
(the committee): docs/architecture.md, section 5.

FUND: in one transaction the user's AVAILABLE moves to CLEARING and the next sequence of
one of the platform's FastPay accounts (offline.services.platform_accounts: the least
busy usable one, checked against the committee's sequence) is reserved for an order to
the user's address; after commit the order is certified and confirmed by the committee
(HTTP, never inside a transaction), always the very same payment, so the sequence lock on
the authorities is never violated. The order is certified in its own epoch; if that
epoch closed before it was, the same payment is re-signed for the active epoch at the
same sequence (the gateway's EpochClients) and the transfer records the epoch that
certified it. While no quorum answers, the transfer is retried with exponential backoff
(`attempts`, `next_attempt_at`, `last_error` on its row; beat runs
`offline_transfers_retry`), at most FASTPAY_FUND_MAX_ATTEMPTS times or
FASTPAY_FUND_MAX_AGE_S: then it is STUCK (ERROR log, event `offline.fund_stuck`) and an
operator retries it or voids it (offline.services.fund_void: the money goes back to the
user). A permanent refusal (the authorities refuse the order itself, or hold another one
for its sequence) stops it FAILED with the reason in `last_error`.

DEFUND: the user hands in a certificate from their address to the platform's; once it is
verified and confirmed, CLEARING moves to the user's AVAILABLE, exactly once per
(sender, sequence) — a unique constraint, not a check.
"""

import contextlib
import logging
import random
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import to_checksum_address

from authorities.gateway import CommitteeUnavailable, gateway
from fastpay.errors import IdempotencyError, NotFound
from fastpay.events import event_record
from fastpay.locks import for_update
from fastpay.money import format_units
from fastpay_protocol import handoff
from fastpay_protocol.committee_errors import ConflictingCertificate, ConflictingOrder, NoQuorum
from fastpay_protocol.messages import order_from_json
from fastpay_protocol.offline_api import link_message as protocol_link_message
from offline.errors import (
    AddressTaken,
    FundingPaused,
    InvalidCertificate,
    InvalidLink,
    NoFastPayAccount,
    PlatformNotConfigured,
)
from offline.models import (
    FastPayAccount,
    OfflineTransfer,
    PlatformAccount,
    TransferDirection,
    TransferState,
)
from wallets.errors import AccountNotApproved, TokenDisabled
from wallets.models import AccountKind, EntryKind, Token, User
from wallets.services.claims import claims_open_exist, claims_recover_locked, recovery_accounts
from wallets.services.ledger import (
    Line,
    accounts_lock,
    ledger_post,
    system_account,
    user_account,
)


def link_message(user: User, address: str) -> str:
    """The text a user signs (EIP-191 personal_sign) to prove they hold `address`'s key:
    the protocol's one definition, which `fastpay wallet link` signs."""
    return protocol_link_message(address, user.username)


def fastpay_account_link(*, user: User, address: str, signature: bytes) -> FastPayAccount:
    """Link the user's FastPay address, proven by a signature with its key."""
    try:
        address = to_checksum_address(address)
        signer = Account.recover_message(
            encode_defunct(text=link_message(user, address)), signature=signature
        )
    except Exception:  # malformed address or signature
        raise InvalidLink("the signature does not prove this address", param="signature") from None
    if signer != address:
        raise InvalidLink("the signature is not by this address's key", param="signature")
    try:
        with transaction.atomic():
            account, _ = FastPayAccount.objects.update_or_create(
                user=user, defaults={"address": address}
            )
    except IntegrityError:
        raise AddressTaken(param="address") from None
    return account


def fastpay_account_get(*, user: User) -> dict:
    """The user's FastPay address, the platform's (None without a configured committee
    and key), and the committee's view of the account (None when it cannot be reached: the
    platform's address, which a defund pays, does not depend on it). Raises
    NoFastPayAccount."""
    account = FastPayAccount.objects.filter(user=user).first()
    if account is None:
        raise NoFastPayAccount()
    try:
        client = gateway()
    except CommitteeUnavailable:
        return {"address": account.address, "platform_address": None, "state": None}
    try:
        state = client.account_state(account.address)
    except CommitteeUnavailable:
        state = None
    return {"address": account.address, "platform_address": client.platform_address, "state": state}


def platform_address() -> str:
    address = gateway().platform_address
    if address is None:
        raise PlatformNotConfigured()
    return address


def offline_fund(
    *, user: User, token: Token, amount: int, idempotency_key: str | None = None
) -> OfflineTransfer:
    """Reserve the money and the platform's next sequence; certification follows after
    commit (`offline_fund_process`)."""
    if not user.is_approved:
        raise AccountNotApproved()
    if not token.enabled:
        raise TokenDisabled(param="token")
    account = FastPayAccount.objects.filter(user=user).first()
    if account is None:
        raise NoFastPayAccount(param="address")
    previous = _fund_previous(user, idempotency_key, token, amount)
    if previous is not None:
        return previous
    try:
        return _fund_reserve(user, account, token, amount, idempotency_key)
    except IntegrityError:  # the same key, concurrently: the first one made the transfer
        previous = _fund_previous(user, idempotency_key, token, amount)
        if previous is None:
            raise
        return previous


def _fund_previous(user, idempotency_key, token, amount) -> OfflineTransfer | None:
    if not idempotency_key:
        return None
    previous = OfflineTransfer.objects.filter(user=user, idempotency_key=idempotency_key).first()
    if previous is not None and (previous.token_id, previous.amount) != (token.pk, amount):
        raise IdempotencyError(param="idempotency_key")
    return previous


def _fund_reserve(user, account, token, amount, idempotency_key) -> OfflineTransfer:
    from offline.services.platform_accounts import platform_account_pick

    chosen = platform_account_pick()  # outside the transaction: it may ask the committee
    epoch = gateway().epoch()
    with transaction.atomic():
        # The platform account's row lock serialises sequence assignment on it; taken
        # before the ledger accounts, like the payer's user row in payments.
        platform = for_update(PlatformAccount.objects).get(pk=chosen.pk)
        if platform.funding_paused_at is not None:  # paused since it was picked
            raise FundingPaused()
        ledger_post(
            kind=EntryKind.OFFLINE_FUND,
            reference=f"offline:{user.pk}",
            lines=[
                Line(user_account(user, token, AccountKind.AVAILABLE), -amount),
                Line(system_account(token, AccountKind.CLEARING), amount),
            ],
            created_by=user,
        )
        transfer = OfflineTransfer.objects.create(
            user=user,
            direction=TransferDirection.FUND,
            token=token,
            amount=amount,
            sender=platform.address,
            recipient=account.address,
            sequence=platform.next_sequence,
            epoch=epoch,
            idempotency_key=idempotency_key,
        )
        PlatformAccount.objects.filter(pk=platform.pk).update(
            next_sequence=platform.next_sequence + 1
        )
        event_record(
            topic="offline.fund_requested",
            aggregate_type="offline_transfer",
            aggregate_id=transfer.pk,
            payload=_payload(transfer),
        )
        transaction.on_commit(lambda: _enqueue(transfer.pk))
    return transfer


def _enqueue(transfer_id) -> None:
    from offline.tasks import offline_fund_task

    offline_fund_task.delay(str(transfer_id))


# FUND retries: 10 s, 20 s, 40 s ... capped at an hour, with up to 10% jitter so that
# transfers left by one outage do not all come back in the same second.
FUND_RETRY_BASE_S = 10
FUND_RETRY_MAX_S = 3600
# refusals of the order itself: the same order will never be certified (wrong_epoch is
# not: the gateway re-signs the payment for the active epoch, and a schedule not known
# yet is read again)
PERMANENT_CODES = frozenset({"invalid_signature", "invalid_request"})

log = logging.getLogger(__name__)


def fund_retry_delay(attempts: int) -> timedelta:
    """How long after its ``attempts``-th failed attempt a FUND transfer is tried again."""
    seconds = min(FUND_RETRY_MAX_S, FUND_RETRY_BASE_S * 2 ** min(attempts - 1, 20))
    return timedelta(seconds=seconds * (1 + random.random() / 10))  # noqa: S311 (jitter)


def _permanent_refusal(exc: CommitteeUnavailable) -> str | None:
    """The reason the committee will never certify this order, or None (try again)."""
    cause = exc.__cause__
    if isinstance(cause, ConflictingCertificate):
        return f"an authority applied another payment at this sequence: {cause}"
    if isinstance(cause, ConflictingOrder):
        return f"the authorities hold another order for this sequence: {cause}"
    if isinstance(cause, NoQuorum) and cause.failures:
        reasons = [(f.reason, f.code) for f in cause.failures.values()]
        if all(reason == "refused" and code in PERMANENT_CODES for reason, code in reasons):
            return f"the authorities refuse the order: {cause}"
    return None


def offline_fund_process(*, transfer_id) -> OfflineTransfer:
    """Certify and confirm every pending FUND transfer of the target's platform account up
    to this one, in sequence order (the authorities accept only the account's next
    sequence). When no quorum answers, the transfer that failed records the attempt and
    when to retry (STUCK past the retry budget), and CommitteeUnavailable is raised; a
    permanent refusal marks it FAILED (its reason in last_error) and stops there. A FUND
    the committee already applied (a crash before it was recorded) is recorded DONE with
    the committee's certificate. No transaction is held: this talks to the committee."""
    target = OfflineTransfer.objects.filter(pk=transfer_id).first()
    if target is None:
        raise NotFound("no such transfer")
    pending = (
        OfflineTransfer.objects.filter(
            direction=TransferDirection.FUND,
            state=TransferState.PENDING,
            sender=target.sender,
            sequence__lte=target.sequence,
        )
        .order_by("sequence")
        .select_related("token")
    )
    client = gateway()
    for transfer in pending:
        order = client.order(
            sender=transfer.sender,
            recipient=transfer.recipient,
            token=transfer.token.contract_address,
            amount=transfer.amount,
            sequence=transfer.sequence,
            epoch=transfer.epoch,
        )
        try:
            certificate = client.certify_and_confirm(order)
        except CommitteeUnavailable as exc:
            certificate = _already_applied(client, order, exc)
            if certificate is None:
                _fund_failed(transfer, exc)
                raise
        _fund_done(transfer.pk, certificate)
    target.refresh_from_db()
    return target


def _already_applied(client, order, exc: CommitteeUnavailable) -> dict | None:
    """The committee's certificate of this very payment when the authorities answer that
    its sequence is behind them (applied before this process recorded it), else None."""
    cause = exc.__cause__
    if not isinstance(cause, NoQuorum) or "sequence_mismatch" not in cause.codes():
        return None
    if not any(
        (f.extra or {}).get("next_sequence", 0) > order.sequence for f in cause.failures.values()
    ):
        return None
    try:
        applied = client.applied_certificate(order.sender, order.sequence)
    except CommitteeUnavailable:
        return None
    if applied is None or not handoff.same_payment(order_from_json(applied["order"]), order):
        return None
    return applied


def _fund_budget_spent(transfer: OfflineTransfer, attempts: int) -> bool:
    """Past FASTPAY_FUND_MAX_ATTEMPTS failed attempts or FASTPAY_FUND_MAX_AGE_S since it
    was made (or since an operator last retried it)."""
    since = transfer.retried_at or transfer.created_at
    age = (timezone.now() - since).total_seconds()
    return attempts >= settings.FASTPAY_FUND_MAX_ATTEMPTS or age >= settings.FASTPAY_FUND_MAX_AGE_S


def _fund_failed(transfer: OfflineTransfer, exc: CommitteeUnavailable) -> None:
    attempts = transfer.attempts + 1
    reason = _permanent_refusal(exc)
    stuck = reason is None and _fund_budget_spent(transfer, attempts)
    with transaction.atomic():
        pending = OfflineTransfer.objects.filter(pk=transfer.pk, state=TransferState.PENDING)
        if reason is None and not stuck:
            pending.update(
                attempts=attempts,
                last_error=str(exc)[:255],
                next_attempt_at=timezone.now() + fund_retry_delay(attempts),
            )
            return
        state = TransferState.STUCK if stuck else TransferState.FAILED
        last_error = (reason or f"retries exhausted after {attempts} attempts: {exc}")[:255]
        if pending.update(
            state=state, attempts=attempts, last_error=last_error, next_attempt_at=None
        ):
            transfer.refresh_from_db()
            topic = "offline.fund_stuck" if stuck else "offline.fund_failed"
            event_record(
                topic=topic,
                aggregate_type="offline_transfer",
                aggregate_id=transfer.pk,
                payload={**_payload(transfer), "reason": transfer.last_error},
            )
            log.error(
                "FUND %s (%s sequence %s) %s: %s; retry or void it (admin, or "
                "manage.py offline_fund_void)",
                transfer.pk,
                transfer.sender,
                transfer.sequence,
                state,
                transfer.last_error,
            )


def offline_transfers_retry(*, now=None) -> dict[str, int]:
    """Beat: certify the PENDING FUND transfers that are due (next_attempt_at passed, or
    never tried), per platform account in sequence order. Returns counts of the due
    transfers by the state they are in now. Safe to run twice at once: the authorities
    answer the same order with the same votes and completion is a compare-and-set."""
    now = now or timezone.now()
    _accounts_check()
    due = OfflineTransfer.objects.filter(
        direction=TransferDirection.FUND, state=TransferState.PENDING
    ).filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    ids = list(due.values_list("pk", flat=True))
    # the last due transfer of each sender: processing it does every earlier pending one
    last = {}
    for pk, sender in due.order_by("sequence").values_list("pk", "sender"):
        last[sender] = pk
    for transfer_id in last.values():
        try:
            offline_fund_process(transfer_id=transfer_id)
        except CommitteeUnavailable:
            continue  # recorded on the transfer that failed; retried when due
    return _state_counts(ids)


def _accounts_check() -> None:
    """Compare the platform accounts' sequences with the committee's when due."""
    from offline.services.platform_accounts import platform_accounts_check_due

    # nothing configured, or unreachable: retried at the next run
    with contextlib.suppress(CommitteeUnavailable, PlatformNotConfigured):
        platform_accounts_check_due()


def _state_counts(ids) -> dict[str, int]:
    counts = dict.fromkeys(TransferState.values, 0)
    for state in OfflineTransfer.objects.filter(pk__in=ids).values_list("state", flat=True):
        counts[state] += 1
    return counts


def offline_transfers_retry_now(*, ids) -> dict[str, int]:
    """Admin: retry these FUND transfers now, PENDING ones before their backoff is over,
    FAILED and STUCK ones again (after the cause was fixed; the retry budget starts
    again). Returns their counts by state after."""
    OfflineTransfer.objects.filter(
        pk__in=ids,
        direction=TransferDirection.FUND,
        state__in=[TransferState.PENDING, TransferState.FAILED, TransferState.STUCK],
    ).update(
        state=TransferState.PENDING, next_attempt_at=None, attempts=0, retried_at=timezone.now()
    )
    offline_transfers_retry()
    return _state_counts(ids)


def _fund_done(transfer_id, certificate: dict, *, states=(TransferState.PENDING,)) -> None:
    """Record the certificate (of this payment: its epoch may be a later one than the
    reservation's, re-signed after the first closed)."""
    with transaction.atomic():
        updated = OfflineTransfer.objects.filter(pk=transfer_id, state__in=states).update(
            state=TransferState.DONE,
            certificate=certificate,
            epoch=certificate["order"]["epoch"],
            last_error="",
            next_attempt_at=None,
        )
        if updated:
            transfer = OfflineTransfer.objects.get(pk=transfer_id)
            event_record(
                topic="offline.funded",
                aggregate_type="offline_transfer",
                aggregate_id=transfer.pk,
                payload=_payload(transfer),
            )


def offline_defund(*, user: User, certificate: dict) -> OfflineTransfer:
    """Credit the user's online balance for a certificate moving money from their FastPay
    address to the platform's. The same certificate twice credits once."""
    if not user.is_approved:
        raise AccountNotApproved()
    account = FastPayAccount.objects.filter(user=user).first()
    if account is None:
        raise NoFastPayAccount(param="certificate")
    client = gateway()
    try:
        order = client.verify(certificate)
    except ValueError as exc:
        raise InvalidCertificate(str(exc), param="certificate") from None
    if order.recipient != platform_address():
        raise InvalidCertificate("the recipient is not the platform", param="certificate")
    if order.sender != account.address:
        raise InvalidCertificate("the sender is not your FastPay address", param="certificate")
    token = Token.objects.filter(contract_address__iexact=order.token).first()
    if token is None:
        raise InvalidCertificate("unknown token", param="certificate")
    existing = OfflineTransfer.objects.filter(sender=order.sender, sequence=order.sequence).first()
    if existing is not None:
        return existing
    client.confirm(certificate)  # the authorities debit the user's FastPay balance
    try:
        with transaction.atomic():
            transfer = OfflineTransfer.objects.create(
                user=user,
                direction=TransferDirection.DEFUND,
                token=token,
                amount=order.amount,
                sender=order.sender,
                recipient=order.recipient,
                sequence=order.sequence,
                epoch=order.epoch,
                certificate=certificate,
                state=TransferState.DONE,
            )
            clearing = system_account(token, AccountKind.CLEARING)
            available = user_account(user, token, AccountKind.AVAILABLE)
            # a user who owes the platform (an offline cover) repays from this first
            owes = claims_open_exist(user, token)
            accounts = [clearing, available] + (recovery_accounts(user, token) if owes else [])
            locked = accounts_lock(account.id for account in accounts)
            ledger_post(
                kind=EntryKind.OFFLINE_DEFUND,
                reference=f"offline:{transfer.pk}",
                lines=[Line(clearing, -order.amount), Line(available, order.amount)],
                created_by=user,
                locked=locked,
            )
            if owes:
                claims_recover_locked(user=user, token=token, locked=locked)
            event_record(
                topic="offline.defunded",
                aggregate_type="offline_transfer",
                aggregate_id=transfer.pk,
                payload=_payload(transfer),
            )
    except IntegrityError:  # a concurrent defund of the same certificate won
        return OfflineTransfer.objects.get(sender=order.sender, sequence=order.sequence)
    return transfer


def _payload(transfer: OfflineTransfer) -> dict:
    return {
        "transfer_id": str(transfer.pk),
        "user_id": transfer.user_id,
        "direction": transfer.direction,
        "token": transfer.token.symbol,
        "amount_units": transfer.amount,
        "amount": format_units(transfer.amount, transfer.token.ledger_decimals),
        "sender": transfer.sender,
        "recipient": transfer.recipient,
        "sequence": transfer.sequence,
        "state": transfer.state,
    }
