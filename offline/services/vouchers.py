"""Voucher registration (the issue step the platform sees), limits and expiry.

The payer's device certifies the voucher itself (its FastPay key never leaves it), then
registers the certificate here: the platform checks the limits and that the voucher
account is fresh and funded at the committee, and signs the *ticket* over the voucher and
its validity window. Terminals refuse vouchers without a valid ticket, so the limits hold
for every voucher a vendor can accept.
"""

from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Sum
from django.utils import timezone

from authorities.gateway import gateway
from fastpay.events import event_record
from fastpay.locks import for_update
from fastpay_protocol.messages import Certificate, InvalidCertificate, MessageError
from fastpay_protocol.voucher import order_ticket_digest
from offline import committee as offline_committee
from offline import conf
from offline.errors import (
    InvalidVoucher,
    LimitExceeded,
    NoFastPayAccount,
    OfflineSuspended,
    PlatformNotConfigured,
    VoucherConflict,
    VoucherNotFresh,
)
from offline.models import FastPayAccount, OfflineLimit, Redemption, Voucher, VoucherState
from wallets.errors import AccountNotApproved, TokenDisabled
from wallets.models import Token, User

MIN_VALIDITY_S = 60


def offline_limit_get(*, user: User) -> OfflineLimit:
    limit = OfflineLimit.objects.filter(user=user).first()
    if limit is None:
        limit, _ = OfflineLimit.objects.get_or_create(user=user, defaults=conf.default_limits())
    return limit


def _lock_limit(user: User) -> OfflineLimit:
    limit = offline_limit_get(user=user)
    return for_update(OfflineLimit.objects).get(pk=limit.pk)


def _parse(certificate: dict) -> Certificate:
    try:
        parsed = Certificate.from_json(certificate, "certificate")
        parsed.verify(offline_committee.committee())
    except (MessageError, InvalidCertificate, ValueError) as exc:
        raise InvalidVoucher(str(exc), param="certificate") from None
    return parsed


def voucher_register(*, user: User, certificate: dict, validity_s: int) -> Voucher:
    """Register a voucher whose certificate the payer obtained; returns it with its
    ticket. Idempotent per voucher address (the same certificate returns the same
    voucher). Raises OfflineSuspended, InvalidVoucher, LimitExceeded, VoucherNotFresh."""
    if not user.is_approved:
        raise AccountNotApproved()
    account = FastPayAccount.objects.filter(user=user).first()
    if account is None:
        raise NoFastPayAccount(param="certificate")
    signer = offline_committee.issuer()
    if signer is None:
        raise PlatformNotConfigured()
    parsed = _parse(certificate)
    order = parsed.order
    if order.sender != account.address:
        raise InvalidVoucher("the payer is not your FastPay address", param="certificate")
    if (
        order.recipient in (account.address, signer.address)
        or FastPayAccount.objects.filter(address=order.recipient).exists()
    ):
        raise InvalidVoucher("the voucher address must be a fresh one", param="certificate")
    existing = Voucher.objects.filter(address=order.recipient).first()
    if existing is not None:
        if existing.user_id != user.pk or existing.sequence != order.sequence:
            raise VoucherConflict(param="certificate")
        return existing
    token = Token.objects.filter(contract_address__iexact=order.token).first()
    if token is None:
        raise InvalidVoucher("unknown token", param="certificate")
    if not token.enabled:
        raise TokenDisabled(param="certificate")
    if not MIN_VALIDITY_S <= validity_s <= conf.max_validity_s():
        raise InvalidVoucher(
            f"validity_s must be in [{MIN_VALIDITY_S}, {conf.max_validity_s()}]",
            param="validity_s",
        )
    _check_limits(offline_limit_get(user=user), user, order.amount)  # early, without a lock
    _check_fresh(parsed)  # HTTP: never inside the transaction
    now = timezone.now().replace(microsecond=0)
    not_before, not_after = now - timedelta(seconds=60), now + timedelta(seconds=validity_s)
    try:
        voucher = _voucher_create(user, parsed, token, signer, not_before, not_after)
    except IntegrityError:  # the same voucher registered concurrently
        existing = Voucher.objects.filter(address=order.recipient).first()
        if existing is None or (existing.user_id, existing.sequence) != (user.pk, order.sequence):
            raise VoucherConflict(param="certificate") from None
        return existing
    return voucher


def _voucher_create(user, parsed, token, signer, not_before, not_after) -> Voucher:
    order = parsed.order
    with transaction.atomic(durable=True):
        _check_limits(_lock_limit(user), user, order.amount)
        digest = order_ticket_digest(
            offline_committee.committee().domain,
            order,
            not_before=int(not_before.timestamp()),
            not_after=int(not_after.timestamp()),
        )
        voucher = Voucher.objects.create(
            user=user,
            address=order.recipient,
            payer=order.sender,
            token=token,
            amount=order.amount,
            sequence=order.sequence,
            epoch=order.epoch,
            certificate=parsed.to_json(),
            not_before=not_before,
            not_after=not_after,
            ticket="0x" + signer.sign_digest(digest).hex(),
        )
        event_record(
            topic="offline.voucher_issued",
            aggregate_type="voucher",
            aggregate_id=voucher.pk,
            payload=voucher_payload(voucher),
        )
    return voucher


