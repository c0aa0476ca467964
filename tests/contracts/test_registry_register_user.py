import brownie
from revert_reasons import error


def test_it_registers_the_caller(registry, alice):
    tx = registry.registerUser({"from": alice})
    assert registry.isRegistered(alice)
    assert tx.events["UserRegistered"] == {"user": alice}


def test_it_refuses_to_register_twice(registry, alice):
    registry.registerUser({"from": alice})
    with brownie.reverts(error("AlreadyRegistered", alice)):
        registry.registerUser({"from": alice})
