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
certified it (offline.services.fund_certify, re-exported here). While no quorum answers,
the transfer is retried with exponential backoff (`attempts`, `next_attempt_at`,
`last_error` on its row; beat runs `offline_transfers_retry`), at most
FASTPAY_FUND_MAX_ATTEMPTS times or FASTPAY_FUND_MAX_AGE_S: then it is STUCK (ERROR log,
event `offline.fund_stuck`) and an operator retries it or voids it
(offline.services.fund_void: the money goes back to the user). A permanent refusal (the
authorities refuse the order itself, or hold another one for its sequence) stops it
FAILED with the reason in `last_error`.

DEFUND: the user hands in a certificate from their address to the platform's; once it is
verified and confirmed, CLEARING moves to the user's AVAILABLE, exactly once per
(sender, sequence) — a unique constraint, not a check.
"""

from django.db import IntegrityError, transaction
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import to_checksum_address

from authorities.gateway import CommitteeUnavailable, gateway
from fastpay.errors import IdempotencyError
from fastpay.events import event_record
from fastpay.locks import for_update
from fastpay.money import format_units
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


# the certification half, re-exported: tasks, admin and callers import it from here
from offline.services.fund_certify import (  # noqa: E402
    FUND_RETRY_BASE_S,
    FUND_RETRY_MAX_S,
    PERMANENT_CODES,
    _fund_done,
    fund_retry_delay,
    offline_fund_process,
    offline_transfers_retry,
    offline_transfers_retry_now,
)

__all__ = [
    "FUND_RETRY_BASE_S",
    "FUND_RETRY_MAX_S",
    "PERMANENT_CODES",
    "_fund_done",
    "fastpay_account_get",
    "fastpay_account_link",
    "fund_retry_delay",
    "link_message",
    "offline_defund",
    "offline_fund",
    "offline_fund_process",
    "offline_transfers_retry",
    "offline_transfers_retry_now",
    "platform_address",
]
