"""The handover feed a node serves (``GET /authority/v1/handover``): its applied
certificates, of every epoch, in its apply order, its pending (locked) orders, each with
its vote, and the locks it CARRIES (CarriedLock rows: other members' votes it read in its
own handovers), each with its original voter's vote. Pending orders of every epoch: a
member of both epochs may already have re-signed its epoch-e lock for e+1 (the same
payment, voted again); that vote is what stands for the epoch-e lock then, and a reader
must see it. Carried locks: a certificate a client kept back is known, after its voters
left, only as the locks the later members carry; a feed without them would let the next
committee certify another payment at that sequence.

FROZEN only once this node's own clock is past the epoch's close plus FREEZE_MARGIN_S
(by then it has stopped voting in that epoch: a vote decided just before the close has
committed, so its pending votes of that epoch can no longer change except into applied
certificates) AND, for a member of the epoch, once it completed its own handover of the
epoch before (handoff.serves_frozen with the HandedOver rows): until then it may lack the
locks carried from that epoch, and counted as a source it could hide them. A frozen read
serves the pending orders FIRST, then the carried locks, then the certificates to the
end: a vote certified between the reads is in the certificates, so nothing is missed.

Before the close a page is not frozen and holds certificates only (the pre-sync of new
members), each applied at least STABLE_S ago so that a resumed read misses no concurrent
commit; its cursor, given on a frozen request, starts the pending orders from the
beginning and resumes the certificates where the pre-sync stopped.

Cursor (opaque to clients): ``s.<cert>`` (pre-sync), ``p.<vote>.<cert>`` (pending phase),
``k.<carried>.<cert>`` (carried locks phase), ``c.<cert>`` (certificates phase); ids are
this node's row ids.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from authorities.node import errors
from authorities.node.models import Account, CarriedLock, Certificate
from authorities.node.runtime import node
from authorities.node.selectors import certificate_json
from authorities.node.services.handover_state import handed_over_epochs
from fastpay_protocol.handoff import serves_frozen
from fastpay_protocol.wire import HANDOVER_PAGE_MAX, checksum, render_order

FREEZE_MARGIN_S = 2
STABLE_S = 5

_CURSOR = re.compile(r"(?:s\.(\d{1,19})|([pk])\.(\d{1,19})\.(\d{1,19})|c\.(\d{1,19}))")


def _cursor(raw: str | None, frozen: bool) -> tuple[str, int, int]:
    """(phase, pending vote or carried lock id, certificate id) where reading resumes."""
    if raw is None:
        return ("p", 0, 0) if frozen else ("s", 0, 0)
    match = _CURSOR.fullmatch(raw)
    if match is None:
        raise errors.InvalidRequest("not a cursor this node gave", param="after")
    sync, phase, row, cert, certs_only = match.groups()
    if not frozen:
        return "s", 0, int(sync or cert or certs_only or 0)
    if sync is not None:
        return "p", 0, int(sync)
    if phase is not None:
        return phase, int(row), int(cert)
    return "c", 0, int(certs_only)


def handover_page(*, epoch: int, after: str | None, limit: int) -> dict:
    rt = node()
    if epoch not in rt.committees:
        raise errors.InvalidRequest(f"epoch {epoch} is unknown here", param="epoch")
    frozen = serves_frozen(
        rt.schedule,
        epoch,
        time.time() - FREEZE_MARGIN_S,
        handed_over_epochs(rt.schedule, epoch) if rt.is_member(epoch) else None,
    )
    phase, row_after, cert_after = _cursor(after, frozen)
    page = {"epoch": epoch, "frozen": frozen, "certificates": [], "pending": [], "next": None}
    if phase in ("p", "k"):
        entries = (_pending if phase == "p" else _carried)(row_after, limit)
        page["pending"] = [entry for _, entry in entries]
        if len(entries) == limit:
            page["next"] = f"{phase}.{entries[-1][0]}.{cert_after}"
        elif phase == "p":
            page["next"] = f"k.0.{cert_after}"
        else:
            page["next"] = f"c.{cert_after}"
        return page
    rows = Certificate.objects.filter(id__gt=cert_after).order_by("id")
    if phase == "s":
        rows = rows.filter(applied_at__lt=datetime.now(UTC) - timedelta(seconds=STABLE_S))
    rows = list(rows[:limit])
    page["certificates"] = [certificate_json(row) for row in rows]
    last = rows[-1].id if rows else cert_after
    if phase == "s":
        page["next"] = f"s.{last}"  # a pre-sync resumes from here (frozen or not)
    elif len(rows) == limit:
        page["next"] = f"c.{last}"
    return page


def _pending(vote_after: int, limit: int) -> list[tuple[int, dict]]:
    accounts = (
        Account.objects.filter(
            pending_vote__isnull=False,
            pending_vote_id__gt=vote_after,
        )
        .select_related("pending_vote")
        .order_by("pending_vote_id")[:limit]
    )
    me = checksum(node().address)
    return [
        (
            account.pending_vote_id,
            {
                "order": render_order(account.pending_vote),
                "signature": account.pending_vote.order_signature,
                "vote": {"authority": me, "signature": account.pending_vote.signature},
            },
        )
        for account in accounts
    ]


def _carried(carried_after: int, limit: int) -> list[tuple[int, dict]]:
    """The carried locks still open here (a sequence not certified yet), each with its
    original voter's vote: the reader verifies it against the order's epoch's committee
    like any pending entry."""
    rows = list(
        CarriedLock.objects.raw(
            "SELECT c.* FROM authority_node_carriedlock c LEFT JOIN authority_node_account a "
            "ON a.address = c.sender WHERE c.id > %s "
            "AND c.sequence >= COALESCE(a.next_sequence, 0) ORDER BY c.id LIMIT %s",
            [carried_after, limit],
        )
    )
    return [
        (
            row.id,
            {
                "order": render_order(row),  # a CarriedLock row has the order's fields
                "signature": row.order_signature,
                "vote": {"authority": checksum(row.voter), "signature": row.vote_signature},
            },
        )
        for row in rows
    ]


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return HANDOVER_PAGE_MAX
    if not raw.isdigit() or not 1 <= int(raw) <= HANDOVER_PAGE_MAX:
        raise errors.InvalidRequest(f"expected 1 to {HANDOVER_PAGE_MAX}", param="limit")
    return int(raw)
