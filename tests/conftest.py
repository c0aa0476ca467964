"""Shared fixtures for the Django suite. Django imports stay inside fixtures so that a
Brownie run over tests/contracts never has to import Django."""

import pytest


@pytest.fixture
def usdt(db):
    from wallets.models import Token

    return Token.objects.get(symbol="USDT")


@pytest.fixture
def usdc(db):
    from wallets.models import Token

    return Token.objects.get(symbol="USDC")


@pytest.fixture
def fund():
    """fund(user, token, whole_tokens) credits the user's AVAILABLE account from CUSTODY."""
    from itertools import count

    from wallets.services.adjustments import ledger_adjust

    keys = count()

    def _fund(user, token, whole: int):
        return ledger_adjust(
            user=user,
            token=token,
            amount=whole * 10**token.ledger_decimals,
            reason="test funding",
            operator=None,
            idempotency_key=f"test-fund-{user.pk}-{token.pk}-{next(keys)}",
        )

    return _fund


@pytest.fixture
def alice(db):
    from tests.wallets.factories import UserFactory

    return UserFactory(username="alice")


@pytest.fixture
def bob(db):
    from tests.wallets.factories import UserFactory

    return UserFactory(username="bob")


@pytest.fixture
def stranger(db):
    from tests.wallets.factories import UserFactory

    return UserFactory(username="stranger")


@pytest.fixture
def reviewer(db):
    from tests.wallets.factories import StaffFactory

    return StaffFactory(username="rev", group="reviewer")


@pytest.fixture
def operator(db):
    from tests.wallets.factories import StaffFactory

    return StaffFactory(username="ops", group="operator")


@pytest.fixture
def client_for():
    """client_for(user) -> a DRF APIClient authenticated as that user with a real JWT."""
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    def _client(user=None):
        client = APIClient()
        if user is not None:
            token = RefreshToken.for_user(user).access_token
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return _client


@pytest.fixture
def units():
    """units(token, "12.5") -> ledger units, through the one parsing function."""
    from fastpay.money import parse_units

    return lambda token, text: parse_units(text, token.ledger_decimals)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters live in the cache: start every test with an empty one."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _fresh_vote_watch():
    """The process-wide vote watch remembers votes across tests, and tests reuse the same
    keys on chains deployed to the same addresses: a vote of one test must not be taken
    for an equivocation in the next. Evidence the recorder thread is still writing lands
    before the next test starts."""
    from fastpay_protocol.committee import process_watch

    process_watch().forget()
    yield
    try:
        from authorities.services.evidence import recorder
    except ImportError:  # the Django-free protocol suite
        return
    if (found := recorder()) is not None:
        found.wait_idle()
