"""Platform fees and split payments through POST /api/v1/payments/ (docs/splits.md): the
fee arithmetic, FEES credited in the payment's one entry, the parts' rounding, every bad
split a 4xx naming the part with nothing moved, flagged payments, refunds, replays and
batches."""

import pytest

from fastpay.models import OutboxEvent
from tests.wallets.factories import PendingUserFactory, StaffFactory, UserFactory
from wallets.models import (
    AccountKind,
    EntryKind,
    JournalEntry,
    LedgerAccount,
    MerchantFee,
    Payment,
    PaymentState,
    Posting,
    UserRole,
)
from wallets.services.checks import ledger_check_run
from wallets.services.payment_parts import SplitRequest
from wallets.services.payments import (
    PaymentItem,
    payment_approve,
    payment_create,
    payment_refund,
    payment_reject,
)

URL = "/api/v1/payments/"
T = 1_000_000  # ledger units per token (USDT: ledger_decimals 6)


def balance(user, token, kind=AccountKind.AVAILABLE) -> int:
    account = LedgerAccount.objects.filter(owner=user, token=token, kind=kind).first()
    return account.balance if account else 0


def fees_balance(token) -> int:
    account = LedgerAccount.objects.filter(owner=None, token=token, kind=AccountKind.FEES).first()
    return account.balance if account else 0


def postings_of(payment_id, kind=EntryKind.PAYMENT) -> dict:
    """{owner username or "FEES": amount} of the payment's one entry of this kind."""
    (entry,) = JournalEntry.objects.filter(reference=str(payment_id), kind=kind)
    rows = Posting.objects.filter(entry=entry).select_related("account__owner")
    lines = {}
    for row in rows:
        name = row.account.owner.username if row.account.owner else row.account.kind.upper()
        assert name not in lines, "one line per account"
        lines[name] = row.amount
    assert sum(lines.values()) == 0
    return lines


def books_clean():
    assert ledger_check_run(record=False).drift_count == 0


