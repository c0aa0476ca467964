"""Where the apps above wallets plug in (the layers point down: wallets never imports
merchants, settlement or offline). An app registers its callables in its
``AppConfig.ready``; wallets calls whatever is registered.

- ``ledger_checks``: each returns a list of problem dicts for ``ledger_check``
  (e.g. merchants: the INVOICE account equals what open invoices hold).
- ``hooks``: named callables, e.g. "invoice_deposits" (merchants.invoices.chain: chain
  deposits to invoice addresses), looked up with ``hook(name)``.
"""

from __future__ import annotations

from collections.abc import Callable

ledger_checks: list[Callable[[], list[dict]]] = []
hooks: dict[str, Callable] = {}


def ledger_check_register(check: Callable[[], list[dict]]) -> None:
    if check not in ledger_checks:
        ledger_checks.append(check)


def hook_set(name: str, function: Callable) -> None:
    hooks[name] = function


def hook(name: str) -> Callable | None:
    return hooks.get(name)
