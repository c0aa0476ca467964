"""The "always paid" cover (docs/offline.md): a vendor accepted a registered voucher in
good faith (valid signatures, inside its window, synced within the grace period), yet the
voucher cannot pay it:

- ``voucher_taken``: settlement found the voucher's sequence 0 taken by another order (the
  payer went to the authorities before the vendor synced);
- ``double_spend``: the payer spent the voucher at two terminals; the first sync holds
  it, the second vendor's spend can never be certified.

The vendor did nothing wrong: the platform pays it from its own funds (RECEIVABLE), to
its online balance, and holds a claim on the payer (wallets.services.claims, reference
``redemption:<id>``, so once per redemption), recovered first from the collateral held for
that voucher (the payer's online money locked in their COLLATERAL account while the
voucher is outstanding: it cannot have been moved away), then from the payer's online
balance as far as it goes, then from their next defunds. The collateral bounds what the
platform can lose on a voucher (nothing, at the default 100%); the offline limits bound
the rest.

Covers up to FASTPAY_OFFLINE_AUTO_COVER_MAX_UNITS run at once (inside settlement for a
taken voucher, inside the vendor's sync for a double spend); larger ones wait FLAGGED with
that reason for an admin (action "Cover the vendor"; four eyes are not needed: the
evidence against the payer is already signed by the voucher key).
"""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from fastpay import locks
from fastpay.events import event_record
from offline import conf
from offline.errors import WrongState
from offline.models import Redemption, RedemptionState, Voucher
from offline.services.redemptions import redemption_payload
from wallets.services.claims import Cover, covers_post

COVERED = "covered"
#: the reasons a FLAGGED redemption can be covered for, and what its vendor is told
COVERABLE = {
    "voucher_taken": "paid to your online balance by the platform: the payer took the voucher "
    "back before your sync",
    "double_spend": "paid to your online balance by the platform: the payer spent this voucher "
    "twice",
}
COVERED_DETAIL = COVERABLE["voucher_taken"]
_MEMO = {
    "voucher_taken": "voucher {} taken back before the vendor synced",
    "double_spend": "voucher {} spent twice; this vendor's spend covered",
}


def auto_coverable(redemption: Redemption) -> bool:
    return redemption.amount <= conf.auto_cover_max_units()


def redemptions_cover(
    redemptions: list[Redemption], *, by=None, reason: str = "voucher_taken"
) -> list[Redemption]:
    """Inside the caller's transaction, which holds these redemptions FLAGGED ``reason``
    (one of COVERABLE; its compare-and-set wrote them or it locked them): each becomes
    SETTLED ``covered``, its vendor is paid and its payer owes the platform. Returns the
    redemptions covered (a row another run already moved is skipped: covered once).

    Each cover is backed first by its voucher's collateral still held: the vouchers are
    locked (pk order, before the ledger accounts, as every voucher use case does) and
    their ``collateral_held`` read under the lock and lowered by what the cover takes."""
    if not redemptions:
        return []
    detail = COVERABLE[reason]
    now = timezone.now()
    vouchers = {
        v.pk: v
        for v in locks.rows_locked(
            Voucher.objects.filter(pk__in={r.voucher_id for r in redemptions})
        )
    }
    covered = [
        r
        for r in redemptions
        if Redemption.objects.filter(pk=r.pk, state=RedemptionState.FLAGGED, reason=reason).update(
            state=RedemptionState.SETTLED,
            reason=COVERED,
            detail=detail,
            settled_at=now,
            updated_at=now,
        )
    ]
    backing = _collateral_take(covered, vouchers)
    covers_post(
        [
            Cover(
                debtor=r.voucher.user,
                payee=r.vendor,
                token=r.voucher.token,
                amount=r.amount,
                reference=f"redemption:{r.pk}",
                memo=_MEMO[reason].format(r.voucher_address),
                collateral=backing[r.pk],
            )
            for r in covered
        ],
        created_by=by,
    )
    for r in covered:
        r.state, r.reason, r.detail, r.settled_at = RedemptionState.SETTLED, COVERED, detail, now
    return covered


def _collateral_take(covered: list[Redemption], vouchers: dict) -> dict:
    """Redemption id -> the units of its voucher's collateral that back its cover (in
    order: a second cover of one voucher gets what the first left); the vouchers'
    ``collateral_held`` is lowered by as much (compare-and-set: the caller holds the
    vouchers' locks, so the check only guards the constraint)."""
    left = {pk: v.collateral_held for pk, v in vouchers.items()}
    backing = {}
    for r in covered:
        take = min(r.amount, left.get(r.voucher_id, 0))
        left[r.voucher_id] = left.get(r.voucher_id, 0) - take
        backing[r.pk] = take
    for pk, voucher in vouchers.items():
        used = voucher.collateral_held - left[pk]
        if used:
            changed = Voucher.objects.filter(pk=pk, collateral_held__gte=used).update(
                collateral_held=F("collateral_held") - used
            )
            if changed != 1:
                raise RuntimeError(f"voucher {pk}: collateral changed under its lock")
    return backing


def redemption_cover(*, redemption: Redemption, by=None) -> Redemption:
    """Admin: cover a FLAGGED ``voucher_taken`` or ``double_spend`` redemption (above the
    automatic limit)."""
    with transaction.atomic():
        locked = (
            locks.for_update(Redemption.objects, of=("self",))
            .select_related("voucher__user", "voucher__token", "vendor")
            .get(pk=redemption.pk)
        )
        if locked.state != RedemptionState.FLAGGED or locked.reason not in COVERABLE:
            raise WrongState(
                "only a redemption flagged voucher_taken or double_spend can be covered"
            )
        redemptions_cover([locked], by=by, reason=locked.reason)
        event_record(
            topic="offline.redemption_settled",
            aggregate_type="redemption",
            aggregate_id=locked.pk,
            payload=redemption_payload(locked),
        )
    return locked
