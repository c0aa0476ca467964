"""The handover feed a node serves (``GET /authority/v1/handover``): its applied
certificates, of every epoch, in its apply order, and its pending (locked) orders, each
with its vote. Pending orders of every epoch: a member of both epochs may already have
re-signed its epoch-e lock for e+1 (the same payment, voted again); that vote is what
stands for the epoch-e lock then, and a reader must see it.

FROZEN only once this node's own clock is past the epoch's close plus FREEZE_MARGIN_S:
by then it has stopped voting in that epoch (a vote decided just before the close has
committed), so its pending votes of that epoch can no longer change except into applied
certificates. A frozen read serves the pending orders FIRST, then the certificates to the
end: a vote certified between the two reads is in the certificates, so nothing is missed.

Before the close a page is not frozen and holds certificates only (the pre-sync of new
members), each applied at least STABLE_S ago so that a resumed read misses no concurrent
commit; its cursor, given on a frozen request, starts the pending orders from the
beginning and resumes the certificates where the pre-sync stopped.

Cursor (opaque to clients): ``s.<cert>`` (pre-sync), ``p.<vote>.<cert>`` (pending phase),
``c.<cert>`` (certificates phase); ids are this node's row ids.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from authorities.node import errors
from authorities.node.models import Account, Certificate
from authorities.node.runtime import node
from authorities.node.selectors import certificate_json
from fastpay_protocol.handoff import serves_frozen
from fastpay_protocol.wire import HANDOVER_PAGE_MAX, checksum, render_order

FREEZE_MARGIN_S = 2
STABLE_S = 5

_CURSOR = re.compile(r"(?:s\.(\d{1,19})|p\.(\d{1,19})\.(\d{1,19})|c\.(\d{1,19}))")


def _cursor(raw: str | None, frozen: bool) -> tuple[str, int, int]:
    """(phase, vote id, certificate id) where reading resumes."""
    if raw is None:
        return ("p", 0, 0) if frozen else ("s", 0, 0)
    match = _CURSOR.fullmatch(raw)
    if match is None:
        raise errors.InvalidRequest("not a cursor this node gave", param="after")
    sync, vote, cert, certs_only = match.groups()
    if not frozen:
        return "s", 0, int(sync or cert or certs_only or 0)
    if sync is not None:
        return "p", 0, int(sync)
    if vote is not None:
        return "p", int(vote), int(cert)
    return "c", 0, int(certs_only)


def handover_page(*, epoch: int, after: str | None, limit: int) -> dict:
    rt = node()
    if epoch not in rt.committees:
        raise errors.InvalidRequest(f"epoch {epoch} is unknown here", param="epoch")
    frozen = serves_frozen(rt.schedule, epoch, time.time() - FREEZE_MARGIN_S)
    phase, vote_after, cert_after = _cursor(after, frozen)
    page = {"epoch": epoch, "frozen": frozen, "certificates": [], "pending": [], "next": None}
    if phase == "p":
        pending = _pending(vote_after, limit)
        page["pending"] = [entry for _, entry in pending]
        if len(pending) == limit:
            page["next"] = f"p.{pending[-1][0]}.{cert_after}"
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


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return HANDOVER_PAGE_MAX
    if not raw.isdigit() or not 1 <= int(raw) <= HANDOVER_PAGE_MAX:
        raise errors.InvalidRequest(f"expected 1 to {HANDOVER_PAGE_MAX}", param="limit")
    return int(raw)
