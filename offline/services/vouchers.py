"""Voucher registration (the issue step the platform sees), limits and expiry.

The payer's device certifies the voucher itself (its FastPay key never leaves it), then
registers the certificate here: the platform checks the limits and that the voucher
account is fresh and funded at the committee, and signs the *ticket* over the voucher and
its validity window. Terminals refuse vouchers without a valid ticket, so the limits hold
for every voucher a vendor can accept.

Collateral: registering a voucher holds a share of its value (``conf.collateral_pct`` of
the payer's verification tier) of the payer's online AVAILABLE balance in their
COLLATERAL ledger account, in the registration's transaction (entry ``offline_hold``); a
cover of the voucher is recovered from it first (offline.services.cover); it goes back
(``offline_release``, open claims of the payer repaid from it first) once the voucher is
closed: past its window, the grace period and a margin, with no redemption of it still
open. Locks: the payer's OfflineLimit row, then the voucher row, then the ledger accounts
(``accounts_lock``: pk order).
"""

import logging
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, Sum
from django.utils import timezone

from authorities.gateway import gateway
from fastpay.events import event_record
from fastpay.locks import for_update
from fastpay.money import format_units
from fastpay_protocol.messages import Certificate, InvalidCertificate, MessageError
from fastpay_protocol.voucher import order_ticket_digest
from offline import committee as offline_committee
from offline import conf
from offline.errors import (
    CollateralInsufficient,
    EpochEnding,
    InvalidVoucher,
    LimitExceeded,
    NoFastPayAccount,
    OfflineSuspended,
    PlatformNotConfigured,
    VoucherConflict,
    VoucherNotFresh,
)
from offline.models import (
    FastPayAccount,
    OfflineLimit,
    Redemption,
    RedemptionState,
    Voucher,
    VoucherState,
)
from wallets.errors import AccountNotApproved, TokenDisabled
from wallets.models import AccountKind, EntryKind, Token, User
from wallets.services.claims import claims_recover_locked, recovery_accounts
from wallets.services.ledger import Line, accounts_lock, ledger_post, user_account

MIN_VALIDITY_S = 60
#: redemption states in which a voucher may still cost the platform a cover: its
#: collateral stays held while one of its redemptions is in one of them
OPEN_REDEMPTION_STATES = (
    RedemptionState.RECEIVED,
    RedemptionState.VALIDATED,
    RedemptionState.PENDING,
    RedemptionState.FLAGGED,
)

logger = logging.getLogger(__name__)


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
    collateral = collateral_required(user=user, amount=order.amount)
    _check_collateral(user_account(user, token).balance, collateral)  # early, without a lock
    now = timezone.now().replace(microsecond=0)
    not_before = now - timedelta(seconds=60)
    not_after = _not_after(now, validity_s, order.epoch)
    _check_fresh(parsed)  # HTTP: never inside the transaction
    try:
        voucher = _voucher_create(
            user, parsed, token, signer, not_before, not_after, collateral=collateral
        )
    except IntegrityError:  # the same voucher registered concurrently
        existing = Voucher.objects.filter(address=order.recipient).first()
        if existing is None or (existing.user_id, existing.sequence) != (user.pk, order.sequence):
            raise VoucherConflict(param="certificate") from None
        return existing
    return voucher


def collateral_required(*, user: User, amount: int) -> int:
    """Ledger units of online money a voucher of ``amount`` holds for ``user``: the tier's
    percent of it, rounded up (integers only)."""
    return -(-amount * conf.collateral_pct(_verification_tier(user)) // 100)


def _verification_tier(user: User) -> int:
    from fraud.models import RiskProfile, VerificationTier

    tier = RiskProfile.objects.filter(user=user).values_list("verification_tier", flat=True).first()
    return VerificationTier.BASIC if tier is None else tier


def _check_collateral(available: int, collateral: int) -> None:
    if available < collateral:
        raise CollateralInsufficient(
            f"this voucher holds {collateral} units of your online balance as collateral "
            f"while it is outstanding; {available} available",
            param="certificate",
        )


def _not_after(now: datetime, validity_s: int, epoch: int) -> datetime:
    """``now + validity_s``, capped so that the voucher settles in its own epoch: every
    spend synced by ``not_after`` + grace is certified before the next committee takes
    over (docs/epochs: no overlap). Raises EpochEnding when that leaves less than the
    minimum validity."""
    not_after = now + timedelta(seconds=validity_s)
    closes_at = epoch_closes_at(epoch)
    if closes_at is None:
        return not_after
    cap = datetime.fromtimestamp(closes_at - conf.grace_s(), UTC)
    if cap < now + timedelta(seconds=MIN_VALIDITY_S):
        raise EpochEnding(
            f"committee epoch {epoch} ends at {closes_at}: a voucher issued now could not "
            "settle in it; issue it in the next epoch",
            param="certificate",
        )
    return min(not_after, cap)


def epoch_closes_at(epoch: int) -> int | None:
    """Unix seconds at which ``epoch`` stops voting (the next epoch's activates_at), or
    None while no successor is announced. Read defensively from the platform's gateway
    (authorities.gateway, which follows the committee file or the chain): a
    ``closes_at(epoch)`` method, else a ``schedule`` with ``closes_at``
    (fastpay_protocol.handoff.Schedule), else the known committees' ``activates_at``."""
    gw = gateway()
    for owner in (gw, getattr(gw, "schedule", None)):
        closes_at = getattr(owner, "closes_at", None)
        if callable(closes_at):
            try:
                value = closes_at(epoch)
            except (KeyError, LookupError, ValueError):
                value = None
            return None if value is None else int(value)
    later = [
        getattr(c, "activates_at", None)
        for e, c in getattr(gw, "committees", {}).items()
        if e == epoch + 1
    ]
    return int(later[0]) if later and later[0] is not None else None


def _voucher_create(
    user, parsed, token, signer, not_before, not_after, *, collateral: int
) -> Voucher:
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
            collateral=collateral,
            collateral_held=collateral,
        )
        if collateral:
            _collateral_hold(voucher)
        event_record(
            topic="offline.voucher_issued",
            aggregate_type="voucher",
            aggregate_id=voucher.pk,
            payload=voucher_payload(voucher),
        )
    return voucher


