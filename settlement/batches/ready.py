"""Wiring of settlement.batches, called from SettlementConfig.ready (one line there)."""


def ready() -> None:
    # the sender calls back inside the transaction recording a batch's outcome
    from settlement.batches import tasks  # noqa: F401  (the beat task, registered)
    from settlement.batches.services import outcome_hooks_register

    outcome_hooks_register()
