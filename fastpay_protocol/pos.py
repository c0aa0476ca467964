"""The vendor's terminal: verify payments offline, queue them durably, sync when online.

The store is one SQLite file (WAL, synchronous=FULL): the cached committee, the platform's
ticket-signing address, the vendor's FastPay address and every accepted payment. Accepting
a payment is one SQLite transaction (check not seen + insert): once ``accept`` returns,
the payment survives a crash or a reboot. ``sync`` uploads what is not final in batches of
up to 1000 and stores each one's fate; the platform is idempotent per spend, so a sync
cut short (crash, timeout) is simply run again. No Django.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from fastpay_protocol.messages import Committee
from fastpay_protocol.voucher import OfflineVerifier, Payment, Refused

SCHEMA = """
CREATE TABLE IF NOT EXISTS config (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS payments (
    voucher TEXT PRIMARY KEY,           -- one payment per voucher: 'already_seen'
    spend_id TEXT NOT NULL UNIQUE,
    amount INTEGER NOT NULL,            -- ledger units
    token TEXT NOT NULL,
    payer TEXT NOT NULL,
    text TEXT NOT NULL,
    accepted_at INTEGER NOT NULL,       -- unix seconds, this terminal's clock
    state TEXT NOT NULL DEFAULT 'queued',  -- queued, then the platform's state
    reason TEXT NOT NULL DEFAULT '',
    redemption_id TEXT NOT NULL DEFAULT '',
    synced_at INTEGER
);
CREATE INDEX IF NOT EXISTS payments_state ON payments(state);
"""

#: states after which a payment needs no more syncing
FINAL = ("settled", "rejected")
BATCH = 1000


@dataclass(frozen=True)
class QueuedPayment:
    voucher: str
    spend_id: str
    amount: int
    token: str
    payer: str
    accepted_at: int
    state: str
    reason: str
    redemption_id: str


class Terminal:
    def __init__(self, path: str):
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        config = dict(self.db.execute("SELECT name, value FROM config").fetchall())
        if not config:
            raise ValueError(f"{path} is not a configured terminal (run `pos init`)")
        self.vendor = config["vendor"]
        self.issuer = config["issuer"]
        self.committee = Committee.from_json(json.loads(config["committee"]))
        self.previous = tuple(
            Committee.from_json(c) for c in json.loads(config.get("previous_committees", "[]"))
        )
        self.verifier = OfflineVerifier(
            self.committee, self.issuer, self.vendor, previous=self.previous
        )

    @classmethod
    def create(
        cls,
        path: str,
        *,
        vendor: str,
        issuer: str,
        committee: Committee,
        previous: tuple[Committee, ...] = (),
    ) -> Terminal:
        """``previous``: committees of earlier epochs whose vouchers are still accepted
        (the platform's terminal config lists them after a committee change)."""
        db = sqlite3.connect(path, isolation_level=None)
        db.executescript(SCHEMA)
        with db:
            db.execute("BEGIN")
            db.execute("DELETE FROM config")
            db.executemany(
                "INSERT INTO config VALUES (?, ?)",
                [
                    ("vendor", vendor),
                    ("issuer", issuer),
                    ("committee", json.dumps(committee.to_json())),
                    ("previous_committees", json.dumps([c.to_json() for c in previous])),
                ],
            )
        db.close()
        return cls(path)

    def update_committee(self, committee: Committee, previous: tuple[Committee, ...] = ()) -> None:
        """Online: cache a new committee (after checking it against the chain), and the
        previous epochs' committees whose vouchers are still accepted."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR REPLACE INTO config VALUES (?, ?)",
                [
                    ("committee", json.dumps(committee.to_json())),
                    ("previous_committees", json.dumps([c.to_json() for c in previous])),
                ],
            )
        self.committee, self.previous = committee, tuple(previous)
        self.verifier = OfflineVerifier(committee, self.issuer, self.vendor, previous=previous)

    def close(self) -> None:
        self.db.close()

    # -------------------------------------------------------------- offline

    def verify(self, payment: Payment | str, *, now: float | None = None) -> Payment:
        """Every offline check, including ``already_seen``; raises Refused. No write."""
        now = time.time() if now is None else now
        payment = self.verifier.verify(payment, now=now)
        if self._seen(payment.body.voucher):
            raise Refused("already_seen", "this terminal already accepted this voucher")
        return payment

    def _seen(self, voucher: str) -> bool:
        return (
            self.db.execute("SELECT 1 FROM payments WHERE voucher=?", (voucher,)).fetchone()
            is not None
        )

    def accept(self, payment: Payment | str, *, now: float | None = None) -> QueuedPayment:
        """Verify and queue durably (one transaction); raises Refused."""
        now = time.time() if now is None else now
        payment = self.verifier.verify(payment, now=now)
        body = payment.body
        try:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.execute(
                    "INSERT INTO payments (voucher, spend_id, amount, token, payer, text, "
                    "accepted_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        body.voucher,
                        payment.spend_id,
                        payment.amount,
                        body.token,
                        body.payer,
                        payment.to_text(),
                        int(now),
                    ),
                )
        except sqlite3.IntegrityError:
            raise Refused("already_seen", "this terminal already accepted this voucher") from None
        return self.payment(body.voucher)

    # -------------------------------------------------------------- queue

    _SELECT = (
        "SELECT voucher, spend_id, amount, token, payer, accepted_at, state, reason, "
        "redemption_id FROM payments "
    )

    def payment(self, voucher: str) -> QueuedPayment:
        row = self.db.execute(self._SELECT + "WHERE voucher=?", (voucher,)).fetchone()
        return QueuedPayment(*row)

    def payments(self, states: tuple[str, ...] | None = None) -> list[QueuedPayment]:
        rows = self.db.execute(self._SELECT + "ORDER BY accepted_at, voucher").fetchall()
        return [QueuedPayment(*r) for r in rows if states is None or r[6] in states]

    def unfinished(self, limit: int = BATCH) -> list[tuple[str, str]]:
        return self.db.execute(
            "SELECT spend_id, text FROM payments WHERE state NOT IN (?, ?) "
            "ORDER BY accepted_at, voucher LIMIT ?",
            (*FINAL, limit),
        ).fetchall()

    def sync(self, platform: Any, *, batch: int = BATCH) -> dict[str, int]:
        """Upload every payment that is not final, ``batch`` at a time; store each one's
        state. Returns counts by state for this run. Raises PlatformError when the
        platform is unreachable (nothing is lost: run it again)."""
        counts: dict[str, int] = {}
        seen_ids: set[str] = set()
        while True:
            rows = [r for r in self.unfinished(batch + len(seen_ids)) if r[0] not in seen_ids]
            rows = rows[:batch]
            if not rows:
                return counts
            answer = platform.redemptions_sync([text for _, text in rows])
            results = answer["results"]
            now = int(time.time())
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                for (spend_id, _), result in zip(rows, results, strict=True):
                    state = result.get("state", "rejected")
                    self.db.execute(
                        "UPDATE payments SET state=?, reason=?, redemption_id=?, synced_at=? "
                        "WHERE spend_id=?",
                        (
                            state,
                            result.get("reason") or "",
                            str(result.get("id") or ""),
                            now,
                            spend_id,
                        ),
                    )
                    counts[state] = counts.get(state, 0) + 1
            # items still in flight (pending, flagged) are asked about again next sync,
            # not in this run's loop
            seen_ids.update(spend_id for spend_id, _ in rows)
