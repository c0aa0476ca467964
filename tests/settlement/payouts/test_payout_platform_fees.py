"""A payout shows the platform's fees on the money it pays out: the fees charged on the
payments (and parts of split payments) the merchant received since the previous payout,
in the API, in each statement row and in total; the gross is already net of them."""

import csv
import io

import pytest

from settlement.payouts.services import payout_create
from tests.settlement.conftest import TOKENS
from tests.settlement.payouts.conftest import ADDRESSES
from tests.wallets.factories import UserFactory
from wallets.models import MerchantFee
from wallets.services.checks import ledger_check_run
from wallets.services.payment_parts import SplitRequest
from wallets.services.payments import PaymentItem, payment_create, payment_refund

URL = "/api/v1/payouts/"
pytestmark = pytest.mark.usefixtures("policy")


@pytest.fixture
def customer(fund, usdt):
    user = UserFactory(username="customer")
    fund(user, usdt, 1_000)
    return user


@pytest.fixture
def fees(shop, usdt):
    """The shop pays 1% + 0.10, at least 0.20."""
    return MerchantFee.objects.create(
        merchant=shop, token=usdt, bps=100, fixed=TOKENS // 10, minimum=TOKENS // 5
    )


def pay(customer, usdt, amount, **fields):
    return payment_create(
        payer=customer, item=PaymentItem(payee="shop", token=usdt, amount=amount, **fields)
    )


def test_a_payout_shows_the_fees_charged_on_what_it_pays_out(
    shop, customer, usdt, fees, fund, client_for
):
    first = pay(customer, usdt, 100 * TOKENS)  # 1.00 + 0.10
    other = UserFactory(username="partner")
    split = pay(
        customer,
        usdt,
        10 * TOKENS,
        splits=[SplitRequest("shop", bps=5000), SplitRequest("partner", bps=5000)],
    )  # the shop's 5: 0.05 + 0.10 = 0.15 < 0.20, the minimum
    fund(shop, usdt, 3)  # no fee on an adjustment
    refund = payment_refund(payment_id=first.pk, by=shop, amount=TOKENS)  # fee not refunded
    assert (first.fee, split.fee) == (1_100_000, 200_000)
    assert split.splits[1]["payee"] == other.username and split.splits[1]["fee_units"] == 0

    api = client_for(shop)
    created = api.post(URL, {"token": "USDT", "destination": ADDRESSES[0]}, format="json")

    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["platform_fees_units"] == 1_300_000
    assert body["platform_fees"] == "1.300000"
    gross = 100 * TOKENS - 1_100_000 + 5 * TOKENS - 200_000 + 3 * TOKENS - refund.amount
    assert body["gross_units"] == gross
    assert api.get(f"{URL}{body['id']}/").json()["platform_fees_units"] == 1_300_000
    assert api.get(URL).json()["results"][0]["platform_fees_units"] == 1_300_000

    rows = list(
        csv.DictReader(io.StringIO(api.get(f"{URL}{body['id']}/statement.csv").content.decode()))
    )
    by_kind = [(r["kind"], r["platform_fee_units"]) for r in rows if r["posting_id"]]
    assert (
        by_kind
        == [
            ("adjustment", ""),  # the fixture's funding of the shop: none here, so only ...
            ("payment", "1100000"),
            ("payment", "200000"),
            ("adjustment", ""),
            ("refund", ""),
        ][-len(by_kind) :]
    )
    assert ledger_check_run(record=False).drift_count == 0

    # the next payout starts after this one: the fees already shown are not shown again
    pay(customer, usdt, 20 * TOKENS)  # 0.20 + 0.10
    second, _ = payout_create(user=shop, token=usdt, destination=ADDRESSES[0])
    assert api.get(f"{URL}{second.pk}/").json()["platform_fees_units"] == 300_000


def test_a_payout_without_fee_bearing_payments_shows_zero(shop, customer, usdt, client_for):
    pay(customer, usdt, 10 * TOKENS)  # no MerchantFee: no fee

    payout, _ = payout_create(user=shop, token=usdt, destination=ADDRESSES[0])

    body = client_for(shop).get(f"{URL}{payout.pk}/").json()
    assert (body["platform_fees_units"], body["platform_fees"]) == (0, "0.000000")
