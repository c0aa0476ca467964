"""The payer's device: a SQLite file holding the FastPay account key and the vouchers,
keys sealed under a passphrase (scrypt -> AES-256-GCM). Issues vouchers while online,
pays offline, sweeps what is left back when online again. No Django.

Every order from the account is written to the ``outgoing`` journal (sequence, payment,
signature) before it is sent for votes, and marked ``stored`` in the same SQLite
transaction that keeps its certificate. A wallet that dies between the two (votes
gathered, certificate lost) finds the order at the next operation (``complete_pending``):
from its journal, or as the account's pending order at the committee, gathers the votes
again (the authorities answer the same order with the same vote), stores and confirms it;
an order already applied is fetched as the committee's certificate for its sequence.

Sweeping an unspent voucher waits for its window, the platform's grace period and a margin
(``GET /api/v1/offline/terminal/``, cached at each issue), by the platform's clock where
the wallet has read it: a vendor's sync inside the grace period must settle first.

Money is int ledger units throughout.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from fastpay_protocol import signing
from fastpay_protocol import typed_data as td
from fastpay_protocol.committee_errors import CommitteeError
from fastpay_protocol.messages import Certificate, Committee, SignedOrder, parse_signature
from fastpay_protocol.offline_api import PlatformError, link_message
from fastpay_protocol.voucher import Payment, Voucher

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS vouchers (
    address TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    amount INTEGER NOT NULL,           -- ledger units
    not_after INTEGER,                 -- unix seconds (NULL until registered)
    state TEXT NOT NULL,               -- issuing | active | spent | swept | refused
    spent INTEGER NOT NULL DEFAULT 0,  -- ledger units paid out of it
    sealed_key BLOB NOT NULL,          -- the voucher key, sealed
    certificate TEXT,                  -- issue certificate JSON once certified
    voucher BLOB,                      -- Voucher binary (with the key) sealed, once active
    note TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS defunds (
    sequence INTEGER PRIMARY KEY,      -- the order's sequence on this account
    token TEXT NOT NULL,
    amount INTEGER NOT NULL,           -- ledger units
    certificate TEXT NOT NULL,         -- the order to the platform, certified and confirmed
    state TEXT NOT NULL,               -- certified (not handed in yet) | done | refused
    note TEXT NOT NULL DEFAULT '',     -- the platform's transfer id, or why it refused
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outgoing (
    sequence INTEGER PRIMARY KEY,      -- this account's order sequence
    purpose TEXT NOT NULL,             -- voucher | defund | other
    recipient TEXT NOT NULL,
    token TEXT NOT NULL,
    amount INTEGER NOT NULL,           -- ledger units
    epoch INTEGER NOT NULL,
    signature TEXT NOT NULL,           -- the account key's signature of the order (hex)
    state TEXT NOT NULL,               -- signed (sent for votes) | stored (certificate kept)
    note TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    voucher TEXT NOT NULL REFERENCES vouchers(address),
    vendor TEXT NOT NULL,
    amount INTEGER NOT NULL,
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
"""

SCRYPT_N = 2**15  # ~50 ms on a laptop core: costly to brute-force, quick to unlock
#: until the platform's own figures are cached (``refresh_config``): its default grace
#: period and sweep margin, seconds
DEFAULT_GRACE_S = 3 * 24 * 3600
DEFAULT_SWEEP_MARGIN_S = 3600


class WrongPassphrase(Exception):
    pass


class WalletError(Exception):
    pass


class Sealer:
    """AES-256-GCM under a key derived from the passphrase with scrypt (salt in the file);
    ``aad`` binds each sealed blob to its row so blobs cannot be swapped between rows."""

    def __init__(self, passphrase: str, salt: bytes, n: int = SCRYPT_N):
        key = Scrypt(salt=salt, length=32, n=n, r=8, p=1).derive(passphrase.encode())
        self._aead = AESGCM(key)

    def seal(self, data: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data, aad)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        try:
            return self._aead.decrypt(blob[:12], blob[12:], aad)
        except InvalidTag:
            raise WrongPassphrase("wrong passphrase (or a tampered wallet file)") from None


@dataclass(frozen=True)
class VoucherRow:
    address: str
    token: str
    amount: int
    not_after: int | None
    state: str
    spent: int
    note: str


