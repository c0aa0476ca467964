"""The platform's FastPay accounts that FUND transfers are sent from (docs/offline.md,
"Moving money between online and offline").

Several accounts (FASTPAY_PLATFORM_ACCOUNTS, derived from the one platform key:
authorities.gateway.platform_account_key), so FUNDs do not queue behind one sequence and
one stuck order blocks only its own account. A FUND takes the usable account with the
fewest PENDING FUNDs (``platform_account_pick``), then locks that row alone to take its
next sequence.

A sequence is never reused: before an account reserves in a process, and every
FASTPAY_SEQUENCE_CHECK_S after, its ``next_sequence`` is compared with the committee's
(``platform_account_check``: the highest next sequence among the answers of a quorum, one
past a locked pending order). A database behind the committee (a restored backup) pauses
funding on that account (``funding_paused_at``, event ``offline.funding_paused``, ERROR
log) until an operator resumes it (``platform_account_resume``).

No function here runs inside a transaction when it talks to the committee.
"""

import logging
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from authorities.gateway import CommitteeUnavailable
from fastpay.errors import NotFound
from fastpay.events import event_record
from fastpay.locks import for_update
from offline.errors import FundingPaused, PlatformNotConfigured
from offline.models import OfflineTransfer, PlatformAccount, TransferDirection, TransferState

log = logging.getLogger(__name__)

#: FUND states that hold an account's next sequence until an operator acts: an account
#: with one takes no new FUND
BLOCKING_STATES = (TransferState.STUCK, TransferState.FAILED)

# address -> time.monotonic() of this process's last check that found the account in line
_checked: dict[str, float] = {}


def platform_accounts_ensure() -> list[PlatformAccount]:
    """The rows of the gateway's platform accounts (created on first use), by index."""
    addresses = _gateway().platform_addresses()
    if not addresses:
        raise PlatformNotConfigured()
    rows = {a.address: a for a in PlatformAccount.objects.filter(address__in=addresses)}
    for index, address in enumerate(addresses):
        row = rows.get(address)
        if row is None:
            try:
                with transaction.atomic():
                    rows[address] = PlatformAccount.objects.create(address=address, index=index)
            except IntegrityError:  # another process created it meanwhile
                rows[address] = PlatformAccount.objects.get(address=address)
        elif row.index is None:  # the row of the single account of old
            PlatformAccount.objects.filter(pk=row.pk, index__isnull=True).update(index=index)
            row.index = index
    return [rows[address] for address in addresses]


def platform_account_pick() -> PlatformAccount:
    """The account a new FUND goes out from: not paused, no STUCK or FAILED FUND, checked
    against the committee in this process (a due check runs now: HTTP), fewest PENDING
    FUNDs first. Raises FundingPaused when none is usable, CommitteeUnavailable when the
    first check of this process cannot reach a quorum."""
    accounts = platform_accounts_ensure()
    addresses = [a.address for a in accounts]
    funds = OfflineTransfer.objects.filter(direction=TransferDirection.FUND, sender__in=addresses)
    blocked = set(funds.filter(state__in=BLOCKING_STATES).values_list("sender", flat=True))
    pending = dict(
        funds.filter(state=TransferState.PENDING)
        .values_list("sender")
        .annotate(n=Count("pk"))
        .values_list("sender", "n")
    )
    usable = [a for a in accounts if a.funding_paused_at is None and a.address not in blocked]
    usable.sort(key=lambda a: (pending.get(a.address, 0), a.index or 0))
    unreachable = None
    for account in usable:
        try:
            account = _checked_account(account)
        except CommitteeUnavailable as exc:
            unreachable = exc
            continue
        if account.funding_paused_at is None:
            return account
    if unreachable is not None:
        raise unreachable
    raise FundingPaused()


def _checked_account(account: PlatformAccount) -> PlatformAccount:
    last = _checked.get(account.address)
    if last is not None and time.monotonic() - last < settings.FASTPAY_SEQUENCE_CHECK_S:
        return account
    try:
        return platform_account_check(account_id=account.pk)
    except CommitteeUnavailable:
        if last is None:
            raise  # never checked in this process: no reservation without it
        log.warning("sequence check of %s skipped: the committee is unreachable", account)
        return account


