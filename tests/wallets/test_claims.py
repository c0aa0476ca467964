"""Claims on users (wallets.services.claims): the platform pays on a user's behalf (an
offline cover), holds a claim and recovers it from the user's balance; RECEIVABLE stays
equal to minus the open claims."""

from itertools import count

import pytest
from django.db import IntegrityError, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastpay.models import OutboxEvent
from tests.wallets.factories import UserFactory
from wallets.models import AccountKind, Claim, EntryKind, JournalEntry, LedgerAccount, Token
from wallets.services.adjustments import NotAnOperator, ReasonRequired, ledger_adjust
from wallets.services.checks import ledger_check_run
from wallets.services.claims import (
    ClaimClosed,
    Cover,
    claim_write_off,
    claims_recover,
    claims_recover_all,
    covers_post,
)
from wallets.services.ledger import user_account
from wallets.tasks import claims_recover_task

UNIT = 1_000_000
_keys = count()


def credit(user, token, units):
    ledger_adjust(
        user=user,
        token=token,
        amount=units,
        reason="test",
        operator=None,
        idempotency_key=f"claims-test-{next(_keys)}",
    )


def available(user, token) -> int:
    return user_account(user, token).balance


def receivable(token) -> int:
    account = LedgerAccount.objects.filter(owner=None, token=token, kind=AccountKind.RECEIVABLE)
    return account.first().balance if account.exists() else 0


def cover(debtor, payee, token, amount, reference):
    with transaction.atomic():
        return covers_post([Cover(debtor, payee, token, amount, reference)])[0]


@pytest.fixture
def usdt(db):
    return Token.objects.get(symbol="USDT")


def test_a_cover_pays_the_payee_and_recovers_what_the_debtor_has(alice, bob, usdt):
    credit(alice, usdt, 2 * UNIT)

    claim = cover(alice, bob, usdt, 5 * UNIT, "redemption:one")

    assert available(bob, usdt) == 5 * UNIT
    assert available(alice, usdt) == 0
    assert (claim.amount, claim.recovered, claim.outstanding) == (5 * UNIT, 2 * UNIT, 3 * UNIT)
    assert receivable(usdt) == -3 * UNIT
    kinds = set(JournalEntry.objects.values_list("kind", flat=True))
    assert {EntryKind.OFFLINE_COVER, EntryKind.CLAIM_RECOVERY} <= kinds
    assert OutboxEvent.objects.filter(topic="claim.opened").count() == 1
    assert OutboxEvent.objects.get(topic="claim.recovered").payload["outstanding_units"] == (
        3 * UNIT
    )
    assert ledger_check_run(record=False).drift_count == 0


def test_the_same_thing_is_covered_once_and_a_second_try_changes_nothing(alice, bob, usdt):
    cover(alice, bob, usdt, UNIT, "redemption:once")

    with pytest.raises(IntegrityError):
        cover(alice, bob, usdt, UNIT, "redemption:once")

    assert available(bob, usdt) == UNIT
    assert Claim.objects.count() == 1
    assert ledger_check_run(record=False).drift_count == 0


def test_open_claims_are_recovered_oldest_first_when_money_arrives(alice, bob, usdt):
    first = cover(alice, bob, usdt, 2 * UNIT, "redemption:a")
    second = cover(alice, bob, usdt, 3 * UNIT, "redemption:b")
    credit(alice, usdt, 4 * UNIT)

    assert claims_recover(user=alice, token=usdt) == 4 * UNIT

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.outstanding, second.outstanding) == (0, UNIT)
    assert available(alice, usdt) == 0
    assert receivable(usdt) == -UNIT
    assert claims_recover(user=alice, token=usdt) == 0  # nothing left to take
    assert ledger_check_run(record=False).drift_count == 0


def test_the_beat_task_recovers_every_debtor(alice, bob, stranger, usdt):
    cover(alice, stranger, usdt, UNIT, "redemption:alice")
    cover(bob, stranger, usdt, 2 * UNIT, "redemption:bob")
    credit(alice, usdt, 5 * UNIT)
    credit(bob, usdt, UNIT)

    assert claims_recover_task.delay().get() == 2 * UNIT

    assert available(alice, usdt) == 4 * UNIT
    assert available(bob, usdt) == 0
    assert receivable(usdt) == -UNIT
    assert ledger_check_run(record=False).drift_count == 0


