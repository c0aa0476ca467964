"""The posting service, the database rules behind it, and ledger_check."""

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from fastpay.errors import DomainError, IdempotencyError
from wallets.errors import InsufficientFunds, LedgerImbalance
from wallets.models import (
    AccountKind,
    EntryKind,
    JournalEntry,
    LedgerAccount,
    LedgerCheckRun,
    Posting,
)
from wallets.services.adjustments import ledger_adjust
from wallets.services.checks import ledger_check_run
from wallets.services.ledger import Line, ledger_post, system_account, user_account


@pytest.fixture
def accounts(alice, bob, usdt, fund):
    fund(alice, usdt, 10)
    return user_account(alice, usdt), user_account(bob, usdt)


def test_an_entry_moves_both_balances(accounts):
    a, b = accounts
    with transaction.atomic():
        ledger_post(kind=EntryKind.PAYMENT, reference="t", lines=[Line(a, -3), Line(b, 3)])

    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.balance, b.balance) == (10_000_000 - 3, 3)


def test_unbalanced_entries_are_a_programming_error(accounts):
    a, b = accounts
    with pytest.raises(LedgerImbalance), transaction.atomic():
        ledger_post(kind=EntryKind.PAYMENT, reference="t", lines=[Line(a, -3), Line(b, 2)])


def test_mixing_tokens_cannot_balance(accounts, alice, usdc):
    a, _ = accounts
    other = user_account(alice, usdc)
    with pytest.raises(LedgerImbalance), transaction.atomic():
        ledger_post(kind=EntryKind.PAYMENT, reference="t", lines=[Line(a, -3), Line(other, 3)])


def test_user_accounts_never_go_negative(accounts):
    a, b = accounts
    with pytest.raises(InsufficientFunds), transaction.atomic():
        ledger_post(
            kind=EntryKind.PAYMENT, reference="t", lines=[Line(a, -10_000_001), Line(b, 10_000_001)]
        )
    assert JournalEntry.objects.filter(reference="t").count() == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_postings_outside_a_transaction_are_refused(accounts):
    a, b = accounts
    with pytest.raises(RuntimeError):
        ledger_post(kind=EntryKind.PAYMENT, reference="t", lines=[Line(a, -1), Line(b, 1)])


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_database_refuses_a_negative_user_balance(alice, usdt):
    account = user_account(alice, usdt)
    with pytest.raises(IntegrityError):
        LedgerAccount.objects.filter(pk=account.pk).update(balance=-1)


def test_the_database_allows_negative_system_accounts(usdt):
    custody = system_account(usdt, AccountKind.CUSTODY)
    LedgerAccount.objects.filter(pk=custody.pk).update(balance=-1)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_postings_cannot_be_updated(alice, usdt, fund):
    fund(alice, usdt, 1)
    with pytest.raises(Exception, match="append-only"):
        Posting.objects.update(amount=5)


def test_a_clean_ledger_checks_clean(accounts):
    assert ledger_check_run().drift_count == 0
    call_command("ledger_check")


def test_a_tampered_balance_is_drift(accounts):
    a, _ = accounts
    LedgerAccount.objects.filter(pk=a.pk).update(balance=a.balance + 1)

    run = ledger_check_run()

    checks = {problem["check"] for problem in run.details}
    assert checks == {"balance_equals_postings", "token_balances_sum_to_zero"}
    assert LedgerCheckRun.objects.get().drift_count == 2
    with pytest.raises(CommandError, match="ledger drift"):
        call_command("ledger_check")


class TestAdjustments:
    def test_a_credit_comes_out_of_custody(self, alice, usdt):
        ledger_adjust(
            user=alice, token=usdt, amount=5, reason="wire", operator=None, idempotency_key="w1"
        )

        assert user_account(alice, usdt).balance == 5
        assert system_account(usdt, AccountKind.CUSTODY).balance == -5

    def test_a_reason_is_mandatory(self, alice, usdt, operator):
        with pytest.raises(DomainError) as exc:
            ledger_adjust(
                user=alice,
                token=usdt,
                amount=5,
                reason=" ",
                operator=operator,
                idempotency_key="w1",
            )
        assert exc.value.code == "reason_required"

    def test_only_operators_adjust(self, alice, usdt, reviewer):
        with pytest.raises(DomainError) as exc:
            ledger_adjust(
                user=alice,
                token=usdt,
                amount=5,
                reason="x",
                operator=reviewer,
                idempotency_key="w1",
            )
        assert exc.value.code == "permission_denied"

    def test_a_rerun_with_the_same_key_adjusts_once(self, alice, usdt, operator):
        for _ in range(2):
            ledger_adjust(
                user=alice,
                token=usdt,
                amount=5,
                reason="x",
                operator=operator,
                idempotency_key="w1",
            )
        assert user_account(alice, usdt).balance == 5

    def test_the_same_key_for_another_amount_is_refused(self, alice, usdt, operator):
        ledger_adjust(
            user=alice, token=usdt, amount=5, reason="x", operator=operator, idempotency_key="w1"
        )
        with pytest.raises(IdempotencyError):
            ledger_adjust(
                user=alice,
                token=usdt,
                amount=6,
                reason="x",
                operator=operator,
                idempotency_key="w1",
            )

    def test_a_debit_cannot_overdraw(self, alice, usdt, operator):
        with pytest.raises(InsufficientFunds):
            ledger_adjust(
                user=alice,
                token=usdt,
                amount=-1,
                reason="x",
                operator=operator,
                idempotency_key="d1",
            )

    def test_the_command_explains_what_to_fix(self, alice, operator):
        with pytest.raises(CommandError, match="--token: unknown token 'EUR'"):
            call_command(
                "ledger_adjust",
                user="alice",
                token="EUR",
                amount="1",
                reason="r",
                key="k",
                operator="ops",
            )
        with pytest.raises(CommandError, match="--amount: at most 6 decimal places"):
            call_command(
                "ledger_adjust",
                user="alice",
                token="USDT",
                amount="1.0000001",
                reason="r",
                key="k",
                operator="ops",
            )
        with pytest.raises(CommandError, match="--operator: no user named 'ghost'"):
            call_command(
                "ledger_adjust",
                user="alice",
                token="USDT",
                amount="1",
                reason="r",
                key="k",
                operator="ghost",
            )

    def test_the_command_credits_once(self, alice, usdt, operator):
        for _ in range(2):
            call_command(
                "ledger_adjust",
                user="alice",
                token="usdt",
                amount="2.5",
                reason="wire 1",
                key="wire-1",
                operator="ops",
            )
        assert user_account(alice, usdt).balance == 2_500_000
