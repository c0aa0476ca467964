import brownie
from brownie import chain
from certificates import certify
from conftest import UNIT, USDT
from revert_reasons import certificate_invalid, error


def test_it_settles_a_certificate_to_the_recipient_vault_balance(
    funded, processor, vault, registry, usdt, alice, bob, stranger, domain, committee, make_order
):
    order = make_order(amount=25 * UNIT, sequence=0)
    tx = processor.processOfflinePayment(
        order.as_tuple(), certify(domain, order, committee[:3]), {"from": stranger}
    )
    assert tx.return_value is True
    assert tx.events["PaymentSettled"] == {
        "sender": alice,
        "sequence": 0,
        "recipient": bob,
        "token": usdt,
        "units": 25 * UNIT,
    }
    assert registry.getUserBalance(bob, usdt) == 25 * USDT
    assert vault.poolBalance(usdt) == 975 * USDT
    assert processor.redeemedUpTo(alice) == 1


def test_a_replayed_certificate_is_refused(
    funded, processor, domain, committee, make_order, stranger
):
    order = make_order(sequence=4)
    certificate = certify(domain, order, committee[:3])
    processor.processOfflinePayment(order.as_tuple(), certificate, {"from": stranger})
    with brownie.reverts(certificate_invalid("SequenceAlreadyRedeemed")):
        processor.processOfflinePayment(order.as_tuple(), certificate, {"from": stranger})


def test_an_older_sequence_is_refused_after_a_newer_one(
    funded, processor, domain, committee, make_order, stranger
):
    newer, older = make_order(sequence=7), make_order(sequence=6)
    processor.processOfflinePayment(
        newer.as_tuple(), certify(domain, newer, committee[:3]), {"from": stranger}
    )
    with brownie.reverts(certificate_invalid("SequenceAlreadyRedeemed")):
        processor.processOfflinePayment(
            older.as_tuple(), certify(domain, older, committee[:3]), {"from": stranger}
        )


def test_a_below_quorum_certificate_is_refused(funded, processor, domain, committee, make_order):
    order = make_order()
    with brownie.reverts(certificate_invalid("BelowQuorum")):
        processor.processOfflinePayment(order.as_tuple(), certify(domain, order, committee[:2]))


def test_more_than_the_pool_holds_reverts_with_the_vault_error(
    funded, processor, usdt, domain, committee, make_order
):
    order = make_order(amount=1_001 * UNIT)
    with brownie.reverts(error("InsufficientPool", usdt, 1_000 * USDT, 1_001 * USDT)):
        processor.processOfflinePayment(order.as_tuple(), certify(domain, order, committee[:3]))


def test_a_zero_recipient_is_refused(funded, processor, domain, committee, make_order):
    order = make_order(recipient="0x" + "00" * 20)
    with brownie.reverts(certificate_invalid("ZeroRecipient")):
        processor.processOfflinePayment(order.as_tuple(), certify(domain, order, committee[:3]))


def test_verify_certificate_is_a_view_of_the_quorum(
    funded, processor, domain, committee, make_order
):
    order = make_order()
    assert processor.verifyCertificate(order.as_tuple(), certify(domain, order, committee[:3]))
    assert not processor.verifyCertificate(order.as_tuple(), certify(domain, order, committee[:2]))
    assert chain.id == domain.chain_id
