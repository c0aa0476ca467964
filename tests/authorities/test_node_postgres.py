"""A node on PostgreSQL with two gunicorn workers: real row locks across processes.
Conflicting orders for one sequence race (exactly one vote, the others see it) and crossing
certificates A->B / B->A apply concurrently without deadlock. Runs when DATABASE_URL is
PostgreSQL (CI); each run uses its own throw-away database."""

import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import pytest

from fastpay_protocol import signing
from fastpay_protocol import typed_data as td
from tests.authorities.node_fixtures import FUNDED_UNITS, TOKEN, Users, make_order
from tests.authorities.nodes import committee_domain, local_committee, signed_order_json

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="needs DATABASE_URL=postgres://...",
    ),
]
USERS = Users(16)


@pytest.fixture
def pg_url():
    import psycopg

    base = urlsplit(os.environ["DATABASE_URL"])
    name = f"fastpay_node_{uuid.uuid4().hex[:10]}"
    admin = urlunsplit(base._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(base._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_races_on_postgresql_give_one_vote_per_sequence_and_no_deadlock(tmp_path, pg_url):
    from authorities.node.local import LOCAL_ACCOUNTS, anvil_key

    keys = [anvil_key(i) for i in LOCAL_ACCOUNTS]
    # two workers: the row locks, not the in-process group commit, must serialise them
    env = {"DATABASE_URL": pg_url, "AUTHORITY_WORKERS": "2"}
    with local_committee(tmp_path, genesis=USERS.genesis(), extra_env=env, start=False) as nodes:
        node = nodes[0].start()
        domain = committee_domain(node)
        users = USERS.accounts

        # 8 different orders per user for sequence 0, all at once
        attempts = [
            signed_order_json(domain, make_order(u, amount=1_000 + k), u.key)
            for u in users
            for k in range(8)
        ]
        with ThreadPoolExecutor(32) as pool:
            answers = list(pool.map(lambda b: node.post("/authority/v1/orders", b), attempts))
        assert {status for status, _ in answers} <= {200, 409}
        for i in range(len(users)):
            mine = answers[i * 8 : i * 8 + 8]
            voted = [body["vote"] for status, body in mine if status == 200]
            assert len(voted) == 1, mine
            locked = [body for status, body in mine if status == 409]
            assert all(b["error"]["code"] == "sequence_locked" for b in locked)
            assert all(b["vote"] == voted[0] for b in locked)

        # crossing certificates (user 2k -> 2k+1 and back), votes of the three other members
        digests = signing.Hasher(domain)
        voters = [signing.Signer(k) for k in keys[1:]]
        certs = []
        for a, b in zip(users[::2], users[1::2], strict=True):
            for sender, recipient in ((a, b), (b, a)):
                order = make_order(sender, recipient=recipient.address, amount=5_000_000)
                signed = signed_order_json(domain, order, sender.key)
                vote_digest = digests.vote_digest(order)
                votes = [
                    {"authority": v.address, "signature": "0x" + v.sign_digest(vote_digest).hex()}
                    for v in voters
                ]
                certs.append({**signed, "votes": votes})
        with ThreadPoolExecutor(32) as pool:
            answers = list(pool.map(lambda c: node.post("/authority/v1/certificates", c), certs))
        assert all(status == 200 and body["applied"] for status, body in answers), answers
        for user in users:
            _, info = node.get(f"/authority/v1/accounts/{user.address}")
            token = td.TransferOrder(user.address, TOKEN, TOKEN, 0, 0, 0).token
            assert info["balances"][token] == FUNDED_UNITS
            assert info["next_sequence"] == 1
