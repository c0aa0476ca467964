"""The node's wire parsing refuses near-misses with the offending field."""

import pytest

from authorities.node.errors import InvalidRequest
from authorities.node.wire import parse_address, parse_signature

ADDRESS = "0x" + "ab" * 20


def test_an_address_is_returned_lower_case():
    assert parse_address(ADDRESS.upper().replace("0X", "0x"), "order.sender") == ADDRESS


@pytest.mark.parametrize(
    "value", [ADDRESS + "\n", " " + ADDRESS, ADDRESS[:-1], ADDRESS + "0", "ab" * 21, 42]
)
def test_a_malformed_address_names_the_field(value):
    with pytest.raises(InvalidRequest) as error:
        parse_address(value, "order.recipient")
    assert error.value.param == "order.recipient"


@pytest.mark.parametrize("value", ["0x" + "11" * 65 + "\n", "0x" + "11" * 64, None])
def test_a_malformed_signature_names_the_field(value):
    with pytest.raises(InvalidRequest) as error:
        parse_signature(value, "signature")
    assert error.value.param == "signature"
