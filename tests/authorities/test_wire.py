"""The node answers malformed wire fields (fastpay_protocol.wire, the clients' parser too)
with 400 invalid_request naming the field."""

import pytest

from fastpay_protocol.wire import MessageError, parse_address, parse_signature

ADDRESS = "0x" + "ab" * 20


def test_an_address_is_returned_lower_case():
    assert parse_address(ADDRESS.upper().replace("0X", "0x"), "order.sender") == ADDRESS


@pytest.mark.parametrize(
    "value", [ADDRESS + "\n", " " + ADDRESS, ADDRESS[:-1], ADDRESS + "0", "ab" * 21, 42]
)
def test_a_malformed_address_names_the_field(value):
    with pytest.raises(MessageError) as error:
        parse_address(value, "order.recipient")
    assert error.value.param == "order.recipient"


@pytest.mark.parametrize("value", ["0x" + "11" * 65 + "\n", "0x" + "11" * 64, None])
def test_a_malformed_signature_names_the_field(value):
    with pytest.raises(MessageError) as error:
        parse_signature(value, "signature")
    assert error.value.param == "signature"


def test_a_malformed_message_field_is_the_nodes_invalid_request():
    from authorities.node.views import _invalid

    error = _invalid(MessageError("order.amount", "expected an integer"))

    assert error.status_code == 400
    assert error.as_body()["error"] == {
        "code": "invalid_request",
        "message": "expected an integer",
        "param": "order.amount",
    }
