"""The test suite's handle on real authority node processes: the helpers live in
authorities.node.processes so that benchmarks use them without importing tests/."""

from authorities.node.processes import (
    ROOT,
    Node,
    certificate_json,
    committee_domain,
    free_port,
    local_committee,
    order_json,
    signed_order_json,
    start_all,
    stop_all,
    write_schedule,
)

__all__ = [
    "ROOT",
    "Node",
    "certificate_json",
    "committee_domain",
    "free_port",
    "local_committee",
    "order_json",
    "signed_order_json",
    "start_all",
    "stop_all",
    "write_schedule",
]
