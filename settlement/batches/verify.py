"""The chain against what settlement recorded (docs/settlement.md, "Reconciliation"):
every redemption recorded SETTLED, or SKIPPED as already redeemed, must be redeemed in
the processor's bitmap (``isRedeemed``); a REFUSED or PENDING one must not be (it would
have been paid without the platform knowing: settled by someone else, which is fine but
is reported so an operator sees it). Network I/O: outside any transaction."""

from __future__ import annotations

import logging

from settlement.batches import chainview, contract
from settlement.batches.models import ChainRedemption, RedemptionState
from wallets.chain.rpc import rpc_for

logger = logging.getLogger("settlement.batches")

MUST_BE_REDEEMED = (RedemptionState.SETTLED,)


def redemptions_verify(where: chainview.Target, *, limit: int = 10_000, rpc=None) -> list[str]:
    """Differences between the recorded states and the processor's bitmap (newest
    ``limit`` redemptions); an empty list when they agree. Logged at ERROR."""
    rpc = rpc or rpc_for(where.chain)
    problems = []
    rows = ChainRedemption.objects.filter(
        chain=where.chain, processor_address=where.processor
    ).order_by("-created_at")[:limit]
    for item in rows:
        redeemed = contract.decode_bool(
            rpc.call(contract.is_redeemed_call(where.processor, item.sender, item.sequence))
        )
        if item.state in MUST_BE_REDEEMED and not redeemed:
            problems.append(f"{item}: recorded settled, not redeemed on-chain")
        elif item.state == RedemptionState.SKIPPED:
            if item.reason == "SequenceAlreadyRedeemed" and not redeemed:
                problems.append(f"{item}: skipped as already redeemed, not redeemed on-chain")
        elif item.state in (RedemptionState.PENDING, RedemptionState.REFUSED) and redeemed:
            problems.append(f"{item}: redeemed on-chain outside the platform's batches")
    for problem in problems:
        logger.error("settlement check: %s", problem)
    return problems
