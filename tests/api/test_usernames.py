"""Payees are named by username: unique ignoring case and look-alikes, found in any case,
never a staff account."""

import pytest
from django.db import IntegrityError, transaction

from tests.api.conftest import good_item
from tests.wallets.factories import StaffFactory, UserFactory
from wallets.models import AccountKind, LedgerAccount, User
from wallets.usernames import username_skeleton

SIGNUP = "/api/v1/auth/signup/"


def signup(client, username):
    return client.post(
        SIGNUP,
        {
            "username": username,
            "email": f"{username}@example.test",
            "password": "correct horse battery",
            "role": "customer",
        },
        format="json",
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("alice", "ALICE"),
        ("alice", "al\u0456ce"),  # Cyrillic i
        ("alice", "\u0430lice"),  # Cyrillic a
        ("paypal", "p\u0430yp\u0430l"),
        ("bill", "bi1l"),
        ("bill", "BILL"),
        ("modern", "rnodern"),
        ("bob", "b0b"),
        ("bob", "\uff42\uff4f\uff42"),  # full-width
        ("jose", "jos\u00e9"),
        ("ann", "an\u200bn"),  # zero-width space
    ],
)
def test_look_alike_usernames_share_a_skeleton(a, b):
    assert username_skeleton(a) == username_skeleton(b)


@pytest.mark.parametrize(("a", "b"), [("alice", "alina"), ("bob", "rob"), ("ann", "anna")])
def test_different_usernames_have_different_skeletons(a, b):
    assert username_skeleton(a) != username_skeleton(b)


@pytest.mark.parametrize("taken", ["ALICE", "Alice", "al1ce", "aIice", "a1ice"])
def test_sign_up_refuses_a_username_equal_ignoring_case_or_confusable(taken, alice, client_for):
    response = signup(client_for(), taken)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "username_taken"
    assert response.json()["error"]["param"] == "username"
    assert User.objects.filter(username=taken).count() == 0


def test_sign_up_refuses_non_ascii_usernames(client_for):
    response = signup(client_for(), "al\u0456ce")

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "username"


def test_sign_up_refuses_surrounding_whitespace(db, client_for):
    response = signup(client_for(), " carol")

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "username"
    assert not User.objects.filter(username__icontains="carol").exists()


def test_sign_up_of_a_fresh_name_still_works(alice, client_for):
    response = signup(client_for(), "carol")

    assert response.status_code == 201
    assert User.objects.get(username="carol").username_skeleton == "carol"


def test_the_database_refuses_a_case_duplicate_however_it_is_created(alice):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="ALICE")


def test_the_database_refuses_a_confusable_however_it_is_created(alice):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="\u0430lice")  # an admin form or a script


def test_the_admin_form_says_the_username_looks_like_another(alice):
    user = User(username="\u0430lice")

    with pytest.raises(Exception, match="looks like an existing one"):
        user.full_clean()


def test_the_payee_is_found_in_any_case(endpoint, payer, bob, usdt, client_for):
    response = endpoint.send(client_for(payer), good_item(payee="BoB"))

    status, code, _ = endpoint.outcome(response)
    assert (status, code) == (201, None)
    received = LedgerAccount.objects.get(owner=bob, token=usdt, kind=AccountKind.AVAILABLE)
    assert received.balance == 1_500_000


def test_a_look_alike_payee_is_unknown_not_the_real_one(
    endpoint, payer, client_for, money_snapshot
):
    before = money_snapshot()

    response = endpoint.send(client_for(payer), good_item(payee="b\u043eb"))  # Cyrillic o

    assert endpoint.outcome(response) == (400, "unknown_payee", "payee")
    assert money_snapshot() == before


def test_a_payee_with_surrounding_whitespace_is_refused(
    endpoint, payer, client_for, money_snapshot
):
    before = money_snapshot()

    response = endpoint.send(client_for(payer), good_item(payee=" bob"))

    assert endpoint.outcome(response) == (400, "whitespace", "payee")
    assert money_snapshot() == before


def test_a_staff_account_cannot_receive_payments(endpoint, payer, client_for, money_snapshot):
    StaffFactory(username="ops")
    before = money_snapshot()

    response = endpoint.send(client_for(payer), good_item(payee="ops"))

    assert endpoint.outcome(response) == (400, "staff_payee", "payee")
    assert money_snapshot() == before


def test_a_staff_role_without_the_flag_cannot_receive_either(endpoint, payer, client_for):
    UserFactory(username="backoffice", role="staff")

    response = endpoint.send(client_for(payer), good_item(payee="backoffice"))

    assert endpoint.outcome(response) == (400, "staff_payee", "payee")


def test_a_replay_with_the_payee_in_another_case_is_a_replay(payer, client_for):
    key = {"HTTP_IDEMPOTENCY_KEY": "k1"}
    batch = "/api/v1/payments/batch/"
    first = client_for(payer).post(
        batch, {"payments": [good_item(idempotency_key="i1")]}, format="json", **key
    )
    again = client_for(payer).post(
        batch, {"payments": [good_item(payee="BOB", idempotency_key="i1")]}, format="json"
    )

    assert first.json()["results"][0]["status"] == 201
    assert again.json()["results"][0]["replayed"] is True
