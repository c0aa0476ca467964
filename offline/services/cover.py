"""The "always paid" cover (docs/offline.md): a vendor accepted a registered voucher
inside its window and synced in time, but settlement found the voucher's sequence 0 taken
by another order (the payer went to the authorities before the vendor synced). The
vendor did nothing wrong: the platform pays it from its own funds, to its online balance,
and holds a claim on the payer (wallets.services.claims), recovered from the payer's
online balance at once as far as it goes, then from their next defunds.

Covers up to FASTPAY_OFFLINE_AUTO_COVER_MAX_UNITS run inside settlement; larger ones wait
FLAGGED ``voucher_taken`` for an admin (action "Cover the vendor", four eyes are not
needed: the evidence against the payer is already signed by the voucher key).
"""

from django.db import transaction
from django.utils import timezone

from fastpay.events import event_record
from offline import conf
from offline.errors import WrongState
from offline.models import Redemption, RedemptionState
from offline.services.redemptions import redemption_payload
from wallets.services.claims import Cover, covers_post

COVERED = "covered"
COVERED_DETAIL = (
    "paid to your online balance by the platform: the payer took the voucher back before your sync"
)


def auto_coverable(redemption: Redemption) -> bool:
    return redemption.amount <= conf.auto_cover_max_units()


def redemptions_cover(redemptions: list[Redemption], *, by=None) -> list[Redemption]:
    """Inside the caller's transaction, which holds these redemptions FLAGGED
    ``voucher_taken`` (its compare-and-set wrote them or it locked them): each becomes
    SETTLED ``covered``, its vendor is paid and its payer owes the platform. Returns the
    redemptions covered (a row another run already moved is skipped)."""
    now = timezone.now()
    covered = [
        r
        for r in redemptions
        if Redemption.objects.filter(
            pk=r.pk, state=RedemptionState.FLAGGED, reason="voucher_taken"
        ).update(
            state=RedemptionState.SETTLED,
            reason=COVERED,
            detail=COVERED_DETAIL,
            settled_at=now,
            updated_at=now,
        )
    ]
    covers_post(
        [
            Cover(
                debtor=r.voucher.user,
                payee=r.vendor,
                token=r.voucher.token,
                amount=r.amount,
                reference=f"redemption:{r.pk}",
                memo=f"voucher {r.voucher_address} taken back before the vendor synced",
            )
            for r in covered
        ],
        created_by=by,
    )
    for r in covered:
        r.state, r.reason, r.detail, r.settled_at = (
            RedemptionState.SETTLED,
            COVERED,
            COVERED_DETAIL,
            now,
        )
    return covered


def redemption_cover(*, redemption: Redemption, by=None) -> Redemption:
    """Admin: cover a FLAGGED ``voucher_taken`` redemption (above the automatic limit)."""
    with transaction.atomic():
        locked = (
            Redemption.objects.select_for_update(no_key=True, of=("self",))
            .select_related("voucher__user", "voucher__token", "vendor")
            .get(pk=redemption.pk)
        )
        if (locked.state, locked.reason) != (RedemptionState.FLAGGED, "voucher_taken"):
            raise WrongState("only a redemption flagged voucher_taken can be covered")
        redemptions_cover([locked], by=by)
        event_record(
            topic="offline.redemption_settled",
            aggregate_type="redemption",
            aggregate_id=locked.pk,
            payload=redemption_payload(locked),
        )
    return locked
