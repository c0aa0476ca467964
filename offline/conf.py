"""The offline app's settings, with their defaults (override in fastpay/settings.py or the
environment through it). Amounts are ledger units (6 decimals: 1 token = 1_000_000)."""

from django.conf import settings


def _get(name: str, default):
    return getattr(settings, name, default)


def grace_s() -> int:
    """After a voucher's window closes, vendors have this long to sync and still be paid;
    only then may the payer reclaim it."""
    return _get("FASTPAY_OFFLINE_GRACE_S", 3 * 24 * 3600)


def max_validity_s() -> int:
    return _get("FASTPAY_OFFLINE_MAX_VALIDITY_S", 7 * 24 * 3600)


def default_limits() -> dict:
    """Limits of a user without their own OfflineLimit row."""
    return {
        "max_outstanding": _get("FASTPAY_OFFLINE_MAX_OUTSTANDING_UNITS", 500_000_000),
        "max_per_voucher": _get("FASTPAY_OFFLINE_MAX_PER_VOUCHER_UNITS", 100_000_000),
        "max_vouchers_per_day": _get("FASTPAY_OFFLINE_MAX_VOUCHERS_PER_DAY", 20),
    }


def risk_assessor() -> str:
    return _get("FASTPAY_OFFLINE_RISK_ASSESSOR", "offline.risk.fraud_assess")


def settle_batch() -> int:
    return _get("FASTPAY_OFFLINE_SETTLE_BATCH", 1000)


def settle_chunk() -> int:
    """Settlement pipelines a run's redemptions in chunks of this many (certify the next
    chunk while confirming and recording this one). By default a run is one chunk: on a
    small host the authorities are the bottleneck and answering two batches at once costs
    them ~15% more CPU (bench/offline.py); the overlap pays when they have cores to spare."""
    return _get("FASTPAY_OFFLINE_SETTLE_CHUNK", 1000)


def auto_cover_max_units() -> int:
    """Settlement pays a vendor whose voucher the payer took back early up to this amount
    (ledger units) at once; a larger one waits for an admin."""
    return _get("FASTPAY_OFFLINE_AUTO_COVER_MAX_UNITS", 100_000_000)


def settle_retry_base_s() -> int:
    """A PENDING redemption the committee could not settle is tried again after this many
    seconds, doubling per attempt (with jitter) up to ``settle_retry_max_s``."""
    return _get("FASTPAY_OFFLINE_SETTLE_RETRY_BASE_S", 30)


def settle_retry_max_s() -> int:
    return _get("FASTPAY_OFFLINE_SETTLE_RETRY_MAX_S", 3600)


def settle_max_attempts() -> int:
    """After this many failed attempts (about three days at the defaults) a redemption is
    FLAGGED ``settlement_failed`` for an admin, with the last error, instead of retried."""
    return _get("FASTPAY_OFFLINE_SETTLE_MAX_ATTEMPTS", 100)


#: percent of a voucher's value held as collateral in the payer's online balance, by the
#: payer's verification tier (fraud.models.VerificationTier: 0 unverified, 1 basic, 2 full;
#: a user without a risk profile is tier 1). 100 backs every cover in full; a fully
#: verified payer may back half (the rest is recovered like any claim).
COLLATERAL_PCT_BY_TIER = {0: 100, 1: 100, 2: 50}


def collateral_pct(tier: int) -> int:
    """Percent (int 0..100) of a voucher's value held as collateral for a payer of
    ``tier``; an unknown tier holds the full value."""
    table = _get("FASTPAY_OFFLINE_COLLATERAL_PCT_BY_TIER", COLLATERAL_PCT_BY_TIER)
    pct = table.get(tier, table.get(str(tier), 100))
    if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
        raise ValueError(f"FASTPAY_OFFLINE_COLLATERAL_PCT_BY_TIER[{tier}]: an int 0..100")
    return pct


def collateral_release_margin_s() -> int:
    """A voucher's collateral is released this long after its window plus the grace
    period (no sync is accepted after window + grace; the margin lets a sync that passed
    that check just before the deadline commit first)."""
    return _get("FASTPAY_OFFLINE_COLLATERAL_RELEASE_MARGIN_S", 3600)


def sweep_margin_s() -> int:
    """Wallets sweep an unspent voucher only this long after ``not_after`` + grace (by the
    platform's clock where they can read it): clocks drift, and a vendor's sync that
    reached the platform just before the deadline must settle first."""
    return _get("FASTPAY_OFFLINE_SWEEP_MARGIN_S", 3600)