def _check_limits(limit: OfflineLimit, user: User, amount: int) -> None:
    """Caller holds the OfflineLimit row lock for the authoritative check."""
    if limit.suspended_at is not None:
        raise OfflineSuspended(limit.suspended_reason or None)
    if amount > limit.max_per_voucher:
        raise LimitExceeded(
            f"a voucher may hold at most {limit.max_per_voucher} units",
            param="certificate",
            code="limit_per_voucher",
        )
    active = Voucher.objects.filter(user=user, state=VoucherState.ACTIVE)
    outstanding = active.aggregate(total=Sum("amount"))["total"] or 0
    if outstanding + amount > limit.max_outstanding:
        raise LimitExceeded(
            f"{outstanding} units outstanding in vouchers, limit {limit.max_outstanding}",
            param="certificate",
            code="limit_outstanding",
        )
    since = timezone.now() - timedelta(hours=24)
    if Voucher.objects.filter(user=user, created_at__gte=since).count() >= (
        limit.max_vouchers_per_day
    ):
        raise LimitExceeded(
            f"at most {limit.max_vouchers_per_day} vouchers per 24 hours",
            param="certificate",
            code="limit_per_day",
        )


def _check_fresh(certificate: Certificate) -> None:
    """Confirm the issue certificate (idempotent) and check that the voucher account holds
    the amount with its sequence 0 unused: otherwise the payer could have spent it before
    any vendor sees it."""
    order = certificate.order
    # CommitteeUnavailable (no quorum) is itself a 503 committee_unavailable.
    client = gateway()
    client.confirm(certificate.to_json())
    state = client.account_state(order.recipient)
    balance = int(state.get("balances", {}).get(order.token, 0))
    if state.get("next_sequence") != 0 or state.get("pending") or balance < order.amount:
        raise VoucherNotFresh(param="certificate")


def offline_suspend(*, user: User, reason: str) -> OfflineLimit:
    """Stop ``user`` from registering vouchers (double spend, admin decision)."""
    with transaction.atomic():
        limit = _lock_limit(user)
        if limit.suspended_at is None:
            limit.suspended_at = timezone.now()
            limit.suspended_reason = reason[:255]
            limit.save(update_fields=["suspended_at", "suspended_reason", "updated_at"])
            event_record(
                topic="offline.payer_suspended",
                aggregate_type="user",
                aggregate_id=user.pk,
                payload={"user_id": user.pk, "reason": limit.suspended_reason},
            )
    return limit


def offline_unsuspend(*, limit: OfflineLimit) -> OfflineLimit:
    with transaction.atomic():
        OfflineLimit.objects.filter(pk=limit.pk).update(suspended_at=None, suspended_reason="")
    limit.refresh_from_db()
    return limit


def vouchers_expire(*, now: datetime | None = None) -> int:
    """Beat: ACTIVE vouchers whose window plus the grace period is over and that no vendor
    redeemed become EXPIRED, and the payer is reminded (outbox) to reclaim them: only the
    payer's device holds the voucher key, so only it can sweep the money back."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=conf.grace_s())
    expired = 0
    # a redeemed voucher is not the payer's to reclaim: skipped here (so it cannot take the
    # 1000 slots of every run) and checked again under its lock
    candidates = Voucher.objects.filter(state=VoucherState.ACTIVE, not_after__lt=cutoff).filter(
        ~Exists(Redemption.objects.filter(voucher=OuterRef("pk")))
    )
    for pk in candidates.order_by("pk").values_list("pk", flat=True)[:1000]:
        with transaction.atomic():
            voucher = for_update(Voucher.objects).filter(pk=pk, state=VoucherState.ACTIVE).first()
            if voucher is None or Redemption.objects.filter(voucher=voucher).exists():
                continue
            voucher.state, voucher.reminded_at = VoucherState.EXPIRED, now
            voucher.save(update_fields=["state", "reminded_at"])
            event_record(
                topic="offline.voucher_reclaimable",
                aggregate_type="voucher",
                aggregate_id=voucher.pk,
                payload=voucher_payload(voucher),
            )
            expired += 1
    return expired


def _unix(value: datetime) -> int:
    return int(value.astimezone(UTC).timestamp())


def voucher_payload(voucher: Voucher) -> dict:
    return {
        "voucher_id": str(voucher.pk),
        "user_id": voucher.user_id,
        "address": voucher.address,
        "token": voucher.token.symbol,
        "amount_units": voucher.amount,
        "not_before": _unix(voucher.not_before),
        "not_after": _unix(voucher.not_after),
        "state": voucher.state,
    }