@dataclass(frozen=True)
class SweepResult:
    voucher: str
    amount: int  # ledger units moved back (0 when nothing was done)
    outcome: str  # swept | nothing_left | too_early | waiting_for_vendor | failed
    detail: str = ""


class Wallet:
    def __init__(self, db: sqlite3.Connection, sealer: Sealer, n: int):
        self.db = db
        self.sealer = sealer
        self._n = n
        self.signer = signing.Signer(sealer.open(self._meta("account_key"), b"account"))
        self.address = self.signer.address

    # -------------------------------------------------------------- file

    @staticmethod
    def _connect(path: str) -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(SCHEMA)
        return db

    @classmethod
    def create(
        cls, path: str, passphrase: str, *, account_key: bytes | None = None, n: int = SCRYPT_N
    ) -> Wallet:
        if os.path.exists(path):
            raise WalletError(f"{path} exists")
        db = cls._connect(path)
        salt = os.urandom(16)
        sealer = Sealer(passphrase, salt, n)
        key = account_key or os.urandom(32)
        with db:
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [
                    ("salt", salt),
                    ("scrypt_n", str(n).encode()),
                    ("account_key", sealer.seal(key, b"account")),
                ],
            )
        return cls(db, sealer, n)

    @classmethod
    def open(cls, path: str, passphrase: str) -> Wallet:
        if not os.path.exists(path):
            raise WalletError(f"no wallet at {path}")
        db = cls._connect(path)
        salt = db.execute("SELECT value FROM meta WHERE name='salt'").fetchone()[0]
        n = int(db.execute("SELECT value FROM meta WHERE name='scrypt_n'").fetchone()[0])
        return cls(db, Sealer(passphrase, salt, n), n)

    def _meta(self_or_db: Any, name: str) -> bytes:
        db = self_or_db.db if isinstance(self_or_db, Wallet) else self_or_db
        row = db.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        if row is None:
            raise WalletError(f"wallet file without {name}")
        return row[0]

    def close(self) -> None:
        self.db.close()

    # -------------------------------------------------------------- vouchers

    def vouchers(self, states: tuple[str, ...] | None = None) -> list[VoucherRow]:
        rows = self.db.execute(
            "SELECT address, token, amount, not_after, state, spent, note FROM vouchers "
            "ORDER BY created_at, rowid"
        ).fetchall()
        found = [VoucherRow(*row) for row in rows]
        return [v for v in found if states is None or v.state in states]

    def voucher(self, address: str) -> Voucher:
        row = self.db.execute("SELECT voucher FROM vouchers WHERE address=?", (address,)).fetchone()
        if row is None or row[0] is None:
            raise WalletError(f"no usable voucher {address}")
        return Voucher.from_binary(self.sealer.open(row[0], address.encode()))

    def _voucher_key(self, address: str) -> bytes:
        row = self.db.execute(
            "SELECT sealed_key FROM vouchers WHERE address=?", (address,)
        ).fetchone()
        return self.sealer.open(row[0], address.encode())

    def issue(self, client: Any, platform: Any, *, token: str, amount: int, validity_s: int):
        """Online: move ``amount`` (ledger units) from this account to a fresh voucher
        address (certified and confirmed by the committee), then register it with the
        platform, which checks the offline limits and signs the validity window. A
        voucher the platform refuses is swept back at once (no terminal accepts it).
        ``client``: a CommitteeClient; ``platform``: a PlatformClient."""
        token = td._address(token, "token")
        self.complete_pending(client, platform, validity_s=validity_s)
        self.refresh_config(platform)
        key = os.urandom(32)
        address = signing.Signer(key).address
        # the key is on disk before any money moves to its address
        self.db.execute(
            "INSERT INTO vouchers (address, token, amount, state, sealed_key, created_at) "
            "VALUES (?, ?, ?, 'issuing', ?, ?)",
            (address, token, amount, self.sealer.seal(key, address.encode()), int(time.time())),
        )
        sequence = client.next_sequence(self.address)
        signed = client.sign_order(
            self.signer, recipient=address, token=token, amount=amount, sequence=sequence
        )
        self._journal(signed, "voucher")
        certificate = client.certify(signed)
        # stored before confirming: a failed confirmation is retried by register_pending
        self._store(certificate, "voucher")
        client.confirm(certificate)
        return self._register(client, platform, address, key, certificate, validity_s)

    # -------------------------------------------------------------- outgoing orders

    def _journal(self, signed: SignedOrder, purpose: str) -> None:
        """Record an order before it is sent for votes (a crash after the votes and before
        its certificate is stored leaves this row: ``complete_pending`` finishes it)."""
        order = signed.order
        self.db.execute(
            "INSERT OR REPLACE INTO outgoing (sequence, purpose, recipient, token, amount, "
            "epoch, signature, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'signed', ?)",
            (
                order.sequence,
                purpose,
                order.recipient,
                order.token,
                order.amount,
                order.epoch,
                "0x" + signed.signature.hex(),
                int(time.time()),
            ),
        )

    def _store(self, certificate: Certificate, purpose: str) -> None:
        """Keep ``certificate`` where its purpose needs it and mark its journal row stored,
        in one SQLite transaction. Idempotent."""
        order = certificate.order
        text = _dumps(certificate.to_json())
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if purpose == "voucher":
                self.db.execute(
                    "UPDATE vouchers SET certificate=? WHERE address=? AND certificate IS NULL",
                    (text, order.recipient),
                )
            elif purpose == "defund":
                self.db.execute(
                    "INSERT OR IGNORE INTO defunds (sequence, token, amount, certificate, state, "
                    "created_at) VALUES (?, ?, ?, ?, 'certified', ?)",
                    (order.sequence, order.token, order.amount, text, int(time.time())),
                )
            self.db.execute(
                "INSERT INTO outgoing (sequence, purpose, recipient, token, amount, epoch, "
                "signature, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'stored', ?) "
                "ON CONFLICT (sequence) DO UPDATE SET state='stored', epoch=excluded.epoch",
                (
                    order.sequence,
                    purpose,
                    order.recipient,
                    order.token,
                    order.amount,
                    order.epoch,
                    "0x" + certificate.signature.hex(),
                    int(time.time()),
                ),
            )

    def _purpose_of(self, recipient: str) -> str:
        row = self.db.execute(
            "SELECT 1 FROM vouchers WHERE address=? AND certificate IS NULL", (recipient,)
        ).fetchone()
        if row is not None:
            return "voucher"
        platform = self._config().get("platform_address")
        if platform and platform.lower() == recipient.lower():
            return "defund"
        return "other"

    def complete_pending(
        self, client: Any, platform: Any = None, *, validity_s: int | None = None
    ) -> list[Certificate]:
        """Finish the orders this account sent for votes whose certificate was never kept
        (the wallet died in between), at the start of every online operation: each order
        of the journal still ``signed``, and the account's pending order at the committee
        when the journal has none for it (a wallet file from before the journal). The same
        order is certified again (the authorities answer it with the vote they gave; an
        order of a closed epoch is signed again for the current one, same payment), stored
        and confirmed; one already applied is fetched as the committee's certificate for
        its sequence. A voucher completed so is registered when ``platform`` is given (else
        ``register_pending`` or ``sweep`` later). Idempotent. Returns the certificates."""
        done: list[Certificate] = []
        rows = self.db.execute(
            "SELECT sequence, purpose, recipient, token, amount, epoch, signature "
            "FROM outgoing WHERE state='signed' ORDER BY sequence"
        ).fetchall()
        state = client.account_state(self.address)
        for sequence, purpose, recipient, token, amount, epoch, signature in rows:
            order = td.TransferOrder(self.address, recipient, token, amount, sequence, epoch)
            if state.next_sequence > sequence:
                certificate = client.applied_certificate(self.address, sequence)
                if certificate is None:
                    continue  # not readable now (another epoch's, or nodes down): later
                if _payment(certificate.order) != _payment(order):
                    self.db.execute(
                        "UPDATE outgoing SET state='lost', note=? WHERE sequence=?",
                        ("the committee applied another order at this sequence", sequence),
                    )
                    continue
                self._store(certificate, purpose)
                done.append(certificate)
            elif state.next_sequence == sequence:
                signed = SignedOrder(order, parse_signature(signature, "signature"))
                done.append(self._finish(client, signed, purpose))
                state = client.account_state(self.address)
        pending = state.pending
        known = {row[0] for row in rows}
        if (
            pending is not None
            and pending.order.sender == self.address
            and pending.order.sequence == state.next_sequence
            and pending.order.sequence not in known
        ):
            order = pending.order
            signed = SignedOrder(order, self.signer.sign_digest(client.hasher.order_digest(order)))
            done.append(self._finish(client, signed, self._purpose_of(order.recipient)))
        registrable = any(self._purpose_of_stored(c) == "voucher" for c in done)
        if registrable and platform is not None and validity_s is not None:
            # a refusal is noted on the voucher (and it is swept back); unreachable: later
            with contextlib.suppress(PlatformError):
                self.register_pending(client, platform, validity_s=validity_s)
        return done

    def _purpose_of_stored(self, certificate: Certificate) -> str:
        row = self.db.execute(
            "SELECT purpose FROM outgoing WHERE sequence=?", (certificate.order.sequence,)
        ).fetchone()
        return row[0] if row else "other"

    def _finish(self, client: Any, signed: SignedOrder, purpose: str) -> Certificate:
        """Certify ``signed`` again (or its payment re-signed for the client's epoch, when
        its own epoch is not the committee's any more), store it, confirm it."""
        if signed.order.epoch != client.committee.epoch:
            signed = client.sign_order(
                self.signer,
                recipient=signed.order.recipient,
                token=signed.order.token,
                amount=signed.order.amount,
                sequence=signed.order.sequence,
            )
            self._journal(signed, purpose)
        certificate = client.certify(signed)
        self._store(certificate, purpose)
        client.confirm(certificate)
        return certificate

    # -------------------------------------------------------------- the platform's figures

    def _config(self) -> dict:
        row = self.db.execute("SELECT value FROM meta WHERE name='platform_config'").fetchone()
        return _loads(row[0]) if row else {}

    def refresh_config(self, platform: Any) -> dict:
        """Cache the platform's grace period, sweep margin, FastPay address and clock
        offset (``GET /api/v1/offline/terminal/``); best effort: a platform that does not
        answer leaves the cached figures. Returns what is cached."""
        reader = getattr(platform, "terminal_config", None)
        if reader is None:
            return self._config()
        try:
            asked = time.time()
            config = reader()
            answered = time.time()
            cached = {
                **self._config(),
                "grace_s": int(config["grace_s"]),
                "sweep_margin_s": int(config.get("sweep_margin_s", DEFAULT_SWEEP_MARGIN_S)),
            }
            if "now" in config:  # the platform's clock, against the middle of the request
                cached["clock_offset_s"] = int(config["now"]) - (asked + answered) / 2
        except (PlatformError, KeyError, TypeError, ValueError):
            return self._config()
        self.db.execute(
            "INSERT OR REPLACE INTO meta VALUES ('platform_config', ?)", (_dumps(cached),)
        )
        return cached

    def platform_now(self) -> float:
        """Now by the platform's clock as last read (this device's clock until then)."""
        return time.time() + float(self._config().get("clock_offset_s", 0))

    def sweep_after(self, not_after: int, *, grace_s: int | None = None) -> float:
        """When an unspent voucher valid until ``not_after`` may be swept, platform time:
        its window, the platform's grace period and the margin (``grace_s`` overrides the
        cached grace)."""
        config = self._config()
        grace = config.get("grace_s", DEFAULT_GRACE_S) if grace_s is None else grace_s
        return not_after + grace + config.get("sweep_margin_s", DEFAULT_SWEEP_MARGIN_S)

    def _register(self, client, platform, address, key, certificate, validity_s) -> Voucher:
        try:
            registered = platform.voucher_register(
                certificate=certificate.to_json(), validity_s=validity_s
            )
        except PlatformError as exc:
            if exc.code == "unreachable":
                raise  # still 'issuing': `register` retries later
            self.db.execute(
                "UPDATE vouchers SET state='refused', note=? WHERE address=?",
                (f"{exc.code}: {exc.message}"[:200], address),
            )
            self._reclaim(client, address, key, certificate.order.token)
            raise
        voucher = Voucher.create(
            certificate,
            key,
            not_before=int(registered["not_before"]),
            not_after=int(registered["not_after"]),
            ticket=bytes.fromhex(registered["ticket"][2:]),
        )
        self.db.execute(
            "UPDATE vouchers SET state='active', not_after=?, voucher=? WHERE address=?",
            (
                voucher.body.not_after,
                self.sealer.seal(voucher.to_binary(), address.encode()),
                address,
            ),
        )
        return voucher

    def register_pending(self, client: Any, platform: Any, *, validity_s: int) -> list[str]:
        """Retry the registration of vouchers certified while the platform was down."""
        done = []
        for row in self.vouchers(("issuing",)):
            cert = self.db.execute(
                "SELECT certificate FROM vouchers WHERE address=?", (row.address,)
            ).fetchone()[0]
            if cert is None:
                continue
            certificate = Certificate.from_json(_loads(cert))
            key = self._voucher_key(row.address)
            client.confirm(certificate)
            self._register(client, platform, row.address, key, certificate, validity_s)
            done.append(row.address)
        return done

    def _reclaim(self, client: Any, address: str, key: bytes, token: str) -> int:
        state = client.account_state(address)
        balance = state.balance(token)
        if balance:
            signed = client.sign_order(
                key,
                recipient=self.address,
                token=token,
                amount=balance,
                sequence=state.next_sequence,
            )
            client.confirm(client.certify(signed))
        return balance

    # -------------------------------------------------------------- the platform

    def link_signature(self, username: str) -> str:
        """The EIP-191 signature of the platform's link message for ``username``: proof
        that this wallet holds its address's key (POST /api/v1/offline/account/)."""
        from eth_account import Account
        from eth_account.messages import encode_defunct

        key = self.sealer.open(self._meta("account_key"), b"account")
        message = encode_defunct(text=link_message(self.address, username))
        return "0x" + bytes(Account.sign_message(message, key).signature).hex()

    def defund(self, client: Any, platform: Any, *, token: str, amount: int) -> DefundResult:
        """Online: move ``amount`` (ledger units) from this account to the platform's and
        have the platform credit the user's online balance. The certificate is kept before
        it is handed in, so a platform that does not answer loses nothing: ``defund_resume``
        hands it in again (the platform credits one certificate once)."""
        token = td._address(token, "token")
        self.complete_pending(client)
        recipient = platform.offline_account()["platform_address"]
        if recipient:
            self._remember_platform_address(recipient)
        if not recipient:
            raise WalletError(
                "the platform did not give its FastPay address (no FastPay key configured, "
                "or its committee did not answer): nothing was signed, try again later"
            )
        sequence = client.next_sequence(self.address)
        signed = client.sign_order(
            self.signer, recipient=recipient, token=token, amount=amount, sequence=sequence
        )
        self._journal(signed, "defund")
        certificate = client.certify(signed)
        self._store(certificate, "defund")
        # confirmed at once: the next order from this account needs the next sequence
        client.confirm(certificate)
        return self._defund_hand_in(platform, sequence, amount, certificate.to_json())

    def _remember_platform_address(self, address: str) -> None:
        config = self._config()
        if config.get("platform_address") != address:
            self.db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('platform_config', ?)",
                (_dumps({**config, "platform_address": address}),),
            )

    def defund_resume(self, platform: Any) -> list[DefundResult]:
        """Hand in again the certificates the platform did not take yet."""
        rows = self.db.execute(
            "SELECT sequence, amount, certificate FROM defunds WHERE state='certified' "
            "ORDER BY sequence"
        ).fetchall()
        return [
            self._defund_hand_in(platform, sequence, amount, _loads(certificate))
            for sequence, amount, certificate in rows
        ]

    def _defund_hand_in(self, platform, sequence: int, amount: int, certificate: dict):
        try:
            transfer = platform.defund(
                certificate=certificate, idempotency_key=f"defund-{self.address}-{sequence}"
            )
        except PlatformError as exc:
            if exc.code == "unreachable" or (exc.status or 500) >= 500:
                return DefundResult(sequence, amount, "certified", f"{exc.code}: {exc.message}")
            note = f"{exc.code}: {exc.message}"[:200]
            self.db.execute(
                "UPDATE defunds SET state='refused', note=? WHERE sequence=?", (note, sequence)
            )
            return DefundResult(sequence, amount, "refused", note)
        self.db.execute(
            "UPDATE defunds SET state='done', note=? WHERE sequence=?",
            (str(transfer.get("id", "")), sequence),
        )
        return DefundResult(sequence, amount, "done", str(transfer.get("id", "")))

    def pay(
        self, committee: Committee, *, vendor: str, amount: int, voucher: str | None = None
    ) -> Payment:
        """Offline: pay ``amount`` ledger units to ``vendor`` with one unspent voucher
        (the given one, else the smallest that covers it). A voucher pays once."""
        now = time.time()
        candidates = [
            v
            for v in self.vouchers(("active",))
            if (voucher is None or v.address == voucher)
            and v.amount >= amount
            and (v.not_after or 0) >= now
        ]
        if not candidates:
            raise WalletError(f"no unspent, unexpired voucher of at least {amount} units")
        chosen = min(candidates, key=lambda v: v.amount)
        payment = self.voucher(chosen.address).pay(committee.hasher, vendor=vendor, amount=amount)
        text = payment.to_text()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            updated = self.db.execute(
                "UPDATE vouchers SET state='spent', spent=? WHERE address=? AND state='active'",
                (amount, chosen.address),
            ).rowcount
            if updated != 1:
                raise WalletError("the voucher was spent meanwhile")
            self.db.execute(
                "INSERT INTO payments (voucher, vendor, amount, text, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (chosen.address, payment.vendor, amount, text, int(now)),
            )
        return payment

    def sweep(
        self,
        client: Any,
        *,
        grace_s: int | None = None,
        now: float | None = None,
        force: bool = False,
    ) -> list[SweepResult]:
        """Online: move what is left in vouchers back to this account. A voucher that was
        never registered comes back at once (use ``register_pending`` first to keep it). A
        spent voucher is swept once the vendor's spend is certified (its sequence 0 used);
        an unspent one only after its window, the grace period and the margin
        (``sweep_after``; before that a vendor may still redeem it: reclaiming early is
        what the platform treats as fraud). ``grace_s``: the platform's grace period
        (default: as cached from the platform); ``now``: the platform's time (default:
        this clock corrected by the offset last read from the platform)."""
        now = self.platform_now() if now is None else now
        # an order lost in a crash first (its voucher may be one of those swept below); a
        # committee that does not answer now leaves it for the next operation
        with contextlib.suppress(CommitteeError):
            self.complete_pending(client)
        results = []
        # never registered (refused, or the platform unreachable): no terminal can accept
        # them without a ticket, so their money comes back at once
        for row in self.vouchers(("issuing", "refused")):
            try:
                amount = self._reclaim(
                    client, row.address, self._voucher_key(row.address), row.token
                )
            except Exception as exc:
                results.append(SweepResult(row.address, 0, "failed", str(exc)[:200]))
                continue
            self.db.execute("UPDATE vouchers SET state='swept' WHERE address=?", (row.address,))
            results.append(SweepResult(row.address, amount, "swept" if amount else "nothing_left"))
        for row in self.vouchers(("active", "spent")):
            try:
                results.append(self._sweep_one(client, row, grace_s, now, force))
            except Exception as exc:
                results.append(SweepResult(row.address, 0, "failed", str(exc)[:200]))
        return results

    def _sweep_one(self, client, row: VoucherRow, grace_s: int | None, now: float, force: bool):
        state = client.account_state(row.address)
        balance = state.balance(row.token)
        if state.next_sequence == 0:
            if row.state == "spent" and not force:
                return SweepResult(row.address, 0, "waiting_for_vendor")
            after = self.sweep_after(row.not_after or 0, grace_s=grace_s)
            if now <= after and not force:
                return SweepResult(row.address, 0, "too_early", f"sweepable after {int(after)}")
        if balance == 0:
            if state.next_sequence > 0:
                self.db.execute("UPDATE vouchers SET state='swept' WHERE address=?", (row.address,))
            return SweepResult(row.address, 0, "nothing_left")
        key = self._voucher_key(row.address)
        signed = client.sign_order(
            key,
            recipient=self.address,
            token=row.token,
            amount=balance,
            sequence=state.next_sequence,
        )
        client.confirm(client.certify(signed))
        self.db.execute("UPDATE vouchers SET state='swept' WHERE address=?", (row.address,))
        return SweepResult(row.address, balance, "swept")


@dataclass(frozen=True)
class DefundResult:
    sequence: int
    amount: int  # ledger units
    outcome: str  # done | certified (the platform did not answer: run again) | refused
    detail: str = ""


def _payment(order: td.TransferOrder) -> tuple:
    """What two orders must share to be the same payment (the epoch aside)."""
    return (
        order.sender.lower(),
        order.recipient.lower(),
        order.token.lower(),
        order.amount,
        order.sequence,
    )


def _dumps(data: Any) -> str:
    import json

    return json.dumps(data, separators=(",", ":"))


def _loads(text: str) -> Any:
    import json

    return json.loads(text)