def test_ledger_check_reports_a_receivable_that_disagrees_with_the_claims(alice, bob, usdt):
    claim = cover(alice, bob, usdt, UNIT, "redemption:drift")
    Claim.objects.filter(pk=claim.pk).update(recovered=UNIT // 2)  # behind the ledger's back

    run = ledger_check_run(record=False)

    assert [p["check"] for p in run.details] == ["receivable_equals_open_claims"]
    assert run.details[0]["open_claims"] == UNIT // 2
    assert run.details[0]["receivable"] == -UNIT


def test_the_database_refuses_a_claim_recovered_beyond_its_amount(alice, bob, usdt):
    claim = cover(alice, bob, usdt, UNIT, "redemption:check")

    with pytest.raises(IntegrityError), transaction.atomic():
        Claim.objects.filter(pk=claim.pk).update(recovered=UNIT + 1)


step = st.one_of(
    st.tuples(st.just("cover"), st.integers(0, 2), st.integers(1, 9)),
    st.tuples(st.just("credit"), st.integers(0, 2), st.integers(1, 9)),
    st.tuples(st.just("recover"), st.integers(0, 2), st.just(0)),
    st.tuples(st.just("recover_all"), st.just(0), st.just(0)),
    st.tuples(st.just("write_off"), st.integers(0, 2), st.just(0)),
)


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=15))
def test_random_covers_and_recoveries_keep_the_ledger_and_a_model_in_step(steps):
    token = Token.objects.get(symbol="USDT")
    users = [UserFactory() for _ in range(3)]
    payee = UserFactory()
    model_owed = [[] for _ in users]  # open claim amounts per debtor, oldest first
    model_balance = [0, 0, 0]
    covered = 0
    with transaction.atomic():
        savepoint = transaction.savepoint()
        for n, (op, who, amount) in enumerate(steps):
            if op == "cover":
                cover(users[who], payee, token, amount, f"redemption:h{n}")
                covered += amount
                model_owed[who].append(amount)
                _model_take(model_owed, model_balance, who)
            elif op == "credit":
                credit(users[who], token, amount)
                model_balance[who] += amount
            elif op == "recover":
                claims_recover(user=users[who], token=token)
                _model_take(model_owed, model_balance, who)
            elif op == "write_off":  # the debtor's oldest open claim
                oldest = Claim.objects.filter(user=users[who], written_off=0).order_by("pk")
                oldest = [c for c in oldest if c.outstanding][:1]
                if oldest:
                    claim_write_off(claim=oldest[0], reason="model", operator=None)
                    model_owed[who].pop(0)
            else:
                claims_recover_all()
                for i in range(len(users)):
                    _model_take(model_owed, model_balance, i)
            assert ledger_check_run(record=False).drift_count == 0
            assert [available(u, token) for u in users] == model_balance
            assert receivable(token) == -sum(sum(owed) for owed in model_owed)
            assert available(payee, token) == covered
        transaction.savepoint_rollback(savepoint)


def _model_take(owed, balance, who):
    for i, amount in enumerate(owed[who]):
        take = min(amount, balance[who])
        owed[who][i] -= take
        balance[who] -= take
    owed[who] = [a for a in owed[who] if a]


class TestWriteOff:
    def test_the_outstanding_part_moves_to_write_off_once(self, alice, bob, usdt, operator):
        credit(alice, usdt, UNIT)
        claim = cover(alice, bob, usdt, 3 * UNIT, "redemption:lost")  # 1 recovered, 2 owed

        claim = claim_write_off(claim=claim, reason="payer gone", operator=operator)

        assert (claim.recovered, claim.written_off, claim.outstanding) == (UNIT, 2 * UNIT, 0)
        assert receivable(usdt) == 0
        losses = LedgerAccount.objects.get(owner=None, token=usdt, kind=AccountKind.WRITE_OFF)
        assert losses.balance == -2 * UNIT
        assert OutboxEvent.objects.get(topic="claim.written_off").payload["operator"] == (
            operator.username
        )
        with pytest.raises(ClaimClosed):
            claim_write_off(claim=claim, reason="again", operator=operator)
        credit(alice, usdt, 5 * UNIT)  # later money is the payer's: nothing left to recover
        assert claims_recover(user=alice, token=usdt) == 0
        assert ledger_check_run(record=False).drift_count == 0

    def test_it_needs_a_reason_and_an_operator(self, alice, bob, usdt, reviewer):
        claim = cover(alice, bob, usdt, UNIT, "redemption:kept")

        with pytest.raises(ReasonRequired):
            claim_write_off(claim=claim, reason="  ", operator=None)
        with pytest.raises(NotAnOperator):
            claim_write_off(claim=claim, reason="why not", operator=reviewer)

        claim.refresh_from_db()
        assert claim.outstanding == UNIT

    def test_the_command_names_what_to_fix(self, alice, bob, usdt, operator):
        from django.core.management import CommandError, call_command

        cover(alice, bob, usdt, UNIT, "redemption:cmd")
        with pytest.raises(CommandError, match="--reference"):
            call_command("claim_write_off", reference="nope", reason="x", operator="x")
        with pytest.raises(CommandError, match="--operator"):
            call_command("claim_write_off", reference="redemption:cmd", reason="x", operator="x")
        with pytest.raises(CommandError, match="--reason"):
            call_command(
                "claim_write_off",
                reference="redemption:cmd",
                reason=" ",
                operator=operator.username,
            )

        call_command(
            "claim_write_off", reference="redemption:cmd", reason="lost", operator=operator.username
        )
        assert Claim.objects.get(reference="redemption:cmd").written_off == UNIT