def pay(client, body, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(URL, {"token": "USDT", **body}, format="json", **headers)


def error_of(response, status=400):
    assert response.status_code == status, response.json()
    return response.json()["error"]["code"], response.json()["error"]["param"]


@pytest.fixture(autouse=True)
def _plain_risk(settings):
    """The minimal large-amount assessor: these tests are about money, not fraud windows
    (a velocity rule would hold some of their repeated payments)."""
    settings.FASTPAY_RISK_ASSESSOR = "wallets.risk.large_amount_review"
    settings.FASTPAY_REVIEW_ABOVE_TOKENS = 10_000


@pytest.fixture
def merchant_fee(usdt):
    def _fee(user, bps=0, fixed=0, minimum=0, token=None):
        return MerchantFee.objects.create(
            merchant=user, token=token or usdt, bps=bps, fixed=fixed, minimum=minimum
        )

    return _fee


@pytest.fixture
def shop(db, merchant_fee):
    """A merchant paying 2.9% + 0.30 USDT, at least 0.50 USDT."""
    user = UserFactory(username="shop", role=UserRole.MERCHANT)
    merchant_fee(user, bps=290, fixed=300_000, minimum=500_000)
    return user


@pytest.fixture
def payer(alice, usdt, fund):
    fund(alice, usdt, 1_000)
    return alice


@pytest.fixture
def market(db):
    courier = UserFactory(username="courier", role=UserRole.VENDOR)
    restaurant = UserFactory(username="restaurant", role=UserRole.MERCHANT)
    marketplace = UserFactory(username="marketplace", role=UserRole.MERCHANT)
    return courier, restaurant, marketplace


class TestFees:
    def test_the_payee_receives_the_amount_less_bps_plus_fixed_fees_in_one_entry(
        self, payer, shop, usdt, client_for
    ):
        response = pay(client_for(payer), {"payee": "shop", "amount": "100.00"})

        assert response.status_code == 201, response.json()
        body = response.json()
        # ceil(100 * 2.9%) + 0.30 = 3.20
        assert (body["fee"], body["fee_units"], body["splits"]) == ("3.200000", 3_200_000, [])
        assert postings_of(body["id"]) == {
            "alice": -100 * T,
            "shop": 96_800_000,
            "FEES": 3_200_000,
        }
        assert balance(shop, usdt) == 96_800_000
        assert fees_balance(usdt) == 3_200_000
        assert Payment.objects.get(pk=body["id"]).fee == 3_200_000
        books_clean()

    def test_the_proportional_part_rounds_up(self, payer, usdt, merchant_fee, bob, client_for):
        merchant_fee(bob, bps=1)  # 0.01% of 1.000001 USDT = 100.0001 units -> 101

        body = pay(client_for(payer), {"payee": "bob", "amount": "1.000001"}).json()

        assert body["fee_units"] == 101
        assert balance(bob, usdt) == 1_000_001 - 101

    def test_a_small_payment_pays_the_minimum(self, payer, shop, usdt, client_for):
        body = pay(client_for(payer), {"payee": "shop", "amount": "1.00"}).json()

        assert body["fee_units"] == 500_000  # 0.029 + 0.30 < 0.50
        assert balance(shop, usdt) == 500_000

    def test_a_fee_equal_to_the_amount_leaves_the_payee_nothing(
        self, payer, shop, usdt, client_for
    ):
        response = pay(client_for(payer), {"payee": "shop", "amount": "0.50"})

        assert response.status_code == 201, response.json()
        assert response.json()["fee_units"] == 500_000
        assert postings_of(response.json()["id"]) == {"alice": -500_000, "FEES": 500_000}
        assert balance(shop, usdt) == 0
        books_clean()

    def test_a_fee_larger_than_the_amount_is_refused_and_nothing_moves(
        self, payer, shop, usdt, client_for
    ):
        response = pay(client_for(payer), {"payee": "shop", "amount": "0.49"})

        assert error_of(response) == ("fee_exceeds_amount", "amount")
        assert balance(payer, usdt) == 1_000 * T
        assert fees_balance(usdt) == 0
        assert not Payment.objects.exists()
        assert not JournalEntry.objects.filter(kind=EntryKind.PAYMENT).exists()
        assert not OutboxEvent.objects.filter(topic__startswith="payment.").exists()

    def test_no_fee_row_or_a_row_in_another_token_means_no_fee(
        self, payer, bob, usdt, usdc, merchant_fee, client_for
    ):
        merchant_fee(bob, bps=500, token=usdc)

        body = pay(client_for(payer), {"payee": "bob", "amount": "10"}).json()

        assert body["fee_units"] == 0
        assert postings_of(body["id"]) == {"alice": -10 * T, "bob": 10 * T}
        assert fees_balance(usdt) == 0

    def test_the_events_carry_the_fee(self, payer, shop, client_for):
        pay(client_for(payer), {"payee": "shop", "amount": "100"})

        event = OutboxEvent.objects.get(topic="payment.succeeded")
        assert event.payload["fee_units"] == 3_200_000
        assert event.payload["fee"] == "3.200000"
        assert event.payload["splits"] == []


class TestFlaggedPayments:
    @pytest.fixture
    def flagged(self, payer, shop, usdt, settings):
        settings.FASTPAY_REVIEW_ABOVE_TOKENS = 50
        payment = payment_create(
            payer=payer, item=PaymentItem(payee="shop", token=usdt, amount=100 * T)
        )
        assert payment.state == PaymentState.FLAGGED
        return payment

    def test_the_fee_is_fixed_at_creation_and_charged_at_release(
        self, flagged, payer, shop, usdt, reviewer
    ):
        assert flagged.fee == 3_200_000
        (hold,) = JournalEntry.objects.filter(reference=str(flagged.pk), kind=EntryKind.HOLD)
        assert sorted(hold.postings.values_list("amount", flat=True)) == [-100 * T, 100 * T]
        assert fees_balance(usdt) == 0  # held, not charged
        MerchantFee.objects.filter(merchant=shop).update(bps=0, fixed=0, minimum=0)

        payment = payment_approve(payment_id=flagged.pk, by=reviewer, note="ok")

        assert payment.state == PaymentState.SUCCESS and payment.fee == 3_200_000
        lines = postings_of(flagged.pk, EntryKind.RELEASE)
        assert lines == {"alice": -100 * T, "shop": 96_800_000, "FEES": 3_200_000}
        assert balance(payer, usdt, AccountKind.HELD) == 0
        books_clean()

    def test_a_rejected_payment_charges_no_fee(self, flagged, payer, usdt, reviewer):
        payment = payment_reject(payment_id=flagged.pk, by=reviewer, note="no")

        assert payment.state == PaymentState.FAILED
        payment.refresh_from_db()
        assert payment.fee == 0
        assert balance(payer, usdt) == 1_000 * T
        assert fees_balance(usdt) == 0
        event = OutboxEvent.objects.get(topic="payment.rejected")
        assert event.payload["fee_units"] == 0
        books_clean()


class TestRefunds:
    @pytest.fixture
    def paid(self, payer, shop, usdt):
        return payment_create(
            payer=payer, item=PaymentItem(payee="shop", token=usdt, amount=100 * T)
        )

    def refund(self, client, payment, amount=None):
        body = {} if amount is None else {"amount": amount}
        return client.post(f"{URL}{payment.pk}/refunds/", body, format="json")

    def test_a_full_refund_returns_what_the_payee_received_the_fee_is_kept(
        self, paid, payer, shop, usdt, client_for
    ):
        response = self.refund(client_for(shop), paid)

        assert response.status_code == 201, response.json()
        assert response.json()["amount_units"] == 96_800_000
        assert balance(shop, usdt) == 0
        assert balance(payer, usdt) == 1_000 * T - 3_200_000
        assert fees_balance(usdt) == 3_200_000
        paid.refresh_from_db()
        assert paid.refunded_amount == 96_800_000
        books_clean()

    def test_a_refund_above_what_the_payee_received_is_refused(self, paid, shop, client_for):
        response = self.refund(client_for(shop), paid, "96.800001")

        assert error_of(response) == ("refund_exceeds_payment", "amount")
        assert "fee" in response.json()["error"]["message"]
        assert self.refund(client_for(shop), paid, "96.8").status_code == 201
        assert error_of(self.refund(client_for(shop), paid))[0] == "refund_exceeds_payment"

    def test_a_payment_the_fee_took_entirely_has_nothing_to_refund(
        self, payer, shop, usdt, client_for
    ):
        payment = payment_create(
            payer=payer, item=PaymentItem(payee="shop", token=usdt, amount=500_000)
        )

        response = self.refund(client_for(shop), payment)

        assert error_of(response) == ("refund_exceeds_payment", None)
        assert balance(shop, usdt) == 0


class TestSplits:
    def test_fixed_parts_first_then_basis_points_each_part_pays_its_payees_fee(
        self, payer, market, usdt, merchant_fee, client_for
    ):
        restaurant = market[1]
        merchant_fee(restaurant, bps=100)  # 1%
        response = pay(
            client_for(payer),
            {
                "amount": "100.00",
                "splits": [
                    {"payee": "courier", "amount": "10.00"},
                    {"payee": "Restaurant", "bps": 8000},
                    {"payee": "marketplace", "bps": 2000},
                ],
            },
        )

        assert response.status_code == 201, response.json()
        body = response.json()
        assert body["payee"] == "courier"  # the first part's
        assert body["fee_units"] == 720_000
        assert [
            (p["payee"], p["gross_units"], p["fee_units"], p["units"]) for p in body["splits"]
        ] == [
            ("courier", 10 * T, 0, 10 * T),
            ("restaurant", 72 * T, 720_000, 71_280_000),
            ("marketplace", 18 * T, 0, 18 * T),
        ]
        assert body["splits"][1]["amount"] == "71.280000"
        assert [p["bps"] for p in body["splits"]] == [None, 8000, 2000]
        assert postings_of(body["id"]) == {
            "alice": -100 * T,
            "courier": 10 * T,
            "restaurant": 71_280_000,
            "marketplace": 18 * T,
            "FEES": 720_000,
        }
        assert [balance(u, usdt) for u in market] == [10 * T, 71_280_000, 18 * T]
        event = OutboxEvent.objects.get(topic="payment.succeeded")
        assert [p["units"] for p in event.payload["splits"]] == [10 * T, 71_280_000, 18 * T]
        books_clean()

    def test_the_remainder_goes_to_the_largest_remainder_ties_to_the_first_listed(
        self, payer, market, client_for
    ):
        client = client_for(payer)
        thirds = [
            {"payee": "courier", "bps": 3333},
            {"payee": "restaurant", "bps": 3334},
            {"payee": "marketplace", "bps": 3333},
        ]
        body = pay(client, {"amount": "0.000100", "splits": thirds}).json()
        assert [p["units"] for p in body["splits"]] == [33, 34, 33]  # 33.33 / 33.34 / 33.33

        halves = [{"payee": "restaurant", "bps": 5000}, {"payee": "courier", "bps": 5000}]
        body = pay(client, {"amount": "0.000101", "splits": halves}).json()
        assert [(p["payee"], p["units"]) for p in body["splits"]] == [
            ("restaurant", 51),
            ("courier", 50),
        ]

    def test_fixed_parts_alone_must_sum_to_the_amount(self, payer, market, client_for):
        parts = [{"payee": "courier", "amount": "4"}, {"payee": "restaurant", "amount": "6"}]
        assert pay(client_for(payer), {"amount": "10", "splits": parts}).status_code == 201

    @pytest.mark.parametrize(
        ("splits", "param"),
        [
            # basis points over 10,000 (one part)
            (
                [{"payee": "courier", "bps": 5000}, {"payee": "restaurant", "bps": 10_001}],
                "splits[1].bps",
            ),
            ([{"payee": "courier", "bps": 0}], "splits[0].bps"),
            # the basis points do not add up to 10,000
            ([{"payee": "courier", "bps": 5000}, {"payee": "restaurant", "bps": 4000}], "splits"),
            # fixed parts alone not summing to the amount
            (
                [{"payee": "courier", "amount": "4"}, {"payee": "restaurant", "amount": "5"}],
                "splits",
            ),
            # fixed parts exceeding the amount
            (
                [{"payee": "courier", "amount": "11"}, {"payee": "restaurant", "bps": 10_000}],
                "splits",
            ),
            # a part with both, or neither
            ([{"payee": "courier", "amount": "10", "bps": 10_000}], "splits[0]"),
            ([{"payee": "courier"}], "splits[0]"),
            # the same payee twice
            (
                [{"payee": "courier", "bps": 5000}, {"payee": "COURIER", "bps": 5000}],
                "splits[1].payee",
            ),
            # a part rounding to nothing (0.000001 USDT in halves: 1 and 0 units)
            ("tiny", "splits[1]"),
        ],
    )
    def test_bad_splits_are_a_400_invalid_split_naming_the_part_and_nothing_moves(
        self, payer, market, usdt, client_for, splits, param
    ):
        amount = "10"
        if splits == "tiny":
            amount = "0.000001"
            splits = [{"payee": "courier", "bps": 5000}, {"payee": "restaurant", "bps": 5000}]

        response = pay(client_for(payer), {"amount": amount, "splits": splits})

        assert error_of(response) == ("invalid_split", param)
        assert balance(payer, usdt) == 1_000 * T
        assert not Payment.objects.exists()

    @pytest.mark.parametrize(
        ("name", "status", "code"),
        [
            ("nobody", 400, "unknown_payee"),
            ("alice", 400, "self_payment"),
            ("staffer", 400, "staff_payee"),
            ("newbie", 403, "account_not_approved"),
        ],
    )
    def test_each_parts_payee_is_checked_as_a_payee(
        self, payer, market, usdt, client_for, name, status, code
    ):
        StaffFactory(username="staffer", group="reviewer")
        PendingUserFactory(username="newbie")
        splits = [{"payee": "courier", "bps": 5000}, {"payee": name, "bps": 5000}]

        response = pay(client_for(payer), {"amount": "10", "splits": splits})

        assert error_of(response, status) == (code, "splits[1].payee")
        assert balance(payer, usdt) == 1_000 * T
        assert sum(balance(u, usdt) for u in market) == 0

    def test_a_part_whose_fee_exceeds_it_refuses_the_whole_payment(
        self, payer, market, usdt, merchant_fee, client_for
    ):
        courier, restaurant, _ = market
        merchant_fee(restaurant, minimum=2 * T)
        splits = [{"payee": "courier", "amount": "9"}, {"payee": "restaurant", "amount": "1"}]

        response = pay(client_for(payer), {"amount": "10", "splits": splits})

        assert error_of(response) == ("fee_exceeds_amount", "splits[1].amount")
        assert balance(courier, usdt) == 0 and balance(payer, usdt) == 1_000 * T

    @pytest.mark.parametrize(
        ("body", "code", "param"),
        [
            (
                {"payee": "courier", "splits": [{"payee": "restaurant", "bps": 10_000}]},
                "invalid_split",
                "splits",
            ),
            ({}, "required", "payee"),
            ({"splits": []}, "min_length", "splits"),
            ({"splits": [{"payee": "courier", "bps": "10000"}]}, "not_an_integer", "splits[0].bps"),
            (
                {"splits": [{"payee": "courier", "bps": 10_000.0}]},
                "not_an_integer",
                "splits[0].bps",
            ),
            ({"splits": [{"payee": "courier", "amount": 10}]}, "not_a_string", "splits[0].amount"),
            (
                {"splits": [{"payee": "courier", "amount": "0.0000001"}]},
                "invalid_amount",
                "splits[0].amount",
            ),
            (
                {"splits": [{"payee": "courier", "bps": 10_000, "x": 1}]},
                "unknown_field",
                "splits[0].x",
            ),
        ],
    )
    def test_malformed_split_requests_are_a_400_naming_the_field(
        self, payer, market, client_for, body, code, param
    ):
        response = pay(client_for(payer), {"amount": "10", **body})

        assert error_of(response) == (code, param)

    def test_a_replay_with_the_same_key_returns_the_same_payment(
        self, payer, market, usdt, client_for
    ):
        client = client_for(payer)
        splits = [{"payee": "courier", "bps": 2500}, {"payee": "restaurant", "bps": 7500}]
        first = pay(client, {"amount": "10", "splits": splits}, key="order-1")
        again = pay(client, {"amount": "10", "splits": splits}, key="order-1")

        assert first.status_code == 201 and again.status_code == 201
        assert again.json()["id"] == first.json()["id"]
        assert Payment.objects.count() == 1
        other = [{"payee": "courier", "bps": 5000}, {"payee": "restaurant", "bps": 5000}]
        refused = pay(client, {"amount": "10", "splits": other}, key="order-1")
        assert error_of(refused, 409)[0] == "idempotency_error"
        assert balance(payer, usdt) == 990 * T

    def test_the_service_refuses_a_key_reused_for_other_parts(self, payer, market, usdt):
        parts = [SplitRequest("courier", bps=2500), SplitRequest("restaurant", bps=7500)]
        item = PaymentItem(payee="", token=usdt, amount=10 * T, splits=parts, idempotency_key="k")
        first = payment_create(payer=payer, item=item)
        assert payment_create(payer=payer, item=item).pk == first.pk

        for changed in (
            [SplitRequest("courier", bps=7500), SplitRequest("restaurant", bps=2500)],
            [SplitRequest("restaurant", bps=2500), SplitRequest("courier", bps=7500)],
            [SplitRequest("courier", units=2_500_000), SplitRequest("restaurant", bps=10_000)],
            None,
        ):
            retry = PaymentItem(
                payee="courier", token=usdt, amount=10 * T, splits=changed, idempotency_key="k"
            )
            with pytest.raises(Exception) as refused:
                payment_create(payer=payer, item=retry)
            assert refused.value.code == "idempotency_error"

    def test_every_payee_sees_the_payment_and_refunds_only_its_own_part(
        self, payer, market, usdt, merchant_fee, client_for
    ):
        restaurant = market[1]
        merchant_fee(restaurant, bps=100)
        splits = [
            {"payee": "courier", "amount": "10"},
            {"payee": "restaurant", "bps": 8000},
            {"payee": "marketplace", "bps": 2000},
        ]
        payment_id = pay(client_for(payer), {"amount": "100", "splits": splits}).json()["id"]
        client = client_for(restaurant)

        assert client.get(f"{URL}{payment_id}/").status_code == 200
        refund = client.post(f"{URL}{payment_id}/refunds/", {}, format="json")

        assert refund.status_code == 201, refund.json()
        assert refund.json()["amount_units"] == 71_280_000  # its part less its fee
        assert [balance(u, usdt) for u in market] == [10 * T, 0, 18 * T]
        assert balance(payer, usdt) == 900 * T + 71_280_000
        payment = Payment.objects.get(pk=payment_id)
        assert [p["refunded_units"] for p in payment.splits] == [0, 71_280_000, 0]
        again = client.post(f"{URL}{payment_id}/refunds/", {"amount": "0.01"}, format="json")
        assert error_of(again)[0] == "refund_exceeds_payment"
        assert (
            client_for(UserFactory(username="outsider")).get(f"{URL}{payment_id}/").status_code
            == 404
        )
        books_clean()

    def test_a_staff_refund_is_shared_among_the_parts_by_what_each_has_left(
        self, payer, market, usdt, operator
    ):
        parts = [
            SplitRequest("courier", units=1),
            SplitRequest("restaurant", bps=5000),
            SplitRequest("marketplace", bps=5000),
        ]
        payment = payment_create(
            payer=payer, item=PaymentItem(payee="", token=usdt, amount=10 * T, splits=parts)
        )
        # 1 fixed, then 9.999999 in halves: the unit left over to the first listed
        shares = [p["units"] for p in Payment.objects.get(pk=payment.pk).splits]
        assert shares == [1, 5_000_000, 4_999_999]

        refund = payment_refund(payment_id=payment.pk, by=operator, amount=5 * T, as_staff=True)

        lines = postings_of(payment.pk, EntryKind.REFUND)
        # 5 of 10 left, in proportion to 1 / 5_000_000 / 4_999_999: 0.5 / 2_500_000 /
        # 2_499_999.5; the unit left over goes to a largest remainder, the first listed
        assert lines == {
            "alice": 5 * T,
            "courier": -1,
            "restaurant": -2_500_000,
            "marketplace": -2_499_999,
        }
        assert refund.amount == 5 * T
        rest = payment_refund(payment_id=payment.pk, by=operator, as_staff=True)
        assert rest.amount == 5 * T
        assert [balance(u, usdt) for u in market] == [0, 0, 0]
        assert balance(payer, usdt) == 1_000 * T
        books_clean()

    def test_a_flagged_split_payment_pays_every_part_at_release(
        self, payer, market, usdt, merchant_fee, reviewer, settings
    ):
        settings.FASTPAY_REVIEW_ABOVE_TOKENS = 50
        merchant_fee(market[0], fixed=100_000)
        parts = [SplitRequest("courier", bps=5000), SplitRequest("restaurant", bps=5000)]
        payment = payment_create(
            payer=payer, item=PaymentItem(payee="", token=usdt, amount=100 * T, splits=parts)
        )
        assert payment.state == PaymentState.FLAGGED and payment.fee == 100_000

        payment_approve(payment_id=payment.pk, by=reviewer)

        assert postings_of(payment.pk, EntryKind.RELEASE) == {
            "alice": -100 * T,
            "courier": 49_900_000,
            "restaurant": 50 * T,
            "FEES": 100_000,
        }
        books_clean()


class TestBatches:
    def body(self, n):
        items = []
        for i in range(n):
            if i % 2:
                items.append({"payee": "shop", "token": "USDT", "amount": "10"})
            else:
                items.append(
                    {
                        "token": "USDT",
                        "amount": "10",
                        "splits": [
                            {"payee": "shop", "bps": 6000},
                            {"payee": "courier", "bps": 4000},
                        ],
                        "idempotency_key": f"item-{n}-{i}",
                    }
                )
        return {"payments": items}

    def test_a_batch_mixes_single_and_split_payments_with_fees(
        self, payer, shop, market, usdt, client_for
    ):
        response = client_for(payer).post(f"{URL}batch/", self.body(4), format="json")

        assert response.status_code == 200, response.json()
        body = response.json()
        assert body["succeeded"] == 4, body
        # single 10 to shop: 0.29 + 0.30 = 0.59; split: shop's 6 -> 0.174 + 0.30 = 0.50 (min)
        assert [r["payment"]["fee_units"] for r in body["results"]] == [
            500_000,
            590_000,
            500_000,
            590_000,
        ]
        assert fees_balance(usdt) == 2_180_000
        assert balance(shop, usdt) + balance(market[0], usdt) + fees_balance(usdt) == 40 * T
        books_clean()

    def test_a_bigger_batch_makes_no_more_queries(self, payer, shop, market, client_for):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        client = client_for(payer)
        client.post(f"{URL}batch/", self.body(2), format="json")  # accounts exist now
        with CaptureQueriesContext(connection) as small:
            assert client.post(f"{URL}batch/", self.body(4), format="json").json()["failed"] == 0
        with CaptureQueriesContext(connection) as big:
            assert client.post(f"{URL}batch/", self.body(40), format="json").json()["failed"] == 0

        assert len(big.captured_queries) <= len(small.captured_queries), [
            q["sql"][:120] for q in big.captured_queries
        ]


class TestStatement:
    def lines(self, client, **params):
        response = client.get("/api/v1/ledger/statement/", params)
        assert response.status_code == 200, response.json()
        return response.json()["results"]

    def test_payment_lines_show_the_fee_as_it_concerns_each_party(
        self, payer, shop, market, usdt, merchant_fee, client_for
    ):
        restaurant = market[1]
        merchant_fee(restaurant, bps=100)
        single = pay(client_for(payer), {"payee": "shop", "amount": "100"}).json()
        splits = [{"payee": "restaurant", "bps": 8000}, {"payee": "courier", "bps": 2000}]
        split = pay(client_for(payer), {"amount": "50", "splits": splits}).json()

        (shop_line,) = self.lines(client_for(shop))
        assert (shop_line["reference"], shop_line["amount_units"]) == (single["id"], 96_800_000)
        assert (shop_line["fee_units"], shop_line["fee"]) == (3_200_000, "3.200000")
        (restaurant_line,) = self.lines(client_for(restaurant))
        assert (restaurant_line["amount_units"], restaurant_line["fee_units"]) == (
            39_600_000,
            400_000,
        )
        (courier_line,) = self.lines(client_for(market[0]))
        assert (courier_line["amount_units"], courier_line["fee_units"]) == (10 * T, 0)
        mine = {line["reference"]: line for line in self.lines(client_for(payer))}
        # the payer sees each payment's whole fee (it came out of their amount) ...
        assert mine[single["id"]]["fee_units"] == 3_200_000
        assert mine[split["id"]]["fee_units"] == 400_000
        # ... and entries without a fee show none
        (funding,) = [line for line in mine.values() if line["kind"] == "adjustment"]
        assert (funding["fee_units"], funding["fee"]) == (None, None)

    def test_a_released_payment_shows_its_fee_and_the_hold_none(
        self, payer, shop, usdt, reviewer, settings, client_for
    ):
        settings.FASTPAY_REVIEW_ABOVE_TOKENS = 50
        payment = payment_create(
            payer=payer, item=PaymentItem(payee="shop", token=usdt, amount=100 * T)
        )
        payment_approve(payment_id=payment.pk, by=reviewer)

        fees = {
            (line["kind"], line["account"], line["amount_units"]): line["fee_units"]
            for line in self.lines(client_for(payer), token="USDT")
            if line["reference"] == str(payment.pk)
        }
        assert fees == {
            ("hold", "available", -100 * T): None,
            ("hold", "held", 100 * T): None,
            ("release", "held", -100 * T): 3_200_000,
        }
        (shop_line,) = self.lines(client_for(shop))
        assert (shop_line["kind"], shop_line["fee_units"]) == ("release", 3_200_000)

    def test_a_page_of_the_statement_costs_the_same_queries_with_fees(
        self, payer, shop, usdt, client_for
    ):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        client = client_for(payer)
        item = PaymentItem(payee="shop", token=usdt, amount=T)
        payment_create(payer=payer, item=item)
        with CaptureQueriesContext(connection) as one:
            assert len(self.lines(client)) == 2
        fund_line = self.lines(client)[-1]
        for _ in range(10):
            payment_create(payer=payer, item=PaymentItem(payee="shop", token=usdt, amount=T))
        with CaptureQueriesContext(connection) as many:
            lines = self.lines(client)
        assert len(lines) >= 12 and fund_line["fee_units"] is None
        assert {line["fee_units"] for line in lines if line["kind"] == "payment"} == {500_000}
        assert len(many.captured_queries) == len(one.captured_queries)
