"""A merchant's withdrawal address allow-list: a new address is usable after the token
policy's cool-down (settlement.services.controls.allow_list_check)."""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from fastpay.errors import NotFound
from fastpay.events import event_record
from fastpay.locks import for_update
from settlement.destinations import destination_check
from settlement.errors import AddressAlreadyAllowed, WithdrawalsUnavailable
from settlement.models import AllowedAddress
from settlement.services import controls
from wallets.chain.models import Chain
from wallets.models import Token, User


def _cooldown_s(chain: Chain) -> int:
    """The longest cool-down of the chain's tokens' policies (one list serves them all)."""
    tokens = Token.objects.filter(chain_id=chain.chain_id)
    return max((controls.policy_for(t).merchant_cooldown_s for t in tokens), default=0)


def allowed_address_add(
    *, user: User, chain_id: int, address: str, label: str = ""
) -> AllowedAddress:
    chain = Chain.objects.filter(chain_id=chain_id, enabled=True).first()
    if chain is None:
        raise WithdrawalsUnavailable(f"chain {chain_id} is not configured", param="chain_id")
    address = destination_check(address, chain=chain, param="address")
    now = timezone.now()
    try:
        with transaction.atomic():
            entry = AllowedAddress.objects.create(
                user=user,
                chain=chain,
                address=address,
                label=label,
                created_at=now,
                usable_at=now + timedelta(seconds=_cooldown_s(chain)),
            )
            event_record(
                topic="withdrawal_address.added",
                aggregate_type="allowed_address",
                aggregate_id=entry.pk,
                payload=_payload(entry),
            )
    except IntegrityError:
        raise AddressAlreadyAllowed(param="address") from None
    return entry


def allowed_address_remove(*, user: User, address_id: int) -> AllowedAddress:
    with transaction.atomic():
        entry = (
            for_update(AllowedAddress.objects.select_related("chain"), of=("self",))
            .filter(user=user, pk=address_id, removed_at__isnull=True)
            .first()
        )
        if entry is None:
            raise NotFound("no such withdrawal address", param="address_id")
        entry.removed_at = timezone.now()
        entry.save(update_fields=["removed_at"])
        event_record(
            topic="withdrawal_address.removed",
            aggregate_type="allowed_address",
            aggregate_id=entry.pk,
            payload=_payload(entry),
        )
    return entry


def _payload(entry: AllowedAddress) -> dict:
    return {
        "address_id": entry.pk,
        "user_id": entry.user_id,
        "chain_id": entry.chain.chain_id,
        "address": entry.address,
        "label": entry.label,
        "usable_at": entry.usable_at.isoformat(),
        "state": "removed" if entry.removed_at else "added",
    }
