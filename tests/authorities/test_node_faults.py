"""Faults with real node processes: a byzantine node equivocates (evidence), a killed node
does not stop the others, a restarted node remembers its locks and balances."""

import pytest

from fastpay_protocol import typed_data as td
from tests.authorities.node_fixtures import (
    FUNDED_UNITS,
    Users,
    certify,
    confirm,
    make_order,
)
from tests.authorities.nodes import committee_domain, local_committee, signed_order_json

USERS = Users(10)


def test_a_byzantine_node_signs_conflicting_orders_and_that_is_evidence(tmp_path):
    user = USERS.take()
    with local_committee(
        tmp_path, genesis=USERS.genesis(), byzantine=("authority-4",), start=False
    ) as nodes:
        liar = nodes[3].start()
        domain = committee_domain(liar)
        first, second = make_order(user, amount=1_000_000), make_order(user, amount=7_000_000)
        s1, v1 = liar.post("/authority/v1/orders", signed_order_json(domain, first, user.key))
        s2, v2 = liar.post("/authority/v1/orders", signed_order_json(domain, second, user.key))
        assert (s1, s2) == (200, 200)
        # evidence: two valid votes by one authority for the same (sender, sequence)
        sig1 = bytes.fromhex(v1["vote"]["signature"][2:])
        sig2 = bytes.fromhex(v2["vote"]["signature"][2:])
        assert td.recover_vote_signer(domain, first, sig1) == liar.address
        assert td.recover_vote_signer(domain, second, sig2) == liar.address
        assert (first.sender, first.sequence) == (second.sender, second.sequence)
        assert first != second
        # the pending order it shows stays the first
        _, info = liar.get(f"/authority/v1/accounts/{user.address}")
        assert info["pending"]["order"]["amount"] == 1_000_000


def test_the_byzantine_setting_is_refused_without_debug(tmp_path):
    import os
    import subprocess
    import sys

    from tests.authorities.nodes import ROOT

    with local_committee(tmp_path, byzantine=("authority-1",), start=False) as nodes:
        env = {**os.environ, **nodes[0].env, "DEBUG": "0", "SECRET_KEY": "x" * 40}
        out = subprocess.run(
            [sys.executable, "manage.py", "run_authority", "--port", str(nodes[0].port)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode != 0
        assert "AUTHORITY_BYZANTINE" in out.stderr


def test_a_killed_node_does_not_stop_the_quorum_and_keeps_its_state(tmp_path):
    users = [USERS.take(), USERS.take()]
    with local_committee(tmp_path, genesis=USERS.genesis()) as nodes:
        domain = committee_domain(nodes[0])
        locked = signed_order_json(domain, make_order(users[0], amount=4_000_000), users[0].key)
        _, vote = nodes[3].post("/authority/v1/orders", locked)
        nodes[3].kill()
        cert = certify(nodes[:3], domain, make_order(users[1], amount=5_000_000), users[1])
        assert all(status == 200 for status, _ in confirm(nodes[:3], cert))
        # a dead node answers nothing; the others moved the money
        with pytest.raises(OSError):
            nodes[3].get("/authority/v1/health", timeout=1)
        nodes[3].start()
        # restarted: its lock survived, and it catches up when shown the certificate
        other = signed_order_json(domain, make_order(users[0], amount=1), users[0].key)
        status, body = nodes[3].post("/authority/v1/orders", other)
        assert (status, body["error"]["code"], body["vote"]) == (
            409,
            "sequence_locked",
            vote["vote"],
        )
        status, body = nodes[3].post("/authority/v1/certificates", cert)
        assert status == 200 and body["applied"] is True
        _, info = nodes[3].get(f"/authority/v1/accounts/{users[1].address}")
        assert list(info["balances"].values()) == [FUNDED_UNITS - 5_000_000]
