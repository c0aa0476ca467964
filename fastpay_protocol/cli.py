"""Command line for offline payments: ``wallet`` (payer) and ``pos`` (vendor terminal).

    fastpay wallet init --wallet alice.db
    fastpay wallet link --wallet alice.db --platform URL
    fastpay wallet issue --wallet alice.db --platform URL --committee URL --asset 0x... --amount 5
    fastpay wallet pay --wallet alice.db --vendor 0x... --amount 2
    fastpay wallet defund --wallet alice.db --platform URL --committee URL --asset 0x... --amount 1
    fastpay pos init --pos shop.db --platform URL
    fastpay pos accept --pos shop.db FP...
    fastpay pos sync --pos shop.db --platform URL

``fastpay`` is the console script of `pip install ./fastpay_protocol`; from the source
tree, ``python -m fastpay_protocol.cli`` is the same.

Secrets come from the environment: FASTPAY_WALLET_PASSPHRASE (else a prompt) and
FASTPAY_API_TOKEN (the payer's JWT or the vendor's API key). Amounts are decimal text in
whole tokens ("2.50"), converted to ledger units (6 decimals) without floats. docs/offline.md
has a full demo. Exit status: 0 done, 1 refused (the reason code is printed), 2 usage.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from fastpay_protocol.amounts import AmountError, units_parse
from fastpay_protocol.messages import Committee
from fastpay_protocol.offline_api import PlatformClient, PlatformError
from fastpay_protocol.voucher import Refused

LEDGER_DECIMALS = 6


def parse_units(text: str, decimals: int = LEDGER_DECIMALS) -> int:
    """--amount in whole tokens, by the platform's own grammar (fastpay_protocol.amounts)."""
    try:
        return units_parse(text, decimals)
    except AmountError as exc:
        raise argparse.ArgumentTypeError(f"{text[:40]!r}: {exc}") from None


def format_units(units: int, decimals: int = LEDGER_DECIMALS) -> str:
    whole, fraction = divmod(units, 10**decimals)
    return f"{whole}.{fraction:0{decimals}d}".rstrip("0").rstrip(".") if fraction else str(whole)


def _when(unix: int | None) -> str:
    if not unix:
        return "-"
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _passphrase(confirm: bool = False) -> str:
    value = os.environ.get("FASTPAY_WALLET_PASSPHRASE")
    if value:
        return value
    value = getpass.getpass("Wallet passphrase: ")
    if confirm and getpass.getpass("Again: ") != value:
        raise SystemExit("passphrases differ")
    return value


def _platform(args) -> PlatformClient:
    token = os.environ.get("FASTPAY_API_TOKEN", "")
    if not token:
        raise SystemExit("set FASTPAY_API_TOKEN (your JWT, or the vendor's API key)")
    return PlatformClient(args.platform, token)


def _client(committee: Committee):
    from fastpay_protocol.committee import CommitteeClient

    return CommitteeClient(committee, timeout=5)


def write_qr(text: str, path: str) -> None:
    """A PNG QR code of ``text`` (alphanumeric mode: Crockford base32 is all upper case)."""
    import qrcode
    from qrcode.image.pure import PyPNGImage

    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_L, image_factory=PyPNGImage, border=4
    )
    code.add_data(text, optimize=0)
    code.make(fit=True)
    with open(path, "wb") as out:
        code.make_image().save(out)


def _grouped(text: str, size: int = 5) -> str:
    return "-".join(text[i : i + size] for i in range(0, len(text), size))


# ---------------------------------------------------------------------------- wallet


def _open_wallet(args):
    from fastpay_protocol.wallet import Wallet

    return Wallet.open(args.wallet, _passphrase())


def _wallet_committee(wallet) -> Committee:
    row = wallet.db.execute("SELECT value FROM meta WHERE name='committee'").fetchone()
    if row is None:
        raise SystemExit("no committee cached yet: run `wallet issue` once while online")
    return Committee.from_json(json.loads(row[0]))


def _cache_committee(wallet, committee: Committee) -> None:
    wallet.db.execute(
        "INSERT OR REPLACE INTO meta VALUES ('committee', ?)",
        (json.dumps(committee.to_json()).encode(),),
    )


def wallet_init(args) -> int:
    from fastpay_protocol.wallet import Wallet

    key = None
    if args.import_key:
        key = bytes.fromhex(os.environ["FASTPAY_ACCOUNT_KEY"].removeprefix("0x"))
    wallet = Wallet.create(args.wallet, _passphrase(confirm=True), account_key=key)
    print(f"wallet {args.wallet} created")
    print(f"FastPay address: {wallet.address}")
    return 0


