def test_probe(accounts):
    from brownie import Probe
    Probe.deploy({"from": accounts[0]})
