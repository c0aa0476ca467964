"""Amounts: one grammar (fastpay_protocol.amounts) for the API, the CLI and ledger_adjust."""

import argparse
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastpay.money import format_units, parse_units
from fastpay_protocol import cli
from fastpay_protocol.amounts import MAX_UNITS, AmountError, units_parse
from wallets.models import AccountKind, LedgerAccount

BAD_AMOUNTS = [
    "1e3",
    "1E3",
    "1_000",
    "+5",
    " 12.50 ",
    "12.50 ",
    "\t1",
    "1\n",
    "1.",
    ".5",
    "-1",
    "0",
    "0.0",
    "0.000000",
    "\u0661\u0662",  # Arabic-Indic 12
    "\uff11\uff12",  # full-width 12
    "1.2.3",
    "",
    "NaN",
    "nan",
    "Infinity",
    "-Infinity",
    "0x10",
    "1,5",
    "1 000",
    "0.0000001",  # more decimals than USDT's 6
    "9" * 41,  # longer than any amount
    "9" * 5000,
    "9223372036854.775808",  # one unit past a 64-bit column
]
GOOD_AMOUNTS = [("12.50", 12_500_000), ("1", 1_000_000), ("0.000001", 1), ("007", 7_000_000)]


@pytest.mark.parametrize("text", BAD_AMOUNTS)
def test_the_parser_refuses_anything_but_a_plain_positive_decimal(text):
    with pytest.raises(AmountError):
        units_parse(text, 6)


@pytest.mark.parametrize("value", [12, 12.5, None, True, ["1"], {"a": "1"}])
def test_the_parser_refuses_what_is_not_a_string(value):
    with pytest.raises(AmountError):
        units_parse(value, 6)


@pytest.mark.parametrize(("text", "units"), GOOD_AMOUNTS)
def test_the_parser_reads_plain_decimals_exactly(text, units):
    assert units_parse(text, 6) == units
    assert parse_units(text, 6) == units


def test_the_largest_amount_a_column_holds_is_accepted():
    assert units_parse("9223372036854.775807", 6) == MAX_UNITS


GRAMMAR = re.compile(r"[0-9]+(\.[0-9]+)?")


@given(units=st.integers(min_value=1, max_value=MAX_UNITS), decimals=st.integers(0, 18))
def test_format_then_parse_gives_back_the_units(units, decimals):
    assert units_parse(format_units(units, decimals), decimals) == units


@given(text=st.text(max_size=45))
def test_text_outside_the_grammar_is_always_refused(text):
    if GRAMMAR.fullmatch(text) and len(text) <= 40:
        return  # inside the grammar: covered by the round trip and the examples
    with pytest.raises(AmountError):
        units_parse(text, 6)


@given(
    whole=st.integers(min_value=0, max_value=10**12),
    fraction=st.text(alphabet="0123456789", min_size=1, max_size=6),
)
def test_text_inside_the_grammar_is_read_exactly(whole, fraction):
    expected = whole * 10**6 + int(fraction.ljust(6, "0"))
    text = f"{whole}.{fraction}"
    if expected == 0:
        with pytest.raises(AmountError):
            units_parse(text, 6)
    else:
        assert units_parse(text, 6) == expected


@pytest.mark.parametrize("text", ["1e3", "1_000", "+5", " 12.50 ", "1.", ".5", "\uff11"])
def test_the_cli_refuses_what_the_api_refuses(text):
    with pytest.raises(argparse.ArgumentTypeError):
        cli.parse_units(text)


def test_the_cli_reads_what_the_api_reads():
    assert cli.parse_units("12.50") == 12_500_000


@pytest.mark.parametrize("text", BAD_AMOUNTS)
def test_a_bad_amount_is_refused_and_moves_nothing(
    text, endpoint, payer, client_for, money_snapshot
):
    before = money_snapshot()

    response = endpoint.send(client_for(payer), {"payee": "bob", "token": "USDT", "amount": text})

    assert endpoint.outcome(response) == (400, "invalid_amount", "amount")
    assert money_snapshot() == before
    message = response.json()
    assert len(json.dumps(message)) < 2_000  # a 5,000-digit amount is not echoed back


@pytest.mark.parametrize("value", [12, 12.5, None, True, [], {}])
def test_an_amount_that_is_not_a_string_is_refused(
    value, endpoint, payer, client_for, money_snapshot
):
    before = money_snapshot()

    response = endpoint.send(client_for(payer), {"payee": "bob", "token": "USDT", "amount": value})

    status, code, param = endpoint.outcome(response)
    assert (status, param) == (400, "amount")
    assert code in {"not_a_string", "null"}
    assert money_snapshot() == before


@pytest.mark.parametrize(("text", "units"), GOOD_AMOUNTS)
def test_a_good_amount_moves_exactly_that(text, units, endpoint, payer, bob, usdt, client_for):
    response = endpoint.send(client_for(payer), {"payee": "bob", "token": "USDT", "amount": text})

    status, code, _ = endpoint.outcome(response)
    assert (status, code) == (201, None)
    received = LedgerAccount.objects.get(owner=bob, token=usdt, kind=AccountKind.AVAILABLE)
    assert received.balance == units


@pytest.mark.parametrize("text", ["1e3", " 5", "1."])
def test_a_refund_amount_follows_the_same_grammar(text, payer, bob, client_for, money_snapshot):
    paid = client_for(payer).post(
        "/api/v1/payments/", {"payee": "bob", "token": "USDT", "amount": "10"}, format="json"
    )
    before = money_snapshot()

    response = client_for(bob).post(
        f"/api/v1/payments/{paid.json()['id']}/refunds/", {"amount": text}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_amount"
    assert money_snapshot() == before


@pytest.mark.parametrize("text", ["1e3", " 5", "+5", "1_000"])
def test_ledger_adjust_refuses_what_the_api_refuses(text, alice, operator, money_snapshot):
    from django.core.management import CommandError, call_command

    before = money_snapshot()

    with pytest.raises(CommandError, match="--amount"):
        call_command(
            "ledger_adjust",
            user="alice",
            token="USDT",
            amount=text,
            reason="wire",
            key=f"k-{text}",
            operator="ops",
        )

    assert money_snapshot() == before