def wallet_issue(args) -> int:
    from fastpay_protocol.committee import fetch_committee

    wallet = _open_wallet(args)
    committee = fetch_committee(args.committee)
    _cache_committee(wallet, committee)
    platform = _platform(args)
    with _client(committee) as client:
        try:
            voucher = wallet.issue(
                client, platform, token=args.asset, amount=args.amount, validity_s=args.validity
            )
        except PlatformError as exc:
            print(f"REFUSED {exc.code}: {exc.message}")
            print("(the voucher's funds were swept back to your account)")
            return 1
    body = voucher.body
    print(f"voucher {voucher.address}")
    print(f"  value  {format_units(body.amount)} (token {body.token})")
    print(f"  valid  {_when(body.not_before)} .. {_when(body.not_after)}")
    return 0


def wallet_list(args) -> int:
    wallet = _open_wallet(args)
    print(f"{'voucher':42}  {'value':>10}  {'spent':>10}  {'valid until':20}  state")
    for v in wallet.vouchers():
        print(
            f"{v.address:42}  {format_units(v.amount):>10}  {format_units(v.spent):>10}  "
            f"{_when(v.not_after):20}  {v.state}{'  ' + v.note if v.note else ''}"
        )
    return 0


def wallet_pay(args) -> int:
    """Offline: no network needed (the committee was cached at issue)."""
    from fastpay_protocol.wallet import WalletError

    wallet = _open_wallet(args)
    committee = _wallet_committee(wallet)
    try:
        payment = wallet.pay(
            committee, vendor=args.vendor, amount=args.amount, voucher=args.voucher
        )
    except WalletError as exc:
        print(f"cannot pay: {exc}")
        return 1
    text = payment.to_text()
    print(f"paid {format_units(payment.amount)} to {payment.vendor} from {payment.body.voucher}")
    print(_grouped(text) if args.grouped else text)
    if args.qr:
        write_qr(text, args.qr)
        print(f"QR code: {args.qr}")
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


def wallet_export(args) -> int:
    """The voucher itself (with its key: a bearer note) as text and QR, for backup."""
    wallet = _open_wallet(args)
    text = wallet.voucher(args.voucher).to_text()
    print(_grouped(text) if args.grouped else text)
    if args.qr:
        write_qr(text, args.qr)
        print(f"QR code: {args.qr}")
    return 0


def wallet_sweep(args) -> int:
    """Online: unspent vouchers come back only after their window, the platform's grace
    period and its margin, by the platform's clock (read at each issue, or now with
    --platform); spent ones once the vendor's spend is certified."""
    from fastpay_protocol.committee import fetch_committee

    wallet = _open_wallet(args)
    if args.platform:
        wallet.refresh_config(_platform(args))
    committee = fetch_committee(args.committee)
    with _client(committee) as client:
        results = wallet.sweep(client, grace_s=args.grace, force=args.force)
    for r in results:
        amount = f" {format_units(r.amount)}" if r.amount else ""
        print(f"{r.voucher}  {r.outcome}{amount}{'  ' + r.detail if r.detail else ''}")
    return 0


def wallet_link(args) -> int:
    """Online: link this wallet's FastPay address to your platform account (the platform
    checks a signature by the address's key), so you can fund, defund and issue."""
    wallet = _open_wallet(args)
    platform = _platform(args)
    try:
        username = platform.me()["username"]
        account = platform.link(address=wallet.address, signature=wallet.link_signature(username))
    except PlatformError as exc:
        print(f"REFUSED {exc.code}: {exc.message}")
        return 1
    print(f"linked {account['address']} to user {username}")
    return 0


def wallet_defund(args) -> int:
    """Online: move money from this wallet's FastPay account to your online balance. A
    certificate the platform did not take (it was unreachable) is handed in again first."""
    from fastpay_protocol.committee import fetch_committee
    from fastpay_protocol.committee_errors import CommitteeError
    from fastpay_protocol.wallet import WalletError

    wallet = _open_wallet(args)
    platform = _platform(args)
    results = wallet.defund_resume(platform)
    if args.amount is not None:
        if not args.asset:
            raise SystemExit("--amount needs --asset (the token's contract address)")
        committee = fetch_committee(args.committee)
        with _client(committee) as client:
            try:
                results.append(
                    wallet.defund(client, platform, token=args.asset, amount=args.amount)
                )
            except PlatformError as exc:
                print(f"REFUSED {exc.code}: {exc.message}")
                return 1
            except CommitteeError as exc:
                print(f"REFUSED by the committee: {exc}")
                return 1
            except WalletError as exc:
                print(f"cannot defund: {exc}")
                return 1
    elif not results:
        print("nothing to defund (give --asset and --amount)")
        return 0
    for r in results:
        print(
            f"defund #{r.sequence}  {format_units(r.amount)}  {r.outcome}"
            f"{'  ' + r.detail if r.detail else ''}"
        )
    if any(r.outcome == "certified" for r in results):
        print("the platform did not take a certificate yet: run `wallet defund` again later")
    return 0 if all(r.outcome == "done" for r in results) else 1


