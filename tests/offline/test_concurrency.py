"""Real threads against PostgreSQL: one voucher spent at two vendors who sync at the same
instant, and one payment uploaded twice at once. Skipped on the SQLite default (it
serialises every writer)."""

import pytest
from django.db import connection

from offline.models import Redemption, RedemptionState
from offline.services.redemptions import redemptions_sync
from tests.threads import run_threads
from wallets.models import Claim

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row-lock concurrency needs PostgreSQL"
    ),
    pytest.mark.usefixtures("platform_gateway", "allow_all_risk"),
]
UNIT = 1_000_000


@pytest.fixture
def issued(alice, payer_wallet, committee_client, api_platform, usdt):
    wallet = payer_wallet(alice)
    return wallet.issue(
        committee_client,
        api_platform(alice),
        token=usdt.contract_address,
        amount=5 * UNIT,
        validity_s=3600,
    )


def test_two_vendors_syncing_one_voucher_at_once_get_one_redemption(
    issued, vendor_factory, committee
):
    bob, bob_pos = vendor_factory("bob_shop")
    carol, carol_pos = vendor_factory("carol_shop")
    to_bob = issued.pay(committee.hasher, vendor=bob_pos.vendor, amount=UNIT).to_text()
    to_carol = issued.pay(committee.hasher, vendor=carol_pos.vendor, amount=UNIT).to_text()
    results = run_threads(
        [
            lambda: redemptions_sync(vendor=bob, payments=[to_bob]),
            lambda: redemptions_sync(vendor=carol, payments=[to_carol]),
        ]
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    rows = Redemption.objects.filter(voucher__address=issued.address)
    # one spend goes to the committee; the other, accepted in good faith, is covered by the
    # platform (the vendor is always paid) with one claim on the payer
    assert sorted(r.reason for r in rows) == ["", "covered"]
    covered = rows.get(reason="covered")
    assert covered.state == RedemptionState.SETTLED
    assert list(Claim.objects.values_list("reference", flat=True)) == [f"redemption:{covered.pk}"]


def test_one_payment_uploaded_twice_at_once_is_stored_once(issued, vendor_factory, committee):
    vendor, terminal = vendor_factory()
    text = issued.pay(committee.hasher, vendor=terminal.vendor, amount=UNIT).to_text()
    results = run_threads([lambda: redemptions_sync(vendor=vendor, payments=[text])] * 2)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert results[0][0].pk == results[1][0].pk
    assert Redemption.objects.filter(vendor=vendor).count() == 1


def test_two_vouchers_registered_at_once_against_one_balance_hold_it_once(
    alice, payer_wallet, committee_client, usdt
):
    """8 tokens online, two 5-token vouchers registered at the same instant: the
    collateral check runs under the payer's OfflineLimit lock and the accounts' locks, so
    one is registered and the other refused; the balance is never held twice."""
    import os

    from fastpay_protocol import signing
    from offline.errors import CollateralInsufficient
    from offline.models import Voucher
    from offline.services.vouchers import collateral_drift, voucher_register
    from wallets.models import AccountKind
    from wallets.services.checks import ledger_check_run
    from wallets.services.ledger import user_account

    wallet = payer_wallet(alice, online=8)
    certificates = []
    for _ in range(2):
        address = signing.Signer(os.urandom(32)).address
        signed = committee_client.sign_order(
            wallet.signer,
            recipient=address,
            token=usdt.contract_address,
            amount=5 * UNIT,
            sequence=committee_client.next_sequence(wallet.address),
        )
        certificate = committee_client.certify(signed)
        committee_client.confirm(certificate)
        certificates.append(certificate.to_json())

    results = run_threads(
        [
            lambda c=c: voucher_register(user=alice, certificate=c, validity_s=3600)
            for c in certificates
        ]
    )

    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1 and isinstance(refused[0], CollateralInsufficient), results
    assert Voucher.objects.filter(user=alice).count() == 1
    assert user_account(alice, usdt).balance == 3 * UNIT
    assert user_account(alice, usdt, AccountKind.COLLATERAL).balance == 5 * UNIT
    assert ledger_check_run(record=False).drift_count == 0
    assert collateral_drift() == []