def committee_next_sequence(state: dict) -> int:
    """The account's next sequence at the committee from ``_gateway().account_state``'s
    answer: the highest among the authorities' answers (one past a pending order they
    hold locked), which must come from a quorum (CommitteeUnavailable otherwise)."""
    views = state.get("views")
    if views is None:  # a gateway that answers the decided view only
        views = {"": state}
    elif not _gateway().committee.has_quorum(views):
        raise CommitteeUnavailable("too few authorities answered to check the sequence")
    highest = 0
    for view in views.values():
        highest = max(highest, int(view["next_sequence"]))
        pending = view.get("pending")
        if pending:
            highest = max(highest, int(pending["order"]["sequence"]) + 1)
    return highest


def platform_account_check(*, account_id: int) -> PlatformAccount:
    """Compare the account's next sequence with the committee's (HTTP first, then a
    short transaction). Behind the committee: funding paused on the account. Raises
    CommitteeUnavailable when no quorum answers."""
    account = PlatformAccount.objects.filter(pk=account_id).first()
    if account is None:
        raise NotFound("no such platform account")
    # the committee first, then the row: the row only grows, so a reservation and its
    # certification between the two reads cannot look like a database behind
    committee_next = committee_next_sequence(_gateway().account_state(account.address))
    now = timezone.now()
    with transaction.atomic():
        row = for_update(PlatformAccount.objects).get(pk=account.pk)
        behind = row.next_sequence < committee_next
        if behind and row.funding_paused_at is None:
            reason = (
                f"the database's next sequence {row.next_sequence} is below the "
                f"committee's {committee_next} (a restored backup?): funding paused so no "
                "sequence is used twice"
            )
            PlatformAccount.objects.filter(pk=row.pk).update(
                funding_paused_at=now,
                paused_reason=reason,
                committee_sequence=committee_next,
                checked_at=now,
            )
            event_record(
                topic="offline.funding_paused",
                aggregate_type="platform_account",
                aggregate_id=row.address,
                payload={
                    "address": row.address,
                    "next_sequence": row.next_sequence,
                    "committee_sequence": committee_next,
                    "reason": reason,
                    "state": "paused",
                },
            )
            log.error("platform account %s: %s", row.address, reason)
        else:
            PlatformAccount.objects.filter(pk=row.pk).update(
                committee_sequence=committee_next, checked_at=now
            )
    if not behind:
        _checked[account.address] = time.monotonic()
    account.refresh_from_db()
    return account


def platform_accounts_check_due() -> dict[str, str]:
    """Beat: check every account whose check is due in this process; address -> "ok",
    "paused" or "unreachable"."""
    results = {}
    for account in platform_accounts_ensure():
        last = _checked.get(account.address)
        if last is not None and time.monotonic() - last < settings.FASTPAY_SEQUENCE_CHECK_S:
            continue
        try:
            checked = platform_account_check(account_id=account.pk)
        except CommitteeUnavailable:
            results[account.address] = "unreachable"
            continue
        results[account.address] = "paused" if checked.funding_paused_at else "ok"
    return results


def platform_account_resume(
    *, account_id: int, next_sequence: int | None = None
) -> PlatformAccount:
    """An operator resumes funding on a paused account, optionally moving its
    ``next_sequence`` up (never down) to where the committee is, once the FUNDs the
    restored database lost are accounted for. The next reservation checks it again."""
    with transaction.atomic():
        row = for_update(PlatformAccount.objects).filter(pk=account_id).first()
        if row is None:
            raise NotFound("no such platform account")
        target = row.next_sequence if next_sequence is None else next_sequence
        if target < row.next_sequence:
            raise FundingPaused(
                f"next_sequence only moves up (it is {row.next_sequence})", param="next_sequence"
            )
        PlatformAccount.objects.filter(pk=row.pk).update(
            next_sequence=target, funding_paused_at=None, paused_reason=""
        )
        event_record(
            topic="offline.funding_resumed",
            aggregate_type="platform_account",
            aggregate_id=row.address,
            payload={"address": row.address, "next_sequence": target, "state": "active"},
        )
    _checked.pop(row.address, None)  # checked again before its next reservation
    row.refresh_from_db()
    return row


def _gateway():
    """The gateway the transfers module uses (one place for tests to replace it)."""
    from offline.services import transfers

    return transfers.gateway()