# ---------------------------------------------------------------------------- pos


def _terminal_config(args) -> tuple[Committee, tuple[Committee, ...], str, str]:
    """(committee, previous committees, vendor, issuer) from the platform."""
    try:
        config = _platform(args).terminal_config()
        committee = Committee.from_json(config["committee"])
        previous = tuple(Committee.from_json(c) for c in config.get("previous_committees", []))
    except PlatformError as exc:
        raise SystemExit(f"the platform refused: {exc.code}: {exc.message}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise SystemExit(f"the platform's terminal configuration is not usable: {exc}") from None
    return committee, previous, config.get("vendor") or "", config.get("issuer") or ""


def _terminal(path: str):
    from fastpay_protocol.pos import Terminal

    if not Path(path).exists():
        raise SystemExit(f"{path}: no such terminal store (run `pos init` first)")
    try:
        return Terminal(path)
    except ValueError as exc:  # not a configured terminal
        raise SystemExit(str(exc)) from None


def pos_init(args) -> int:
    from fastpay_protocol.pos import Terminal

    if args.platform:
        committee, previous, vendor, issuer = _terminal_config(args)
        vendor, issuer = args.vendor or vendor, args.issuer or issuer
    else:
        from fastpay_protocol.committee import fetch_committee

        committee, previous = fetch_committee(args.committee), ()
        vendor, issuer = args.vendor, args.issuer
    if args.platform and not vendor:
        raise SystemExit(
            "the platform knows no FastPay address for this account: link one first "
            "(`fastpay wallet link`, with the vendor's login) or give --vendor"
        )
    if not vendor or not issuer:
        raise SystemExit("need the vendor address and the ticket issuer (or --platform)")
    Terminal.create(args.pos, vendor=vendor, issuer=issuer, committee=committee, previous=previous)
    print(
        f"terminal {args.pos}: vendor {vendor}, committee epoch {committee.epoch} "
        f"({len(committee.members)} authorities), issuer {issuer}"
    )
    return 0


def pos_refresh(args) -> int:
    """Online: cache the platform's current committee and the previous ones whose
    vouchers are still accepted (after a committee change)."""

    committee, previous, _, issuer = _terminal_config(args)
    terminal = _terminal(args.pos)
    try:
        if issuer and issuer.lower() != terminal.issuer.lower():
            raise SystemExit(
                f"the platform's ticket issuer is {issuer}, this terminal trusts "
                f"{terminal.issuer}: run `pos init` again if that change is expected"
            )
        terminal.update_committee(committee, previous)
    finally:
        terminal.close()
    epochs = ", ".join(str(c.epoch) for c in previous) or "none"
    print(
        f"terminal {args.pos}: committee epoch {committee.epoch} "
        f"({len(committee.members)} authorities); previous epochs still accepted: {epochs}"
    )
    return 0


def pos_accept(args) -> int:
    """Offline: verify and queue one payment."""

    text = Path(args.file).read_text() if args.file else args.payment
    terminal = _terminal(args.pos)
    start = time.perf_counter()
    try:
        queued = terminal.accept(text.strip())
    except Refused as exc:
        print(f"REFUSED {exc.reason}: {exc.message}")
        return 1
    elapsed_ms = (time.perf_counter() - start) * 1000
    print(
        f"ACCEPTED {format_units(queued.amount)} from voucher {queued.voucher} "
        f"(verified offline in {elapsed_ms:.1f} ms; queued)"
    )
    return 0


def pos_queue(args) -> int:

    terminal = _terminal(args.pos)
    print(f"{'accepted':20}  {'voucher':42}  {'amount':>10}  state")
    for p in terminal.payments():
        reason = f" ({p.reason})" if p.reason else ""
        print(
            f"{_when(p.accepted_at):20}  {p.voucher:42}  {format_units(p.amount):>10}  "
            f"{p.state}{reason}"
        )
    return 0


def pos_sync(args) -> int:

    terminal = _terminal(args.pos)
    try:
        counts = terminal.sync(_platform(args))
    except PlatformError as exc:
        print(f"sync failed ({exc.code}): nothing is lost, run it again later")
        return 1
    print("synced: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing"))
    return pos_queue(args)


