"""Invariants of the code that an import linter cannot see, checked on the syntax tree.

    python tools/lint_invariants.py [ROOT]      (run by `make lint`; exit 1 on a violation)

1. Balances are written only by the posting service (wallets/services/ledger.py): no other
   module assigns `.balance`, passes `balance=` to a query or `"balance"` to bulk_update,
   creates or changes a `Posting` or `JournalEntry`, or writes those tables in raw SQL. A
   balance changed anywhere else would not come with its postings (or postings without
   their balance), and `ledger_check` would find the drift only afterwards.
2. Row locks are taken only through lock helpers (modules named `locks.py`, and the
   posting service's own `accounts_lock`): `select_for_update(` and raw `FOR UPDATE` SQL
   nowhere else, so the lock mode (FOR NO KEY UPDATE) and the primary-key order that keep
   concurrent writers from deadlocking are decided in one place per kind of row.

Tests, migrations and tools are not scanned: tests corrupt balances on purpose to prove
that `ledger_check` notices.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

PACKAGES = (
    "fastpay",
    "fastpay_protocol",
    "wallets",
    "authorities",
    "offline",
    "fraud",
    "notifications",
)
POSTING_SERVICE = "wallets/services/ledger.py"
LOCK_HELPERS_NAME = "locks.py"
# Modules that still lock inline, each with the reason it has not moved to a helper yet.
# Keep this list short: a new entry needs a reason a reviewer accepts.
LOCK_EXCEPTIONS: dict[str, str] = {}

_RAW_LOCK = re.compile(r"\bFOR\s+(NO\s+KEY\s+)?UPDATE\b", re.IGNORECASE)
_RAW_LEDGER_WRITE = re.compile(
    r"\b(UPDATE|INSERT\s+INTO|DELETE\s+FROM)\s+\"?wallets_(ledgeraccount|posting|journalentry)\b",
    re.IGNORECASE,
)
_QUERY_WRITES = {"update", "create", "get_or_create", "update_or_create", "bulk_create"}
_LEDGER_ROWS = {"Posting", "JournalEntry"}
_ROW_WRITES = _QUERY_WRITES | {"bulk_update", "delete"}


def _violations_in(path: Path, relative: str) -> list[str]:
    tree = ast.parse(path.read_text(), filename=relative)
    found: list[str] = []
    posting = relative == POSTING_SERVICE
    locks_ok = posting or Path(relative).name == LOCK_HELPERS_NAME or relative in LOCK_EXCEPTIONS

    def report(node: ast.AST, message: str) -> None:
        found.append(f"{relative}:{node.lineno}: {message}")

    for node in ast.walk(tree):
        if not posting:
            targets = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr == "balance":
                    report(node, "balance written outside the posting service " + POSTING_SERVICE)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                method = node.func.attr
                if method in _QUERY_WRITES and any(k.arg == "balance" for k in node.keywords):
                    report(node, f"{method}(balance=...) outside the posting service")
                if method == "bulk_update" and _names_balance(node):
                    report(node, 'bulk_update(..., ["balance"]) outside the posting service')
                if method in _ROW_WRITES and _ledger_rows_manager(node.func.value):
                    report(node, f"{method}() of ledger rows outside the posting service")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in _LEDGER_ROWS
            ):
                report(node, f"{node.func.id}(...) built outside the posting service")
            if _is_string(node) and _RAW_LEDGER_WRITE.search(node.value):
                report(node, "raw SQL writes the ledger accounts outside the posting service")
        if not locks_ok:
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "select_for_update"
            ):
                report(node, "select_for_update() outside a lock helper (a locks.py module)")
            if _is_string(node) and _RAW_LOCK.search(node.value) and _looks_like_sql(node.value):
                report(node, "raw FOR UPDATE outside a lock helper (a locks.py module)")
    return found


def _ledger_rows_manager(node: ast.AST) -> bool:
    """`Posting.objects` / `JournalEntry.objects`, possibly after filter() and the like."""
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        node = node.func.value
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "objects"
        and isinstance(node.value, ast.Name)
        and node.value.id in _LEDGER_ROWS
    )


def _is_string(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _looks_like_sql(text: str) -> bool:
    return bool(re.search(r"\bSELECT\b", text, re.IGNORECASE))


def _names_balance(call: ast.Call) -> bool:
    fields = [k.value for k in call.keywords if k.arg == "fields"] + call.args[1:2]
    return any(
        _is_string(element) and element.value == "balance"
        for value in fields
        if isinstance(value, ast.List | ast.Tuple | ast.Set)
        for element in value.elts
    )


def check(root: Path) -> list[str]:
    problems: list[str] = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            if "/migrations/" in relative:
                continue
            problems.extend(_violations_in(path, relative))
    return problems


def stale_exceptions(root: Path) -> list[str]:
    """LOCK_EXCEPTIONS entries that no longer lock inline: remove them from the list."""
    stale = []
    for name in LOCK_EXCEPTIONS:
        path = root / name
        if not path.exists() or "select_for_update(" not in path.read_text():
            stale.append(f"{name}: in LOCK_EXCEPTIONS but takes no inline lock any more")
    return stale


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1]
    problems = check(root) + stale_exceptions(root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} invariant violation(s): see tools/lint_invariants.py")
        return 1
    print("invariants: balances written only by the posting service, locks only in helpers")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
