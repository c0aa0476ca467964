"""Every privileged function called by a stranger reverts with AccessControlUnauthorizedAccount
(the deployer's own key is refused the same way: test_governance_timelock.py)."""

import brownie
import pytest
from revert_reasons import unauthorized

ONE = "0x" + "00" * 19 + "01"
ORDER = (ONE, ONE, ONE, 1, 0, 1)

ADMIN = "DEFAULT_ADMIN_ROLE"
CASES = [
    ("vault", "addToken", (ONE, 6), ADMIN),
    ("vault", "setDepositsEnabled", (ONE, False), ADMIN),
    ("vault", "depositToPool", (ONE, ONE, 1), "DEPOSITOR_ROLE"),
    ("vault", "withdrawFor", (ONE, ONE, 1, ONE), "DEPOSITOR_ROLE"),
    ("vault", "credit", (ONE, ONE, 1), "PROCESSOR_ROLE"),
    ("vault", "creditBatch", ([0, 1],), "PROCESSOR_ROLE"),
    ("vault", "pause", (), "GUARDIAN_ROLE"),
    ("vault", "unpause", (), ADMIN),
    ("vault", "setMigrationDelay", (3 * 86400,), ADMIN),
    ("vault", "scheduleMigration", (ONE,), ADMIN),
    ("vault", "cancelMigration", (), "GUARDIAN_ROLE"),
    ("vault", "migrateToken", (ONE,), ADMIN),
    ("registry", "pause", (), "GUARDIAN_ROLE"),
    ("registry", "unpause", (), ADMIN),
    ("consensus", "snapshot", (2, [ONE], [1], 2**40), "MANAGER_ROLE"),
    ("consensus", "disqualify", (ONE,), "MANAGER_ROLE"),
    ("consensus", "setSettlementWindow", (7 * 86400,), ADMIN),
    ("consensus", "beginDefaultAdminTransfer", (ONE,), ADMIN),
    ("manager", "registerAuthority", (ONE, "http://x"), ADMIN),
    ("manager", "removeAuthority", (ONE,), ADMIN),
    ("manager", "advanceEpoch", (2**40,), ADMIN),
    ("manager", "setSlashingParameters", (100, ONE), ADMIN),
    ("manager", "setUnbondingPeriod", (30 * 86400,), ADMIN),
    ("manager", "setActivationDelay", (86400,), ADMIN),
    ("manager", "beginDefaultAdminTransfer", (ONE,), ADMIN),
    ("processor", "submitBatch", ([ORDER], [b"\x00"]), "SETTLER_ROLE"),
    ("processor", "submitCommitteeBatch", (1, 0, [b"\x00" * 32] * 2, b""), "SETTLER_ROLE"),
    ("processor", "pause", (), "GUARDIAN_ROLE"),
    ("processor", "unpause", (), ADMIN),
]


@pytest.mark.parametrize(
    ("contract", "function", "args", "role"), CASES, ids=[f"{c}.{f}" for c, f, _, _ in CASES]
)
def test_a_stranger_is_refused(fastpay, stranger, contract, function, args, role):
    target = getattr(fastpay, contract)
    with brownie.reverts(unauthorized(stranger, getattr(target, role)())):
        getattr(target, function)(*args, {"from": stranger})


def test_the_guardian_cannot_administer(fastpay, guardian):
    with brownie.reverts(unauthorized(guardian, fastpay.vault.DEFAULT_ADMIN_ROLE())):
        fastpay.vault.scheduleMigration(ONE, {"from": guardian})


def test_the_settler_cannot_pause(fastpay, settler):
    with brownie.reverts(unauthorized(settler, fastpay.processor.GUARDIAN_ROLE())):
        fastpay.processor.pause({"from": settler})


def test_the_deployer_holds_no_guardian_or_settler_role_it_was_not_given(
    fastpay, admin, guardian, settler
):
    assert not fastpay.processor.hasRole(fastpay.processor.SETTLER_ROLE(), admin)
    assert fastpay.processor.hasRole(fastpay.processor.SETTLER_ROLE(), settler)
    assert not fastpay.vault.hasRole(fastpay.vault.GUARDIAN_ROLE(), admin)
    assert fastpay.vault.hasRole(fastpay.vault.GUARDIAN_ROLE(), guardian)