# ---------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastpay", description=__doc__.split("\n")[0])
    roles = parser.add_subparsers(dest="role", required=True)

    wallet = roles.add_parser("wallet", help="the payer's device").add_subparsers(
        dest="command", required=True
    )

    def wallet_cmd(name, function, help_text):
        sub = wallet.add_parser(name, help=help_text)
        sub.add_argument("--wallet", required=True, help="wallet file (SQLite)")
        sub.set_defaults(function=function)
        return sub

    sub = wallet_cmd("init", wallet_init, "create a wallet with a new FastPay key")
    sub.add_argument("--import-key", action="store_true", help="use $FASTPAY_ACCOUNT_KEY")
    sub = wallet_cmd("issue", wallet_issue, "online: issue a voucher")
    sub.add_argument("--committee", required=True, help="URL of one authority node")
    sub.add_argument("--platform", required=True, help="platform base URL")
    sub.add_argument("--asset", required=True, help="token contract address")
    sub.add_argument("--amount", required=True, type=parse_units, help="whole tokens, e.g. 5")
    sub.add_argument("--validity", type=int, default=24 * 3600, help="seconds (default 1 day)")
    wallet_cmd("list", wallet_list, "list vouchers")
    sub = wallet_cmd("pay", wallet_pay, "offline: pay a vendor with a voucher")
    sub.add_argument("--vendor", required=True, help="the vendor's FastPay address")
    sub.add_argument("--amount", required=True, type=parse_units)
    sub.add_argument("--voucher", help="which voucher (default: the smallest that covers it)")
    sub.add_argument("--qr", help="also write the payment as a QR code PNG")
    sub.add_argument("--out", help="also write the payment string to this file")
    sub.add_argument("--grouped", action="store_true", help="print in groups of 5")
    sub = wallet_cmd("export", wallet_export, "print a voucher (with its key) for backup")
    sub.add_argument("voucher")
    sub.add_argument("--qr")
    sub.add_argument("--grouped", action="store_true")
    sub = wallet_cmd("sweep", wallet_sweep, "online: move unspent remainders back")
    sub.add_argument("--committee", required=True)
    sub.add_argument("--platform", help="platform base URL: read its grace period and clock")
    sub.add_argument(
        "--grace", type=int, help="override the platform's grace period, seconds (default: its own)"
    )
    sub.add_argument("--force", action="store_true", help="reclaim early (vendors lose!)")

    sub = wallet_cmd("link", wallet_link, "online: link this wallet's address to your account")
    sub.add_argument("--platform", required=True, help="platform base URL")
    sub = wallet_cmd("defund", wallet_defund, "online: move money to your online balance")
    sub.add_argument("--platform", required=True, help="platform base URL")
    sub.add_argument("--committee", help="URL of one authority node (with --amount)")
    sub.add_argument("--asset", help="token contract address")
    sub.add_argument(
        "--amount", type=parse_units, help="whole tokens (without: only hand in pending ones)"
    )

    pos = roles.add_parser("pos", help="the vendor's terminal").add_subparsers(
        dest="command", required=True
    )

    def pos_cmd(name, function, help_text):
        sub = pos.add_parser(name, help=help_text)
        sub.add_argument("--pos", required=True, help="terminal store (SQLite)")
        sub.set_defaults(function=function)
        return sub

    sub = pos_cmd("init", pos_init, "online: cache the committee and the ticket issuer")
    sub.add_argument("--platform", help="platform base URL (GET /offline/terminal/)")
    sub.add_argument("--committee", help="or: URL of one authority node")
    sub.add_argument("--vendor", help="or: your FastPay address")
    sub.add_argument("--issuer", help="or: the platform's ticket-signing address")
    sub = pos_cmd("refresh", pos_refresh, "online: cache the committee after a change")
    sub.add_argument("--platform", required=True)
    sub = pos_cmd("accept", pos_accept, "offline: verify and queue a payment")
    sub.add_argument("payment", nargs="?", help="the payment string")
    sub.add_argument("--file", help="read the payment string from a file")
    pos_cmd("queue", pos_queue, "show queued payments and their fate")
    sub = pos_cmd("sync", pos_sync, "online: upload the queue, show each payment's fate")
    sub.add_argument("--platform", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.role == "pos" and args.command == "accept" and not (args.payment or args.file):
        print("give the payment string or --file", file=sys.stderr)
        return 2
    return args.function(args)


if __name__ == "__main__":
    sys.exit(main())