def _collateral_hold(voucher: Voucher) -> None:
    """AVAILABLE -> COLLATERAL for the new voucher, inside the registration's transaction
    (which holds the payer's OfflineLimit lock: two registrations cannot both spend one
    balance). CollateralInsufficient rolls the registration back."""
    available = user_account(voucher.user, voucher.token)
    held = user_account(voucher.user, voucher.token, AccountKind.COLLATERAL)
    locked = accounts_lock([available.id, held.id])
    _check_collateral(locked[available.id].balance, voucher.collateral)
    ledger_post(
        kind=EntryKind.OFFLINE_HOLD,
        reference=f"voucher:{voucher.pk}",
        lines=[Line(available, -voucher.collateral), Line(held, voucher.collateral)],
        memo=f"collateral for voucher {voucher.address}",
        idempotency_key=f"collateral_hold:{voucher.address}",
        locked=locked,
    )


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
                payload={
                    "user_id": user.pk,
                    "reason": limit.suspended_reason,
                    "state": "suspended",
                },
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
    vouchers_collateral_release(now=now)
    return expired


def vouchers_collateral_release(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Beat (run by ``vouchers_expire``): give back the collateral of closed vouchers.
    A voucher is closed once no vendor can sync a spend of it any more (``not_after`` +
    grace, plus ``conf.collateral_release_margin_s`` for a sync that passed that check just
    before) and none of its redemptions is still open (PENDING, or FLAGGED for an admin:
    it may still end in a cover). COLLATERAL -> AVAILABLE, then the payer's open claims in
    that token are repaid from it. One transaction per voucher. Returns how many were
    released."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=conf.grace_s() + conf.collateral_release_margin_s())
    open_redemptions = Redemption.objects.filter(
        voucher=OuterRef("pk"), state__in=OPEN_REDEMPTION_STATES
    )
    due = (
        Voucher.objects.filter(collateral_held__gt=0, not_after__lt=cutoff)
        .filter(~Exists(open_redemptions))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(_collateral_release(pk, cutoff, now) for pk in list(due))


def _collateral_release(pk, cutoff: datetime, now: datetime) -> int:
    with transaction.atomic():
        voucher = (
            for_update(Voucher.objects)
            .filter(pk=pk, collateral_held__gt=0, not_after__lt=cutoff)
            .select_related("user", "token")
            .first()
        )
        if voucher is None or voucher.redemptions.filter(state__in=OPEN_REDEMPTION_STATES).exists():
            return 0
        user, token, amount = voucher.user, voucher.token, voucher.collateral_held
        available = user_account(user, token)
        held = user_account(user, token, AccountKind.COLLATERAL)
        locked = accounts_lock(
            [available.id, held.id, *(a.id for a in recovery_accounts(user, token))]
        )
        ledger_post(
            kind=EntryKind.OFFLINE_RELEASE,
            reference=f"voucher:{voucher.pk}",
            lines=[Line(held, -amount), Line(available, amount)],
            memo=f"voucher {voucher.address} closed",
            idempotency_key=f"collateral_release:{voucher.address}",
            locked=locked,
        )
        Voucher.objects.filter(pk=voucher.pk).update(collateral_held=0, collateral_released_at=now)
        recovered = claims_recover_locked(user=user, token=token, locked=locked)
        event_record(
            topic="offline.collateral_released",
            aggregate_type="voucher",
            aggregate_id=voucher.pk,
            payload={
                **voucher_payload(voucher),
                "released_units": amount,
                "released": format_units(amount, token.ledger_decimals),
                "claims_recovered_units": recovered,
            },
        )
    return 1


def collateral_drift() -> list[dict]:
    """(user, token) pairs whose COLLATERAL account does not equal the collateral their
    vouchers still hold: must be empty (tests, and an operator's check)."""
    from wallets.models import LedgerAccount

    held = {
        (row["user_id"], row["token_id"]): row["total"]
        for row in Voucher.objects.filter(collateral_held__gt=0)
        .values("user_id", "token_id")
        .annotate(total=Sum("collateral_held"))
    }
    accounts = {
        (a.owner_id, a.token_id): a.balance
        for a in LedgerAccount.objects.filter(kind=AccountKind.COLLATERAL).filter(
            ~Q(balance=0) | Q(owner_id__in={u for u, _ in held})
        )
    }
    return [
        {"user": user, "token": token, "account": accounts.get(key, 0), "held": held.get(key, 0)}
        for key in sorted(held.keys() | accounts.keys())
        for user, token in [key]
        if accounts.get(key, 0) != held.get(key, 0)
    ]


def _unix(value: datetime) -> int:
    return int(value.astimezone(UTC).timestamp())


def voucher_payload(voucher: Voucher) -> dict:
    return {
        "voucher_id": str(voucher.pk),
        "user_id": voucher.user_id,
        "address": voucher.address,
        "token": voucher.token.symbol,
        "amount_units": voucher.amount,
        "amount": format_units(voucher.amount, voucher.token.ledger_decimals),
        "not_before": _unix(voucher.not_before),
        "not_after": _unix(voucher.not_after),
        "state": voucher.state,
        "collateral_units": voucher.collateral,
        "collateral_held_units": voucher.collateral_held,
    }
