"""Platform fees per merchant: the one lookup of a merchant's MerchantFee and the charge
it gives (docs/splits.md, "Fees"). Payments (wallets.services.payments) and invoices
(merchants.invoices) both charge through here, so a fee is the same whatever the path.

The arithmetic is wallets.splits.fee; this module adds the database and the domain error.
"""

from collections.abc import Iterable

from wallets.errors import FeeTooLarge
from wallets.models import MerchantFee
from wallets.splits import FeeExceedsAmount, FeeSchedule, fee

NO_FEE = FeeSchedule()


def fee_schedule_for(merchant_id: int, token_id: int) -> FeeSchedule:
    """The merchant's fee schedule in this token; no MerchantFee row: no fee."""
    row = MerchantFee.objects.filter(merchant_id=merchant_id, token_id=token_id).first()
    return NO_FEE if row is None else row.schedule


def fee_schedules_for(pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], FeeSchedule]:
    """(merchant id, token id) -> schedule for many pairs in one query (a batch of
    payments); pairs without a row map to the zero schedule."""
    wanted = set(pairs)
    if not wanted:
        return {}
    rows = MerchantFee.objects.filter(
        merchant_id__in={m for m, _ in wanted}, token_id__in={t for _, t in wanted}
    )
    found = {(r.merchant_id, r.token_id): r.schedule for r in rows}
    return {pair: found.get(pair, NO_FEE) for pair in wanted}


def fee_apply(amount: int, schedule: FeeSchedule, *, param: str = "amount") -> int:
    """The fee on ``amount`` ledger units under ``schedule``; FeeTooLarge (400
    fee_exceeds_amount, naming ``param``) when it would exceed the amount. A fee equal to
    the amount is allowed: the payee then receives nothing, the platform everything."""
    if schedule == NO_FEE:
        return 0
    try:
        return fee(amount, schedule)
    except FeeExceedsAmount as exc:
        raise FeeTooLarge(str(exc), param=param) from None


def fee_charge(amount: int, merchant_id: int, token_id: int, *, param: str = "amount") -> int:
    """The platform's fee on ``amount`` ledger units received by the merchant in this token
    (one query); raises FeeTooLarge."""
    return fee_apply(amount, fee_schedule_for(merchant_id, token_id), param=param)
