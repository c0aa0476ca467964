"""settlement._record: every outcome is a compare-and-set on state=PENDING. The settled
ones are written in bulk (lock the rows still PENDING, one executemany): a row another
settlement run wrote meanwhile is left as that run wrote it, and is not announced twice."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from fastpay.models import OutboxEvent
from offline.models import Redemption, RedemptionState, Voucher, VoucherState
from offline.services.settlement import _record
from tests.threads import run_threads

UNIT = 1_000_000


@pytest.fixture
def pending(alice, bob, usdt):
    """make(n) -> n PENDING redemptions of n vouchers of alice's, for vendor bob."""

    def make(n):
        now = timezone.now()
        rows = []
        for i in range(n):
            address = "0x" + uuid.uuid4().hex[:8] + "0" * 32
            voucher = Voucher.objects.create(
                user=alice,
                address=address,
                payer="0x" + "a" * 40,
                token=usdt,
                amount=5 * UNIT,
                sequence=i,
                epoch=1,
                certificate={},
                not_before=now - timedelta(minutes=1),
                not_after=now + timedelta(hours=1),
                ticket="0x",
            )
            rows.append(
                Redemption.objects.create(
                    spend_id=uuid.uuid4().hex,
                    vendor=bob,
                    voucher=voucher,
                    voucher_address=address,
                    amount=UNIT,
                    epoch=1,
                    payment="FP",
                    state=RedemptionState.PENDING,
                )
            )
        return rows

    return make


def settled_events():
    return list(
        OutboxEvent.objects.filter(topic="offline.redemption_settled").values_list(
            "aggregate_id", flat=True
        )
    )


def test_the_settled_rows_get_their_certificate_in_bulk(pending):
    rows = pending(3)
    outcomes = {r.pk: ("settled", "", {"cert": str(r.pk)}) for r in rows[:2]}
    outcomes[rows[2].pk] = ("retry", "", "no quorum")
    counts = {"settled": 0, "flagged": 0, "retry": 0}

    _record(rows, outcomes, counts, {})

    assert counts == {"settled": 2, "flagged": 0, "retry": 1}
    for row in rows[:2]:
        row.refresh_from_db()
        assert (row.state, row.certificate) == ("settled", {"cert": str(row.pk)})
        assert row.settled_at is not None and row.voucher.state == VoucherState.REDEEMED
    rows[2].refresh_from_db()
    assert (rows[2].state, rows[2].attempts, rows[2].last_error) == ("pending", 1, "no quorum")
    assert sorted(settled_events()) == sorted(str(r.pk) for r in rows[:2])


def test_a_row_another_run_settled_meanwhile_is_not_overwritten(pending):
    # given two pending redemptions, one of which another settlement run has just written
    rows = pending(2)
    Redemption.objects.filter(pk=rows[0].pk).update(
        state=RedemptionState.SETTLED, certificate={"by": "the other run"}
    )
    outcomes = {r.pk: ("settled", "", {"by": "this run"}) for r in rows}

    # when this run records its outcomes
    _record(rows, outcomes, {"settled": 0, "flagged": 0, "retry": 0}, {})

    # then only the row still PENDING is this run's, and only it is announced
    assert Redemption.objects.get(pk=rows[0].pk).certificate == {"by": "the other run"}
    assert Redemption.objects.get(pk=rows[1].pk).certificate == {"by": "this run"}
    assert settled_events() == [str(rows[1].pk)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_two_runs_recording_the_same_rows_at_once_settle_each_once(pending):
    rows = pending(40)

    def run(name):
        def record():
            outcomes = {r.pk: ("settled", "", {"by": name}) for r in rows}
            _record(rows, outcomes, {"settled": 0, "flagged": 0, "retry": 0}, {})

        return record

    results = run_threads([run("a"), run("b")])

    assert results == [None, None]
    certificates = [r.certificate for r in Redemption.objects.filter(pk__in=[r.pk for r in rows])]
    assert len(certificates) == 40 and len({c["by"] for c in certificates}) == 1
    assert sorted(settled_events()) == sorted(str(r.pk) for r in rows)


def test_an_unfunded_voucher_has_its_issue_certificate_pushed_then_its_spend_certified(
    pending, monkeypatch
):
    # given a pending spend whose voucher account some authorities have not funded yet
    from eth_utils import to_checksum_address

    from fastpay_protocol import typed_data as td
    from fastpay_protocol.committee_errors import AuthorityFailure, NoQuorum
    from fastpay_protocol.messages import Certificate, Vote
    from offline import committee as offline_committee
    from offline.services.settlement import redemptions_settle

    (row,) = pending(1)
    token = row.voucher.token.contract_address
    issue = Certificate(
        td.TransferOrder("0x" + "a" * 40, row.voucher_address, token, 5 * UNIT, 0, 1),
        bytes(64) + b"\x1b",
        (Vote(to_checksum_address("0x" + "b" * 40), bytes(64) + b"\x1c"),),
    )
    Voucher.objects.filter(pk=row.voucher_id).update(certificate=issue.to_json())
    Redemption.objects.filter(pk=row.pk).update(
        recipient="0x" + "c" * 40, signature="0x" + "11" * 64 + "1b"
    )

    class Committee:
        """certify: insufficient_balance until the issue certificate was confirmed."""

        def __init__(self):
            self.confirmed = []

        def certify_batch(self, signed):
            if not self.confirmed:
                failure = AuthorityFailure("0xb", "refused", "", "insufficient_balance", 409)
                return [NoQuorum("no", failures={"0xb": failure}) for _ in signed]
            return [Certificate(s.order, s.signature, issue.votes) for s in signed]

        def confirm_batch(self, certificates, wait_all=False):
            self.confirmed.append((list(certificates), wait_all))
            return [object() for _ in certificates]

    committee = Committee()
    monkeypatch.setattr(offline_committee, "client", lambda epoch=None: committee)

    # when settlement runs
    counts = redemptions_settle()

    # then the issue certificate went to every authority first, and the spend settled
    assert counts == {"settled": 1, "flagged": 0, "retry": 0}
    (pushed, wait_all), (spends, _) = committee.confirmed
    assert (pushed, wait_all) == ([issue], True)
    assert spends[0].order.sender.lower() == row.voucher_address
    row.refresh_from_db()
    assert row.state == RedemptionState.SETTLED
