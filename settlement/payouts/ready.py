"""Wiring of settlement.payouts, called from SettlementConfig.ready (one line there)."""


def ready() -> None:
    from settlement.destinations import own_addresses_register
    from settlement.payouts import tasks  # noqa: F401  (the beat tasks, registered)
    from settlement.payouts.services import batch_contract_address, outcome_hooks_register

    outcome_hooks_register()

    def _batch_contract(chain):
        address = batch_contract_address(chain)
        return [address] if address else []

    own_addresses_register(_batch_contract)
