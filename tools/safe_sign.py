"""Sign a cold-Safe transaction's hash with an owner key, on the owner's own machine.

The key never goes to the server: only the printed 65-byte signature is pasted into the
admin page of the Safe transaction (docs/treasury.md).

  # recompute the hash from the fields the admin page shows, refuse if it differs, sign:
  python tools/safe_sign.py --key-file owner.json --safe 0xSAFE --chain-id 56 --nonce 7 \\
      --to 0xTOKEN --data 0xa9059cbb... --expect 0xSAFE_TX_HASH
  # or sign a hash as given:
  python tools/safe_sign.py --key-file owner.json 0xSAFE_TX_HASH

``--key-file``: an encrypted keystore JSON (geth/Foundry ``cast wallet new``; the password
is asked for on the terminal) or, for development only, a file holding the hex private key.
The signature signs the EIP-712 safeTxHash itself (v 27/28), as ``cast wallet sign
--no-hash`` does.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from eth_account import Account

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from settlement.treasury.safe import SafeTx, safe_tx_hash


def load_key(path: Path) -> bytes:
    text = path.read_text().strip()
    if text.startswith("{"):
        return Account.decrypt(json.loads(text), getpass.getpass(f"password of {path}: "))
    return bytes.fromhex(text.removeprefix("0x"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hash", nargs="?", help="the safeTxHash (when no fields are given)")
    parser.add_argument("--key-file", required=True, type=Path)
    parser.add_argument("--safe")
    parser.add_argument("--chain-id", type=int)
    parser.add_argument("--nonce", type=int)
    parser.add_argument("--to")
    parser.add_argument("--value", type=int, default=0)
    parser.add_argument("--data", default="0x")
    parser.add_argument("--expect", help="the safeTxHash the admin page shows")
    args = parser.parse_args(argv)
    if args.safe:
        if args.chain_id is None or args.nonce is None or not args.to:
            parser.error("--safe needs --chain-id, --nonce and --to")
        tx = SafeTx(
            safe=args.safe,
            chain_id=args.chain_id,
            to=args.to,
            value=args.value,
            data=bytes.fromhex(args.data.removeprefix("0x")),
            nonce=args.nonce,
        )
        digest = safe_tx_hash(tx)
        print(f"safeTxHash 0x{digest.hex()}", file=sys.stderr)
        if args.expect and args.expect.lower() != "0x" + digest.hex():
            print(f"refused: the page shows {args.expect}, the fields hash to 0x{digest.hex()}")
            return 2
    elif args.hash:
        digest = bytes.fromhex(args.hash.removeprefix("0x"))
        if len(digest) != 32:
            parser.error("a safeTxHash is 32 bytes")
    else:
        parser.error("give the hash, or the fields (--safe ...)")
    account = Account.from_key(load_key(args.key_file))
    signed = account.unsafe_sign_hash(digest)
    print(f"owner {account.address}", file=sys.stderr)
    print("0x" + signed.signature.hex().removeprefix("0x"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
