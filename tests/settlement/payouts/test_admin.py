"""The payout queue in admin: pages render; a staff cancel of a pending payout returns
its money, a second one is refused."""

import pytest

from settlement.payouts.models import Payout, PayoutState
from settlement.payouts.services import payout_cancel_by_staff, payout_create, reserved_mismatches
from tests.settlement.conftest import TOKENS
from tests.settlement.payouts.conftest import ADDRESSES
from wallets.models import AccountKind, LedgerAccount
from wallets.services.checks import ledger_check_run

pytestmark = pytest.mark.usefixtures("policy")


def test_admin_pages_and_a_staff_cancel(admin_client, admin_user, shop, fund, usdt, rev1):
    fund(shop, usdt, 12)
    payout, _ = payout_create(user=shop, token=usdt, destination=ADDRESSES[0])
    for url in (
        "/admin/settlement/payout/",
        f"/admin/settlement/payout/{payout.pk}/change/",
        "/admin/settlement/payoutschedule/",
        "/admin/settlement/payoutbatch/",
    ):
        assert admin_client.get(url).status_code == 200, url

    payout_cancel_by_staff(payout_id=payout.pk, staff=rev1, note="merchant asked")
    payout.refresh_from_db()
    assert (payout.state, payout.failure_code) == (PayoutState.FAILED, "staff_cancelled")
    available = LedgerAccount.objects.get(owner=shop, token=usdt, kind=AccountKind.AVAILABLE)
    assert available.balance == 12 * TOKENS
    with pytest.raises(Exception) as refused:
        payout_cancel_by_staff(payout_id=payout.pk, staff=rev1, note="again")
    assert refused.value.code == "payout_not_cancellable"
    with pytest.raises(Exception) as refused:
        payout_cancel_by_staff(payout_id=payout.pk, staff=shop, note="me")
    assert refused.value.code == "approval_forbidden"
    assert Payout.objects.count() == 1
    assert ledger_check_run(record=False).drift_count == 0 and reserved_mismatches() == []
