"""The event catalogue: every outbox topic, who receives it, and its payload.

A topic's ``recipients(payload)`` names user ids and/or STAFF; the dispatcher numbers one
RecipientEvent per recipient. ``version`` is the payload's version: a field is only ever
added within a version; removing or changing one is a new version (a new EventType entry
with the same name is not allowed, the version number goes up and the docs say what
changed). docs/events.md is rendered from here (``catalogue_markdown``); a test walks the
outbox writers' call sites so an uncatalogued topic fails CI.

Amounts are integer ledger units (``*_units``) plus the same amount as a decimal string
in token units (``amount``), never a float.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

STAFF = "staff"

PEG_FIELDS = {
    "token": "the stablecoin (USDT, USDC)",
    "rate": "its USD price seen (decimal text)",
    "deviation_bps": "how far from 1 USD, in basis points",
    "pause_bps": "the pause limit",
    "resume_bps": "the resume band",
    "state": "paused | ok",
}
PEG_EXAMPLE = {"token": "USDT", "pause_bps": 200, "resume_bps": 100}

HOLD_FIELDS = {
    "hold_id": "the hold (GET /api/v1/holds/{id}/)",
    "kind": "authorization | marketplace",
    "payer_id": "who reserved the money",
    "payee_id": "who may receive it",
    "token": "the token symbol",
    "amount": "the amount held (decimal string)",
    "amount_units": "the same in ledger units",
    "posted_amount": "paid to the payee (decimal string; 0 unless posted)",
    "posted_amount_units": "the same in ledger units",
    "expires_at": "the deadline (ISO 8601)",
    "state": "pending | disputed | posted | voided | expired",
}
HOLD_EXAMPLE = {
    "hold_id": "5b0b9c34-0d3e-4a35-9a8e-6f1f7d8f2a11",
    "kind": "authorization",
    "payer_id": 17,
    "payee_id": 42,
    "token": "USDT",
    "amount": "25.000000",
    "amount_units": 25000000,
    "posted_amount": "0.000000",
    "posted_amount_units": 0,
    "expires_at": "2026-12-09T10:00:00+00:00",
}

CHAIN_TX_FIELDS = {
    "tx_id": "the outgoing transaction (admin: Outgoing transactions)",
    "chain_id": "the chain",
    "purpose": "gas_topup | sweep | withdrawal | payout | refill | settlement | other",
    "reference": "what it is for, e.g. sweep:12 or withdrawal:<id>",
    "from_address": "the sending address",
    "to_address": "the address called or paid",
    "nonce": "its nonce",
    "tx_hash": "the mined hash, else the latest attempt's",
    "state": "broadcast | failed | dropped",
    "error": "the revert reason or why it was dropped",
}
CHAIN_TX_EXAMPLE = {
    "tx_id": 812,
    "chain_id": 56,
    "purpose": "withdrawal",
    "reference": "withdrawal:5f1c",
    "from_address": "0x8C8d35429F74ec245F8Ef2f4Fd1e551cFF97d650",
    "to_address": "0x71C7656EC7ab88b098defB751B7401B5f6d8976F",
    "nonce": 41,
    "tx_hash": "0x5c50...",
}

INVOICE_FIELDS = {
    "invoice_id": "the invoice (GET /api/v1/invoices/{id}/)",
    "merchant_id": "the merchant who issued it",
    "customer_id": "the buyer, when known (else null)",
    "status": "new | processing | settled | expired | invalid",
    "exception": "'' | paid_partial | paid_over | paid_late",
    "token": "the token symbol",
    "amount": "the amount due (decimal string)",
    "amount_units": "the same in ledger units",
    "currency": "the fiat currency it is priced in, or ''",
    "fiat_amount": "the fiat amount (decimal text), or ''",
    "rate": "1 token = rate currency, locked at creation (decimal text), or ''",
    "received_units": "booked for it so far (all paths), ledger units",
    "pending_units": "seen on-chain, not confirmed yet",
    "settled_units": "what the merchant's side got at settlement (before the fee)",
    "fee_units": "the platform's fee, credited to FEES",
    "returned_units": "credited or refunded back",
    "refund_due_units": "returned to the merchant to refund an unknown on-chain sender by hand",
    "order_id": "the merchant's order id",
    "expires_at": "ISO 8601",
}
INVOICE_EXAMPLE = {
    "invoice_id": "0b6f5a7e-3c41-4a8e-9a55-2f1d2d7b9c10",
    "merchant_id": 42,
    "customer_id": None,
    "token": "USDT",
    "amount": "25.000000",
    "amount_units": 25000000,
    "currency": "EUR",
    "fiat_amount": "23.10",
    "rate": "0.924",
    "received_units": 0,
    "pending_units": 0,
    "settled_units": 0,
    "fee_units": 0,
    "returned_units": 0,
    "refund_due_units": 0,
    "order_id": "A-1001",
    "expires_at": "2026-12-09T10:15:00+00:00",
}

Recipients = Callable[[dict], Iterable[int | str]]


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    recipients: Recipients
    audience: str  # who, in words, for the docs
    fields: dict[str, str]
    example: dict
    version: int = 1
    webhook: bool = True  # may be sent to webhook endpoints (staff-only types are not)

    def recipients_of(self, payload: dict) -> list[int | str]:
        seen: list[int | str] = []
        for who in self.recipients(payload):
            if who is None or who in seen:
                continue
            seen.append(who if who == STAFF else int(who))
        return seen


def _keys(*names: str) -> Recipients:
    """Recipients: the user ids in these payload fields (lists too), in order."""

    def recipients(payload: dict):
        for name in names:
            value = payload.get(name)
            if isinstance(value, list):
                yield from value
            elif name == STAFF:
                yield STAFF
            elif value is not None:
                yield value

    return recipients


def _staff(payload: dict):
    yield STAFF


PAYMENT_FIELDS = {
    "payment_id": "uuid of the payment",
    "payer_id": "user id of the payer",
    "payer": "the payer's username",
    "payee_id": "user id of the payee",
    "payee": "the payee's username",
    "token": "token symbol (USDT, USDC)",
    "amount": "decimal string in token units",
    "amount_units": "integer ledger units (1 token = 10**6 units)",
    "refunded_units": "integer ledger units refunded so far",
    "fee_units": "the platform's fee, integer ledger units (credited to FEES in the payment's "
    "entry; the payees receive amount - fee; 0 on a failed payment)",
    "fee": "the fee as a decimal string in token units",
    "splits": "a split payment's parts, in order (empty: one payee): payee_id, payee, bps "
    "(null: a fixed part), gross_units (its part of the amount), fee_units (its fee), units "
    "and amount (credited to it), refunded_units (docs/splits.md)",
    "state": "pending | success | flagged | failed",
    "sequence": "the payer's payment sequence number",
}
PAYMENT_EXAMPLE = {
    "payment_id": "0b8f6c3e-9a51-4f0e-8a1c-5d2b7e9f1a20",
    "payer_id": 17,
    "payer": "alice",
    "payee_id": 42,
    "payee": "coffee_shop",
    "token": "USDT",
    "amount": "12.500000",
    "amount_units": 12500000,
    "refunded_units": 0,
    "fee_units": 0,
    "fee": "0.000000",
    "splits": [],
    "state": "success",
    "sequence": 7,
}
TRANSFER_FIELDS = {
    "transfer_id": "uuid of the offline transfer",
    "user_id": "the user whose FastPay address it is",
    "direction": "fund | defund",
    "token": "token symbol",
    "amount": "decimal string in token units",
    "amount_units": "integer ledger units",
    "sender": "FastPay address sending",
    "recipient": "FastPay address receiving",
    "sequence": "the sender's FastPay sequence",
    "state": "pending | done | failed",
}
TRANSFER_EXAMPLE = {
    "transfer_id": "3e0d8a52-1f7b-4c0e-9a4d-8f6b2c1e7d90",
    "user_id": 17,
    "direction": "fund",
    "token": "USDT",
    "amount": "50.000000",
    "amount_units": 50000000,
    "sender": "0x8ba1f109551bD432803012645Ac136ddd64DBA72",
    "recipient": "0x71C7656EC7ab88b098defB751B7401B5f6d8976F",
    "sequence": 3,
    "state": "pending",
}
VOUCHER_FIELDS = {
    "voucher_id": "uuid of the voucher",
    "user_id": "the payer who registered it",
    "address": "the voucher's FastPay address",
    "token": "token symbol",
    "amount": "decimal string in token units",
    "amount_units": "integer ledger units",
    "not_before": "unix seconds",
    "not_after": "unix seconds",
    "state": "active | redeemed | expired",
}
VOUCHER_EXAMPLE = {
    "voucher_id": "5a7d1c0e-2b3f-4e6a-9c8d-1f0e2d3c4b5a",
    "user_id": 17,
    "address": "0x2546BcD3c84621e976D8185a91A922aE77ECEc30",
    "token": "USDT",
    "amount": "20.000000",
    "amount_units": 20000000,
    "not_before": 1796083200,
    "not_after": 1796688000,
    "state": "active",
}
REDEMPTION_FIELDS = {
    "redemption_id": "uuid of the redemption",
    "vendor_id": "user id of the vendor who redeemed",
    "payer_id": "user id of the voucher's payer (null if the voucher is unknown)",
    "voucher": "the voucher's FastPay address",
    "token": "token symbol (null if the voucher is unknown)",
    "amount": "decimal string in token units (null if the voucher is unknown)",
    "amount_units": "integer ledger units",
    "state": "received | pending | settled | flagged | rejected",
    "reason": "why it is in that state (voucher_taken, double_spend, risk_review ...)",
}
REDEMPTION_EXAMPLE = {
    "redemption_id": "9c1e2d3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
    "vendor_id": 42,
    "payer_id": 17,
    "voucher": "0x2546BcD3c84621e976D8185a91A922aE77ECEc30",
    "token": "USDT",
    "amount": "20.000000",
    "amount_units": 20000000,
    "state": "settled",
    "reason": "",
}
CLAIM_FIELDS = {
    "reference": "the claim's reference",
    "user_id": "the debtor",
    "token": "token symbol",
    "amount": "decimal string: what the claim is for",
    "amount_units": "integer ledger units: what the claim is for",
    "outstanding_units": "integer ledger units still owed",
    "state": "open | closed",
}
CLAIM_EXAMPLE = {
    "reference": "cover:9c1e2d3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
    "user_id": 17,
    "token": "USDT",
    "amount": "20.000000",
    "amount_units": 20000000,
    "outstanding_units": 20000000,
    "state": "open",
}
USER_FIELDS = {
    "user_id": "the user",
    "status": "pending | approved | suspended",
    "by": "user id of the staff member (null: automatic)",
    "reason": "why (suspensions)",
}


def _user_status(status: str) -> dict:
    return {"user_id": 17, "status": status, "by": 1, "reason": ""}


REVIEW_FIELDS = {
    "review_id": "id of the review",
    "payment_id": "uuid of the payment under review",
    "state": "open | closed",
}
BREAKER_FIELDS = {
    "scope": "what is paused (global, token, payee ...)",
    "key": "which one",
    "state": "open (payments paused) | closed",
}


WITHDRAWAL_FIELDS = {
    "withdrawal_id": "uuid of the withdrawal",
    "user_id": "user id of the requester",
    "token": "token symbol (USDT, USDC)",
    "chain_id": "the chain it is paid on",
    "destination": "the EIP-55 address it goes to",
    "amount": "decimal string in token units sent to the destination",
    "amount_units": "integer ledger units sent to the destination",
    "fee_units": "integer ledger units charged on top (the flat withdrawal fee)",
    "revision": "goes up with every change of amount or destination",
    "required_approvals": "staff approvals it needs (0, 1, or 2: four eyes)",
    "unlock_at": "RFC 3339: not paid before (time-lock), or null",
    "tx_hash": "the transfer's transaction hash once signed, or null",
    "reason": "user_cancelled | staff_cancelled | rejected | transaction_failed, or null",
    "note": "staff's note or the chain's revert reason, or null",
    "state": "awaiting_approval | awaiting_payment | in_progress | completed | cancelled | failed",
}
WITHDRAWAL_EXAMPLE = {
    "withdrawal_id": "5d1c7b9e-2f4a-4c8e-9b3d-6a7e8f9c0d12",
    "user_id": 17,
    "token": "USDT",
    "chain_id": 56,
    "destination": "0x8ba1f109551bD432803012645Ac136ddd64DBA72",
    "amount": "250.000000",
    "amount_units": 250000000,
    "fee_units": 500000,
    "revision": 1,
    "required_approvals": 0,
    "unlock_at": None,
    "tx_hash": None,
    "reason": None,
    "note": None,
    "state": "awaiting_payment",
}


PAYOUT_FIELDS = {
    "payout_id": "uuid of the payout",
    "user_id": "the merchant",
    "token": "token symbol (USDT, USDC)",
    "chain_id": "the chain it is paid on",
    "destination": "the merchant's allow-listed EIP-55 address",
    "gross": "decimal string: the sum of the ledger entries paid out",
    "fee": "decimal string: the payout fee taken from the gross",
    "amount": "decimal string in token units sent (gross - fee)",
    "amount_units": "integer ledger units sent",
    "entries": "how many ledger postings it pays out (GET /payouts/{id}/statement.csv)",
    "tx_hash": "the batch transaction's hash once signed, or null",
    "reason": "transaction_failed, or null",
    "note": "the chain's revert reason, or null",
    "state": "pending | in_progress | paid | failed",
}
PAYOUT_EXAMPLE = {
    "payout_id": "0b6f3c2a-8d4e-4f1a-9c7b-2e5d6f7a8b90",
    "user_id": 42,
    "token": "USDT",
    "chain_id": 56,
    "destination": "0x8ba1f109551bD432803012645Ac136ddd64DBA72",
    "gross": "1250.000000",
    "fee": "0.500000",
    "amount": "1249.500000",
    "amount_units": 1249500000,
    "entries": 37,
    "tx_hash": None,
    "reason": None,
    "note": None,
}


def _withdrawal_audience(payload: dict):
    """The requester; staff too while it waits for them."""
    yield payload.get("user_id")
    if payload.get("state") == "awaiting_approval":
        yield STAFF


DEPOSIT_FIELDS = {
    "deposit_id": "the deposit's id",
    "user_id": "user id of the deposit address's owner",
    "chain_id": "EVM chain id (56 BSC)",
    "token": "token symbol (USDT, USDC)",
    "address": "the deposit address (EIP-55)",
    "tx_hash": "the transaction's hash",
    "log_index": "the Transfer log's index in its block",
    "block_number": "the block it was seen in",
    "block_hash": "that block's hash",
    "amount": "decimal string in token units (what is or would be credited)",
    "amount_units": "integer ledger units (the on-chain amount rounded down)",
    "amount_onchain": "the exact on-chain amount, base units (decimal digits)",
    "dust_onchain": "base units below one ledger unit, never credited (decimal digits)",
    "confirmations": "blocks from its block to the head when this was recorded",
    "required": "confirmations required before the credit",
    "state": "seen | confirmed | dust | orphaned | reversed",
}
DEPOSIT_EXAMPLE = {
    "deposit_id": 981,
    "user_id": 17,
    "chain_id": 56,
    "token": "USDT",
    "address": "0x71C7656EC7ab88b098defB751B7401B5f6d8976F",
    "tx_hash": "0x3f1c...",
    "log_index": 4,
    "block_number": 41234567,
    "block_hash": "0x5c50...",
    "amount": "25.000000",
    "amount_units": 25000000,
    "amount_onchain": "25000000000000000000",
    "dust_onchain": "0",
    "required": 15,
}


CHAIN_REDEMPTION_FIELDS = {
    "id": "the redemption to the chain (GET /api/v1/chain-redemptions/{id}/)",
    "user_id": "the sender address's owner (null: not linked to a user)",
    "chain_id": "the chain",
    "processor": "the OfflinePaymentProcessor (the redemption address)",
    "sender": "the FastPay address redeemed from (and paid in the vault)",
    "sequence": "its sequence",
    "epoch": "the certificate's epoch",
    "token": "the token contract",
    "amount_units": "ledger units",
    "state": "pending | batched | settled | skipped | refused",
    "batch_id": "the processor's batch id (null: not in a batch)",
    "reason": "skipped: the contract's error (SequenceAlreadyRedeemed, ...); refused: ours",
    "reason_detail": "more on the reason",
    "tx_hash": "the settling transaction (null until settled)",
}
CHAIN_REDEMPTION_EXAMPLE = {
    "id": 12,
    "user_id": 42,
    "chain_id": 56,
    "processor": "0x8ba1f109551bD432803012645Ac136ddd64DBA72",
    "sender": "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4",
    "sequence": 3,
    "epoch": 4,
    "token": "0x55d398326f99059fF775485246999027B3197955",
    "amount_units": 25000000,
    "batch_id": None,
    "reason": "",
    "reason_detail": "",
    "tx_hash": None,
}
SETTLEMENT_BATCH_FIELDS = {
    "id": "the batch (admin: Settlement batches)",
    "chain_id": "the chain",
    "processor": "the OfflinePaymentProcessor",
    "batch_id": "the processor's batch id",
    "epoch": "the epoch whose committee signed it",
    "state": "signing | signed | submitted | confirmed | settled | failed",
    "items": "redemptions in it",
    "settled": "settled ones",
    "skipped": "ones the contract skipped",
    "tx_hash": "the settling transaction (null until settled)",
    "error": "the last failure",
}
SETTLEMENT_BATCH_EXAMPLE = {
    "id": 3,
    "chain_id": 56,
    "processor": "0x8ba1f109551bD432803012645Ac136ddd64DBA72",
    "batch_id": 17,
    "epoch": 4,
    "items": 120,
    "settled": 0,
    "skipped": 0,
    "tx_hash": None,
    "error": "",
}


def _types() -> list[EventType]:
    t = EventType
    payment_both = _keys("payer_id", "payee_id")
    return [
        # ---------------------------------------------------------------- payments
        t(
            "payment.succeeded",
            "An online payment moved the money from payer to payee.",
            payment_both,
            "payer, payee (merchant or vendor)",
            PAYMENT_FIELDS,
            PAYMENT_EXAMPLE,
        ),
        t(
            "payment.failed",
            "A payment was refused (blocked by a rule or a circuit breaker).",
            _keys("payer_id"),
            "payer",
            PAYMENT_FIELDS,
            {**PAYMENT_EXAMPLE, "state": "failed"},
        ),
        t(
            "payment.flagged",
            "A payment is held for review; the money is held on the payer's account.",
            _keys("payer_id"),
            "payer (staff get review.opened)",
            PAYMENT_FIELDS,
            {**PAYMENT_EXAMPLE, "state": "flagged"},
        ),
        t(
            "payment.approved",
            "A reviewer approved a flagged payment: it succeeded.",
            payment_both,
            "payer, payee",
            PAYMENT_FIELDS,
            PAYMENT_EXAMPLE,
        ),
        t(
            "payment.rejected",
            "A reviewer rejected a flagged payment: the held money went back to the payer.",
            _keys("payer_id"),
            "payer",
            PAYMENT_FIELDS,
            {**PAYMENT_EXAMPLE, "state": "failed"},
        ),
        t(
            "payment.refunded",
            "The payee (or staff) refunded all or part of a payment.",
            payment_both,
            "payer, payee",
            {
                **PAYMENT_FIELDS,
                "refund_id": "uuid of the refund",
                "refund_units": "integer ledger units of this refund",
                "refund_amount": "decimal string of this refund",
            },
            {
                **PAYMENT_EXAMPLE,
                "refunded_units": 2500000,
                "refund_id": "7f3e2d1c-0b9a-4876-9543-210fedcba987",
                "refund_units": 2500000,
                "refund_amount": "2.500000",
            },
        ),
        t(
            "ledger.adjusted",
            "An operator credited or debited a user's balance (a manual adjustment).",
            _keys("user_id", STAFF),
            "the user, staff",
            {
                "entry_id": "id of the journal entry",
                "user_id": "the user",
                "user": "the user's username",
                "token": "token symbol",
                "amount": "decimal string (negative: a debit)",
                "amount_units": "integer ledger units",
                "reason": "the operator's reason",
                "operator": "the operator's username (null: a script)",
                "state": "posted",
            },
            {
                "entry_id": 311,
                "user_id": 17,
                "user": "alice",
                "token": "USDT",
                "amount": "100.000000",
                "amount_units": 100000000,
                "reason": "deposit tx 0xabc",
                "operator": "ops",
                "state": "posted",
            },
        ),
        # ---------------------------------------------------------------- deposits
        t(
            "deposit.seen",
            "A transfer to the user's deposit address was seen on chain; it is credited "
            "after `required` confirmations (docs/deposits.md).",
            _keys("user_id"),
            "the address's owner",
            DEPOSIT_FIELDS,
            {**DEPOSIT_EXAMPLE, "confirmations": 0, "state": "seen"},
        ),
        t(
            "deposit.confirmed",
            "The deposit reached its confirmations and was credited to the user's balance.",
            _keys("user_id"),
            "the address's owner",
            DEPOSIT_FIELDS,
            {**DEPOSIT_EXAMPLE, "confirmations": 15, "state": "confirmed"},
        ),
        t(
            "deposit.dust",
            "A transfer below the token's dust limit: recorded, not credited.",
            _keys("user_id"),
            "the address's owner",
            DEPOSIT_FIELDS,
            {
                **DEPOSIT_EXAMPLE,
                "amount": "0.000000",
                "amount_units": 0,
                "amount_onchain": "300000000000",
                "dust_onchain": "300000000000",
                "confirmations": 0,
                "state": "dust",
            },
        ),
        t(
            "deposit.orphaned",
            "The block of a deposit not credited yet left the chain (a reorg): it will not be "
            "credited; the same transfer mined again elsewhere is a new deposit.",
            _keys("user_id"),
            "the address's owner",
            DEPOSIT_FIELDS,
            {**DEPOSIT_EXAMPLE, "confirmations": 0, "state": "orphaned"},
        ),
        t(
            "deposit.reversed",
            "A credited deposit's block left the chain (a reorg deeper than the "
            "confirmations): the credit was reversed; what the user had spent of it is a "
            "claim on them. Rare and loud.",
            _keys("user_id", STAFF),
            "the address's owner, staff",
            {
                **DEPOSIT_FIELDS,
                "taken_back_units": "ledger units taken back from the available balance",
                "claim_units": "ledger units the user owes (the claim), 0 if none",
                "claim_reference": "the claim's reference (deposit:<id>), null if none",
            },
            {
                **DEPOSIT_EXAMPLE,
                "confirmations": 0,
                "state": "reversed",
                "taken_back_units": 18000000,
                "claim_units": 7000000,
                "claim_reference": "deposit:981",
            },
        ),
        # ---------------------------------------------------------------- claims
        t(
            "claim.opened",
            "The platform covered a vendor for a voucher the payer spent early: the payer owes it.",
            _keys("user_id", STAFF),
            "the debtor, staff",
            {**CLAIM_FIELDS, "payee_id": "the vendor who was paid"},
            {**CLAIM_EXAMPLE, "payee_id": 42},
        ),
        t(
            "claim.recovered",
            "Part of a claim was taken from the debtor's balance.",
            _keys("user_id"),
            "the debtor",
            {
                **CLAIM_FIELDS,
                "recovered_units": "integer ledger units taken now",
                "recovered": "decimal string taken now",
            },
            {
                **CLAIM_EXAMPLE,
                "recovered_units": 5000000,
                "recovered": "5.000000",
                "outstanding_units": 15000000,
            },
        ),
        t(
            "claim.written_off",
            "An operator wrote off (part of) a claim.",
            _keys("user_id", STAFF),
            "the debtor, staff",
            {
                **CLAIM_FIELDS,
                "written_off_units": "integer ledger units written off now",
                "written_off": "decimal string written off now",
                "reason": "the operator's reason",
                "operator": "the operator's username",
            },
            {
                **CLAIM_EXAMPLE,
                "written_off_units": 15000000,
                "written_off": "15.000000",
                "outstanding_units": 0,
                "state": "closed",
                "reason": "uncollectable",
                "operator": "ops",
            },
        ),
        # ---------------------------------------------------------------- users
        t(
            "user.signed_up",
            "Someone signed up; staff approve them.",
            _staff,
            "staff",
            {
                "user_id": "the new user",
                "username": "their username",
                "role": "their role",
                "status": "pending",
            },
            {"user_id": 17, "username": "alice", "role": "customer", "status": "pending"},
            webhook=False,
        ),
        t(
            "user.approved",
            "Staff approved a user: they may move money.",
            _keys("user_id", STAFF),
            "the user, staff",
            USER_FIELDS,
            _user_status("approved"),
        ),
        t(
            "user.suspended",
            "Staff suspended a user.",
            _keys("user_id", STAFF),
            "the user, staff",
            USER_FIELDS,
            {**_user_status("suspended"), "reason": "chargeback fraud"},
        ),
        # ---------------------------------------------------------------- fraud
        t(
            "review.opened",
            "A flagged payment entered the review queue.",
            _staff,
            "staff",
            {
                **REVIEW_FIELDS,
                "score": "risk score 0-100",
                "rules": "the rules that hit",
                "required_approvals": "1, or 2 (four eyes)",
            },
            {
                "review_id": 8,
                "payment_id": PAYMENT_EXAMPLE["payment_id"],
                "state": "open",
                "score": 72,
                "rules": ["velocity", "new_payee"],
                "required_approvals": 1,
            },
            webhook=False,
        ),
        t(
            "review.closed",
            "A review was decided (the payer and payee get payment.approved / rejected).",
            _staff,
            "staff",
            {
                **REVIEW_FIELDS,
                "outcome": "approved | rejected | expired ...",
                "reason": "short reason",
                "note": "the reviewer's note",
                "reviewers": "usernames of the reviewers",
            },
            {
                "review_id": 8,
                "payment_id": PAYMENT_EXAMPLE["payment_id"],
                "state": "closed",
                "outcome": "approved",
                "reason": "approved",
                "note": "known customer",
                "reviewers": ["rev"],
            },
            webhook=False,
        ),
        t(
            "circuit_breaker.tripped",
            "A circuit breaker opened: payments in its scope are paused.",
            _staff,
            "staff",
            {**BREAKER_FIELDS, "reason": "why", "figures": "the figures that tripped it"},
            {
                "scope": "global",
                "key": "*",
                "state": "open",
                "reason": "flag rate 40% over 5 minutes",
                "figures": {"flag_rate": "0.40"},
            },
            webhook=False,
        ),
        t(
            "circuit_breaker.reset",
            "Staff closed a circuit breaker: payments flow again.",
            _staff,
            "staff",
            {**BREAKER_FIELDS, "by": "username of the staff member", "note": "their note"},
            {"scope": "global", "key": "*", "state": "closed", "by": "ops", "note": "false alarm"},
            webhook=False,
        ),
        t(
            "payer.double_spend_flagged",
            "Proof that a payer spent a voucher twice was recorded; the payer is blocked.",
            _staff,
            "staff",
            {
                "user_id": "the payer",
                "username": "the payer's username",
                "voucher": "the voucher's address",
                "state": "flagged",
            },
            {
                "user_id": 17,
                "username": "alice",
                "voucher": VOUCHER_EXAMPLE["address"],
                "state": "flagged",
            },
            webhook=False,
        ),
        # ---------------------------------------------------------------- offline
        t(
            "offline.voucher_issued",
            "A payer registered an offline voucher.",
            _keys("user_id"),
            "payer",
            VOUCHER_FIELDS,
            VOUCHER_EXAMPLE,
        ),
        t(
            "offline.voucher_reclaimable",
            "A voucher expired unredeemed: the payer's device can sweep the money back.",
            _keys("user_id"),
            "payer",
            VOUCHER_FIELDS,
            {**VOUCHER_EXAMPLE, "state": "expired"},
        ),
        t(
            "offline.payer_suspended",
            "A payer may no longer register vouchers (double spend, or staff's decision).",
            _keys("user_id", STAFF),
            "payer, staff",
            {"user_id": "the payer", "reason": "why", "state": "suspended"},
            {"user_id": 17, "reason": "double spend of voucher 0x2546...", "state": "suspended"},
        ),
        t(
            "offline.fund_requested",
            "The platform is moving money from the online balance to the user's FastPay "
            "address (certification by the committee follows).",
            _keys("user_id"),
            "the user",
            TRANSFER_FIELDS,
            TRANSFER_EXAMPLE,
        ),
        t(
            "offline.funded",
            "The committee certified a fund transfer: the FastPay address holds the money.",
            _keys("user_id"),
            "the user",
            TRANSFER_FIELDS,
            {**TRANSFER_EXAMPLE, "state": "done"},
        ),
        t(
            "offline.fund_failed",
            "A fund transfer was refused for good; the online balance is given back.",
            _keys("user_id"),
            "the user",
            {**TRANSFER_FIELDS, "reason": "the committee's refusal"},
            {**TRANSFER_EXAMPLE, "state": "failed", "reason": "wrong_epoch"},
        ),
        t(
            "offline.defunded",
            "Money moved from the user's FastPay address back to the online balance.",
            _keys("user_id"),
            "the user",
            TRANSFER_FIELDS,
            {**TRANSFER_EXAMPLE, "direction": "defund", "state": "done"},
        ),
        t(
            "offline.redemption_received",
            "A vendor's terminal uploaded an offline payment (state pending, flagged or "
            "rejected at once).",
            _keys("vendor_id", "payer_id"),
            "vendor, payer",
            REDEMPTION_FIELDS,
            {**REDEMPTION_EXAMPLE, "state": "pending"},
        ),
        t(
            "offline.redemption_settled",
            "The committee certified the redemption (or the platform covered it): the "
            "vendor is paid.",
            _keys("vendor_id", "payer_id"),
            "vendor, payer",
            REDEMPTION_FIELDS,
            REDEMPTION_EXAMPLE,
        ),
        t(
            "offline.redemption_flagged",
            "A redemption is held for staff (voucher taken early, double spend, settlement "
            "given up).",
            _keys("vendor_id", STAFF),
            "vendor, staff",
            REDEMPTION_FIELDS,
            {**REDEMPTION_EXAMPLE, "state": "flagged", "reason": "voucher_taken"},
        ),
        t(
            "offline.redemption_released",
            "Staff released a flagged redemption: it goes to settlement again.",
            _keys("vendor_id"),
            "vendor",
            REDEMPTION_FIELDS,
            {**REDEMPTION_EXAMPLE, "state": "pending"},
        ),
        t(
            "offline.redemption_rejected",
            "Staff refused a flagged redemption: the vendor is not paid for it.",
            _keys("vendor_id"),
            "vendor",
            REDEMPTION_FIELDS,
            {**REDEMPTION_EXAMPLE, "state": "rejected", "reason": "admin"},
        ),
        t(
            "offline.double_spend",
            "Two vendors redeemed the same voucher; the evidence names both spends.",
            _keys("payer_id", "vendor_ids", STAFF),
            "payer, both vendors, staff",
            {
                "voucher": "the voucher's address",
                "payer_id": "the payer",
                "vendor_ids": "the vendors who redeemed it",
                "rejected_redemption_id": "the second redemption",
                "first": "evidence: the first spend (redemption_id, vendor_id, order, signature)",
                "second": "evidence: the second spend",
                "state": "flagged",
            },
            {
                "voucher": VOUCHER_EXAMPLE["address"],
                "payer_id": 17,
                "vendor_ids": [42, 43],
                "rejected_redemption_id": REDEMPTION_EXAMPLE["redemption_id"],
                "first": {"redemption_id": "...", "vendor_id": 42},
                "second": {"redemption_id": "...", "vendor_id": 43},
                "state": "flagged",
            },
        ),
        t(
            "offline.settled_late",
            "A redemption was certified after the voucher's deadline (its window and the "
            "grace period): the vendor is paid, staff look at why it came so late.",
            _keys("vendor_id", "payer_id", STAFF),
            "vendor, payer, staff",
            {
                **REDEMPTION_FIELDS,
                "deadline": "unix seconds: the voucher's not_after plus the grace period",
                "attempts": "settlement attempts it took",
                "evidence": "what the committee certified",
            },
            {**REDEMPTION_EXAMPLE, "deadline": 1796947200, "attempts": 4, "evidence": {}},
        ),
        t(
            "offline.collateral_released",
            "A closed voucher's collateral went back to the payer's online balance (open "
            "claims repaid from it first).",
            _keys("user_id"),
            "payer",
            {
                **VOUCHER_FIELDS,
                "released_units": "integer ledger units released",
                "released": "decimal string released",
                "claims_recovered_units": "integer ledger units repaid to open claims",
            },
            {
                **VOUCHER_EXAMPLE,
                "state": "expired",
                "released_units": 4000000,
                "released": "4.000000",
                "claims_recovered_units": 0,
            },
        ),
        t(
            "offline.fund_stuck",
            "A fund transfer ran out of retries (the committee unreachable for too long): "
            "an operator retries it or voids it.",
            _keys("user_id", STAFF),
            "the user, staff",
            {**TRANSFER_FIELDS, "reason": "the last error"},
            {**TRANSFER_EXAMPLE, "state": "stuck", "reason": "no quorum"},
        ),
        t(
            "offline.fund_voided",
            "A stuck fund transfer was voided (another order holds its sequence): the money "
            "is back on the online balance.",
            _keys("user_id"),
            "the user",
            {
                "transfer_id": TRANSFER_FIELDS["transfer_id"],
                "user_id": TRANSFER_FIELDS["user_id"],
                "token": "token symbol",
                "amount": "decimal string in token units",
                "amount_units": "integer ledger units",
                "sender": "FastPay address sending",
                "sequence": "the sender's FastPay sequence",
                "replacement_epoch": "epoch of the order that took the sequence",
                "state": "voided",
            },
            {
                "transfer_id": TRANSFER_EXAMPLE["transfer_id"],
                "user_id": 17,
                "token": "USDT",
                "amount": "50.000000",
                "amount_units": 50000000,
                "sender": TRANSFER_EXAMPLE["sender"],
                "sequence": 3,
                "replacement_epoch": 4,
                "state": "voided",
            },
        ),
        t(
            "offline.funding_paused",
            "A platform FastPay account's sequence is behind the committee's: funding from "
            "it is paused until an operator resumes it.",
            _staff,
            "staff",
            {
                "address": "the platform account",
                "next_sequence": "its next sequence here",
                "committee_sequence": "the committee's",
                "reason": "why",
                "state": "paused",
            },
            {
                "address": "0x71C7656EC7ab88b098defB751B7401B5f6d8976F",
                "next_sequence": 12,
                "committee_sequence": 14,
                "reason": "the committee is ahead",
                "state": "paused",
            },
            webhook=False,
        ),
        t(
            "offline.funding_resumed",
            "An operator resumed a paused platform account at a sequence.",
            _staff,
            "staff",
            {
                "address": "the platform account",
                "next_sequence": "where it resumes",
                "state": "active",
            },
            {
                "address": "0x71C7656EC7ab88b098defB751B7401B5f6d8976F",
                "next_sequence": 14,
                "state": "active",
            },
            webhook=False,
        ),
        # ---------------------------------------------------------------- committee
        t(
            "committee.synced",
            "The authority committee of an epoch was loaded.",
            _staff,
            "staff",
            {"epoch": "the epoch", "members": "the members' addresses", "state": "active"},
            {"epoch": 3, "members": ["0x8ba1...", "0x71C7..."], "state": "active"},
            webhook=False,
        ),
        t(
            "authority.equivocated",
            "An authority signed two different orders for one sender and sequence.",
            _staff,
            "staff",
            {
                "authority": "its address",
                "sender": "the sender",
                "sequence": "the sequence",
                "epoch": "the first order's epoch",
                "second_epoch": "the second's",
                "evidence_id": "the evidence record",
                "state": "new",
            },
            {
                "authority": "0x8ba1...",
                "sender": "0x71C7...",
                "sequence": 4,
                "epoch": 3,
                "second_epoch": 3,
                "evidence_id": 2,
                "state": "new",
            },
            webhook=False,
        ),
        t(
            "authority.conflicting_certificate",
            "An authority answered with a certificate that conflicts with one applied for "
            "the same sender and sequence (another epoch's).",
            _staff,
            "staff",
            {
                "authority": "its address",
                "sender": "the sender",
                "sequence": "the sequence",
                "applied_epoch": "the applied order's epoch",
                "submitted_epoch": "the submitted order's epoch",
                "record_id": "the conflict record",
                "state": "recorded",
            },
            {
                "authority": "0x8ba1...",
                "sender": "0x71C7...",
                "sequence": 4,
                "applied_epoch": 3,
                "submitted_epoch": 4,
                "record_id": 1,
                "state": "recorded",
            },
            webhook=False,
        ),
        t(
            "authority.slashed",
            "Equivocation evidence was submitted on-chain: the authority is slashed.",
            _staff,
            "staff",
            {
                "authority": "its address",
                "evidence_id": "the evidence record",
                "tx_hash": "the slashing transaction",
                "state": "submitted",
            },
            {
                "authority": "0x8ba1...",
                "evidence_id": 2,
                "tx_hash": "0x5c50...",
                "state": "submitted",
            },
            webhook=False,
        ),
        # ---------------------------------------------------------------- chain sender
        t(
            "chain_tx.failed",
            "An outgoing chain transaction (sweep, top-up, withdrawal, payout, settlement) "
            "was mined and reverted: its gas is spent (a chain_fee entry), the purpose's "
            "own event says what happens to the money (docs/deposits.md, Sending).",
            _staff,
            "staff",
            CHAIN_TX_FIELDS,
            {**CHAIN_TX_EXAMPLE, "state": "failed", "error": "reverted: custom error 0xe450d38c"},
            webhook=False,
        ),
        t(
            "chain_tx.dropped",
            "An outgoing chain transaction's nonce was used by a transaction the sender did "
            "not send (a leaked key, or another tool signing with it): nothing of ours was "
            "mined. Investigate the key (docs/deposits.md, Sending).",
            _staff,
            "staff",
            CHAIN_TX_FIELDS,
            {
                **CHAIN_TX_EXAMPLE,
                "state": "dropped",
                "error": "its nonce was used by a transaction the sender did not send",
            },
            webhook=False,
        ),
        t(
            "chain_tx.fee_capped",
            "An outgoing chain transaction is stuck and a +12.5% fee bump would pass the "
            "chain's max_fee_per_gas_wei: it waits at its fees (raise the cap in admin, or "
            "wait for the base fee to fall). Once per transaction.",
            _staff,
            "staff",
            {**CHAIN_TX_FIELDS, "max_fee_per_gas_wei": "what it pays per gas now (wei, text)"},
            {**CHAIN_TX_EXAMPLE, "state": "broadcast", "max_fee_per_gas_wei": "200000000000"},
            webhook=False,
        ),
        # ---------------------------------------------------------------- custody
        t(
            "custody.drift",
            "A custody reconciliation found the ledger's CUSTODY and the chain apart by "
            "more than every known explanation (docs/deposits.md, Reconciliation).",
            _staff,
            "staff",
            {
                "run_id": "the reconciliation run (admin: Reconciliation runs)",
                "chain_id": "the chain",
                "block_number": "the block it reconciled at",
                "block_hash": "that block's hash",
                "state": "drift",
                "drift_units": "token symbol -> unexplained ledger units (chain minus ledger)",
                "addresses": "addresses whose balance the records do not explain (at most 20)",
            },
            {
                "run_id": 31,
                "chain_id": 56,
                "block_number": 41234567,
                "block_hash": "0x5c50...",
                "state": "drift",
                "drift_units": {"USDT": 2000000},
                "addresses": ["0x71C7656EC7ab88b098defB751B7401B5f6d8976F"],
            },
            webhook=False,
        ),
        # ---------------------------------------------------------------- escrow
        t(
            "hold.authorized",
            "Money was reserved in escrow for a payee (an authorization or a marketplace hold).",
            _keys("payer_id", "payee_id"),
            "payer, payee",
            HOLD_FIELDS,
            {**HOLD_EXAMPLE, "state": "pending"},
        ),
        t(
            "hold.posted",
            "The hold was captured or released: posted_amount to the payee, the rest back "
            "to the payer.",
            _keys("payer_id", "payee_id"),
            "payer, payee",
            HOLD_FIELDS,
            {**HOLD_EXAMPLE, "state": "posted"},
        ),
        t(
            "hold.voided",
            "The hold was voided: all of it back to the payer.",
            _keys("payer_id", "payee_id"),
            "payer, payee",
            HOLD_FIELDS,
            {**HOLD_EXAMPLE, "state": "voided"},
        ),
        t(
            "hold.expired",
            "An authorization reached its deadline uncaptured: all of it back to the payer.",
            _keys("payer_id", "payee_id"),
            "payer, payee",
            HOLD_FIELDS,
            {**HOLD_EXAMPLE, "state": "expired"},
        ),
        t(
            "hold.disputed",
            "The buyer disputed a marketplace hold: staff decide instead of the deadline.",
            _keys("payer_id", "payee_id", STAFF),
            "payer, payee, staff",
            HOLD_FIELDS,
            {**HOLD_EXAMPLE, "state": "disputed"},
        ),
        # ---------------------------------------------------------------- invoices
        t(
            "invoice.created",
            "A merchant issued an invoice (docs/invoices.md).",
            _keys("merchant_id", "customer_id"),
            "merchant, customer",
            INVOICE_FIELDS,
            {**INVOICE_EXAMPLE, "status": "new", "exception": ""},
        ),
        t(
            "invoice.payment_received",
            "Money for the invoice was booked (a confirmed deposit, a balance payment, a "
            "settled voucher); `receipt` names the path: method, amount_units, late, payer_id.",
            _keys("merchant_id", "customer_id"),
            "merchant, customer",
            {
                **INVOICE_FIELDS,
                "receipt": "{method: chain | balance | voucher, amount_units, late, payer_id}",
            },
            {
                **INVOICE_EXAMPLE,
                "status": "new",
                "exception": "",
                "received_units": 25000000,
                "receipt": {
                    "method": "balance",
                    "amount_units": 25000000,
                    "late": False,
                    "payer_id": 17,
                },
            },
        ),
        t(
            "invoice.processing",
            "Paid in full on-chain, waiting for the confirmations.",
            _keys("merchant_id", "customer_id"),
            "merchant, customer",
            INVOICE_FIELDS,
            {**INVOICE_EXAMPLE, "status": "processing", "exception": "", "pending_units": 25000000},
        ),
        t(
            "invoice.new",
            "A reorg took away the unconfirmed payment a processing invoice counted on: it is "
            "new (waiting for payment) again.",
            _keys("merchant_id", "customer_id"),
            "merchant, customer",
            INVOICE_FIELDS,
            {**INVOICE_EXAMPLE, "status": "new", "exception": ""},
        ),
        t(
            "invoice.settled",
            "Final: the merchant (and the split payees) were credited, the fee went to FEES.",
            _keys("merchant_id", "customer_id"),
            "merchant, customer",
            INVOICE_FIELDS,
            {
                **INVOICE_EXAMPLE,
                "status": "settled",
                "exception": "",
                "received_units": 25000000,
                "settled_units": 25000000,
                "fee_units": 250000,
            },
        ),
        t(
            "invoice.expired",
            "Not paid in time; what a partial payment left was returned by the policy.",
            _keys("merchant_id", "customer_id"),
            "merchant, customer",
            INVOICE_FIELDS,
            {**INVOICE_EXAMPLE, "status": "expired", "exception": ""},
        ),
        t(
            "invoice.invalid",
            "Cancelled by the merchant (or invalidated): it takes no more money.",
            _keys("merchant_id", "customer_id"),
            "merchant, customer",
            INVOICE_FIELDS,
            {**INVOICE_EXAMPLE, "status": "invalid", "exception": ""},
        ),
        t(
            "invoice.returned",
            "A difference the policy does not keep (over- or late payment, an expired partial "
            "one) was credited back; `returned`: units, mode (credit | refund), "
            "refund_due_units, to (user ids).",
            _keys("merchant_id", "customer_id"),
            "merchant, customer",
            {**INVOICE_FIELDS, "returned": "{units, mode, refund_due_units, to}"},
            {
                **INVOICE_EXAMPLE,
                "status": "settled",
                "exception": "paid_over",
                "returned": {"units": 1000000, "mode": "credit", "refund_due_units": 0, "to": [17]},
            },
        ),
        # ---------------------------------------------------------------- rates
        t(
            "rates.peg_paused",
            "A stablecoin is off its USD peg beyond the pause limit: pricing in fiat with it "
            "(fiat invoices, quotes) is paused until it recovers (docs/rates.md).",
            _staff,
            "staff",
            PEG_FIELDS,
            {**PEG_EXAMPLE, "rate": "0.9700", "deviation_bps": 300, "state": "paused"},
            webhook=False,
        ),
        t(
            "rates.peg_resumed",
            "The stablecoin is back within the resume band: fiat pricing with it resumes.",
            _staff,
            "staff",
            PEG_FIELDS,
            {**PEG_EXAMPLE, "rate": "0.9950", "deviation_bps": 50, "state": "ok"},
            webhook=False,
        ),
        # ---------------------------------------------------------------- withdrawals
        t(
            "withdrawal.requested",
            "A withdrawal was requested; its amount and fee are reserved.",
            _withdrawal_audience,
            "the requester (staff too when it awaits approval)",
            WITHDRAWAL_FIELDS,
            {**WITHDRAWAL_EXAMPLE, "state": "awaiting_approval", "required_approvals": 2},
        ),
        t(
            "withdrawal.revised",
            "The amount or destination changed before approval: a new revision.",
            _withdrawal_audience,
            "the requester, staff",
            WITHDRAWAL_FIELDS,
            {**WITHDRAWAL_EXAMPLE, "state": "awaiting_approval", "revision": 2},
        ),
        t(
            "withdrawal.approval_added",
            "One staff approval of the revision; more are needed (four eyes).",
            _withdrawal_audience,
            "the requester, staff",
            WITHDRAWAL_FIELDS,
            {**WITHDRAWAL_EXAMPLE, "state": "awaiting_approval", "required_approvals": 2},
        ),
        t(
            "withdrawal.approved",
            "Approved (or needing no approval): it is paid once its time-lock is over.",
            _keys("user_id"),
            "the requester",
            WITHDRAWAL_FIELDS,
            WITHDRAWAL_EXAMPLE,
        ),
        t(
            "withdrawal.in_progress",
            "The transfer is signed and sent from the hot wallet.",
            _keys("user_id"),
            "the requester",
            WITHDRAWAL_FIELDS,
            {**WITHDRAWAL_EXAMPLE, "state": "in_progress", "tx_hash": "0x5c50..."},
        ),
        t(
            "withdrawal.completed",
            "The transfer is confirmed on-chain at the required depth.",
            _keys("user_id"),
            "the requester",
            WITHDRAWAL_FIELDS,
            {**WITHDRAWAL_EXAMPLE, "state": "completed", "tx_hash": "0x5c50..."},
        ),
        t(
            "withdrawal.cancelled",
            "Cancelled before payment (by the user or staff): the money is back.",
            _keys("user_id"),
            "the requester",
            WITHDRAWAL_FIELDS,
            {**WITHDRAWAL_EXAMPLE, "state": "cancelled", "reason": "user_cancelled"},
        ),
        t(
            "withdrawal.rejected",
            "A reviewer rejected it: the money is back.",
            _keys("user_id"),
            "the requester",
            WITHDRAWAL_FIELDS,
            {
                **WITHDRAWAL_EXAMPLE,
                "state": "cancelled",
                "reason": "rejected",
                "note": "address unknown",
            },
        ),
        t(
            "withdrawal.failed",
            "The transfer failed on-chain: the money is back, with the reason.",
            _keys("user_id", STAFF),
            "the requester, staff",
            WITHDRAWAL_FIELDS,
            {**WITHDRAWAL_EXAMPLE, "state": "failed", "reason": "transaction_failed"},
        ),
        t(
            "withdrawal.requeued",
            "Its transaction was dropped unmined: it will be paid again.",
            _keys("user_id", STAFF),
            "the requester, staff",
            WITHDRAWAL_FIELDS,
            WITHDRAWAL_EXAMPLE,
        ),
        # ---------------------------------------------------------------- merchant payouts
        *(
            t(
                topic,
                text,
                _keys("user_id", STAFF) if staff else _keys("user_id"),
                who,
                PAYOUT_FIELDS,
                {**PAYOUT_EXAMPLE, "state": state, **extra},
            )
            for topic, text, staff, who, state, extra in (
                (
                    "payout.created",
                    "A payout reserved the merchant's available balance.",
                    False,
                    "the merchant",
                    "pending",
                    {},
                ),
                (
                    "payout.in_progress",
                    "Its batch transaction is signed.",
                    False,
                    "the merchant",
                    "in_progress",
                    {},
                ),
                (
                    "payout.paid",
                    "The batch is confirmed: the amount reached the destination.",
                    False,
                    "the merchant",
                    "paid",
                    {},
                ),
                (
                    "payout.failed",
                    "The batch failed on-chain: the money is back, with the reason.",
                    True,
                    "the merchant, staff",
                    "failed",
                    {"reason": "transaction_failed"},
                ),
                (
                    "payout.requeued",
                    "Its batch was dropped unmined: it will be paid again.",
                    True,
                    "the merchant, staff",
                    "pending",
                    {},
                ),
            )
        ),
        t(
            "withdrawal_address.added",
            "A merchant added a withdrawal address; usable after its cool-down.",
            _keys("user_id"),
            "the merchant",
            {
                "address_id": "the entry",
                "user_id": "its owner",
                "chain_id": "the chain",
                "address": "the address",
                "label": "the owner's label",
                "usable_at": "RFC 3339: when its cool-down ends",
                "state": "added | removed",
            },
            {
                "address_id": 3,
                "user_id": 42,
                "chain_id": 56,
                "address": "0x8ba1f109551bD432803012645Ac136ddd64DBA72",
                "label": "treasury",
                "usable_at": "2026-12-03T10:00:00Z",
                "state": "added",
            },
        ),
        t(
            "withdrawal_address.removed",
            "A merchant removed a withdrawal address.",
            _keys("user_id"),
            "the merchant",
            {
                "address_id": "the entry",
                "user_id": "its owner",
                "chain_id": "the chain",
                "address": "the address",
                "label": "the owner's label",
                "usable_at": "RFC 3339: when its cool-down ended",
                "state": "added | removed",
            },
            {
                "address_id": 3,
                "user_id": 42,
                "chain_id": 56,
                "address": "0x8ba1f109551bD432803012645Ac136ddd64DBA72",
                "label": "treasury",
                "usable_at": "2026-12-03T10:00:00Z",
                "state": "removed",
            },
        ),
        # ---------------------------------------------------------------- hot and cold wallets
        t(
            "treasury.safe_tx",
            "A transaction of the cold Safe (a hot wallet refill) was proposed, signed by an "
            "owner, became executable, was sent, executed or failed.",
            _staff,
            "staff",
            {
                "safe_tx_id": "the Safe transaction",
                "chain_id": "the chain",
                "safe": "the cold Safe's address",
                "nonce": "the Safe nonce it uses",
                "safe_tx_hash": "the EIP-712 hash the owners sign",
                "kind": "refill",
                "token": "token symbol",
                "amount_units": "integer ledger units moved to the hot wallet",
                "signatures": "owner signatures so far",
                "threshold": "the Safe's threshold",
                "state": "proposed | executable | executing | executed | failed",
            },
            {
                "safe_tx_id": 4,
                "chain_id": 56,
                "safe": "0x8ba1f109551bD432803012645Ac136ddd64DBA72",
                "nonce": 12,
                "safe_tx_hash": "0x" + "5a" * 32,
                "kind": "refill",
                "token": "USDT",
                "amount_units": 50_000_000_000,
                "signatures": 1,
                "threshold": 2,
                "state": "proposed",
            },
            webhook=False,
        ),
        t(
            "treasury.cold_transfer",
            "The hot wallet's excess above its maximum was sent to the cold Safe, or that "
            "transfer confirmed or failed.",
            _staff,
            "staff",
            {
                "cold_transfer_id": "the transfer",
                "chain_id": "the chain",
                "address": "the cold Safe's address",
                "token": "token symbol",
                "amount_units": "integer ledger units sent",
                "state": "sent | done | failed",
            },
            {
                "cold_transfer_id": 2,
                "chain_id": 56,
                "address": "0x8ba1f109551bD432803012645Ac136ddd64DBA72",
                "token": "USDT",
                "amount_units": 150_000_000_000,
                "state": "sent",
            },
            webhook=False,
        ),
        # ---------------------------------------------------------------- webhooks
        t(
            "webhook_endpoint.disabled",
            "A webhook endpoint was disabled: it answered 410 Gone, or failed for days.",
            _keys("user_id", STAFF),
            "the endpoint's owner (merchant), staff",
            {
                "endpoint_id": "the endpoint",
                "user_id": "its owner",
                "url": "its URL",
                "reason": "why",
                "failing_since": "RFC 3339, first failure since its last success (or null)",
                "state": "disabled",
            },
            {
                "endpoint_id": 5,
                "user_id": 42,
                "url": "https://shop.example/hooks/fastpay",
                "reason": "failing since 2026-11-27T08:00:00Z",
                "failing_since": "2026-11-27T08:00:00Z",
                "state": "disabled",
            },
        ),
        t(
            "webhook_endpoint.test",
            'A "send test event" call: delivered to that one endpoint only.',
            _keys("user_id"),
            "the endpoint's owner",
            {"endpoint_id": "the endpoint", "user_id": "its owner", "state": "test"},
            {"endpoint_id": 5, "user_id": 42, "state": "test"},
        ),
        # ------------------------------------------------ redemptions to the chain
        *(
            t(
                f"settlement.redemption_{state}",
                text,
                _keys("user_id"),
                "the sender address's owner",
                CHAIN_REDEMPTION_FIELDS,
                {**CHAIN_REDEMPTION_EXAMPLE, "state": state, **extra},
            )
            for state, text, extra in (
                ("received", "A redemption to the chain was handed in (docs/settlement.md).", {}),
                (
                    "settled",
                    "The redemption settled on-chain: the vault credited the sender.",
                    {"batch_id": 17, "tx_hash": "0x" + "ab" * 32},
                ),
                (
                    "skipped",
                    "The processor skipped the redemption (see reason): not paid by this batch.",
                    {"batch_id": 17, "reason": "SequenceAlreadyRedeemed"},
                ),
                (
                    "refused",
                    "The redemption cannot settle on-chain any more (see reason).",
                    {"reason": "settlement_window_closed"},
                ),
            )
        ),
        *(
            t(
                f"settlement.batch_{state}",
                text,
                _keys(STAFF),
                "staff",
                SETTLEMENT_BATCH_FIELDS,
                {**SETTLEMENT_BATCH_EXAMPLE, "state": state},
                webhook=False,
            )
            for state, text in (
                ("created", "A committee settlement batch was gathered."),
                ("submitted", "A settlement batch was submitted on-chain."),
                ("settled", "A settlement batch settled; its items' outcomes are recorded."),
                ("failed", "A settlement batch failed for good (see error)."),
            )
        ),
    ]


CATALOGUE: dict[str, EventType] = {}
for _type in _types():
    assert _type.name not in CATALOGUE, _type.name
    CATALOGUE[_type.name] = _type

#: what an unknown topic gets (an emitter added before its catalogue entry): staff only,
#: so it is never lost and never leaks; a test fails CI for it
UNKNOWN = EventType(
    "unknown", "A topic missing from the catalogue.", _staff, "staff", {}, {}, webhook=False
)

WEBHOOK_TYPES = sorted(name for name, t in CATALOGUE.items() if t.webhook)


def event_type(topic: str) -> EventType:
    return CATALOGUE.get(topic, UNKNOWN)


def catalogue_markdown() -> str:
    """The catalogue section of docs/events.md."""
    import json

    lines = []
    for name in sorted(CATALOGUE):
        entry = CATALOGUE[name]
        lines += [
            f"### `{name}` (version {entry.version})",
            "",
            entry.description,
            "",
            f"Recipients: {entry.audience}."
            + ("" if entry.webhook else " Not sent to webhooks (staff only)."),
            "",
            "| field | meaning |",
            "|---|---|",
            *(f"| `{key}` | {text} |" for key, text in entry.fields.items()),
            "",
            "```json",
            json.dumps(entry.example, indent=2),
            "```",
            "",
        ]
    return "\n".join(lines)


def _check(types: Iterable[EventType]) -> None:  # pragma: no cover - import-time sanity
    for entry in types:
        missing = set(entry.example) - set(entry.fields)
        assert not missing, (entry.name, missing)


_check(CATALOGUE.values())
del _type
