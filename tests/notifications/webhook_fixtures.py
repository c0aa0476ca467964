"""Fixtures of the webhook and events tests (imported by name where used)."""

import pytest


@pytest.fixture
def webhooks_private(settings):
    """Receivers listen on 127.0.0.1: let deliveries go there, with short timeouts (the
    pooled client is made again for them, once: it is kept across tests)."""
    settings.FASTPAY_WEBHOOKS_ALLOW_PRIVATE = True
    settings.FASTPAY_WEBHOOKS_READ_TIMEOUT_S = 1
    settings.FASTPAY_WEBHOOKS_CONNECT_TIMEOUT_S = 1
    return settings


@pytest.fixture
def merchant(db):
    from tests.wallets.factories import UserFactory
    from wallets.models import UserRole

    return UserFactory(username="shop", role=UserRole.MERCHANT)


@pytest.fixture
def other_merchant(db):
    from tests.wallets.factories import UserFactory
    from wallets.models import UserRole

    return UserFactory(username="other_shop", role=UserRole.MERCHANT)


@pytest.fixture
def endpoint_for(webhooks_private):
    """endpoint_for(user, url, types=["*"]) -> (endpoint, secret)."""
    from notifications.webhooks.services import endpoint_create

    def make(user, url, types=("*",)):
        return endpoint_create(user=user, url=url, event_types=list(types))

    return make


@pytest.fixture
def pay(fund):
    """pay(payer, payee, whole_tokens) -> a succeeded payment, its events dispatched and
    their webhooks attempted (the on-commit path, run here: tests hold a transaction)."""
    from django.db import transaction

    from wallets.models import Token
    from wallets.services.payments import PaymentItem, payment_create

    def _pay(payer, payee, whole: int = 1, *, funded: bool = True, dispatch: bool = True):
        usdt = Token.objects.get(symbol="USDT")
        if funded:
            fund(payer, usdt, whole)
        payment = payment_create(
            payer=payer,
            item=PaymentItem(
                payee=payee.username, token=usdt, amount=whole * 10**usdt.ledger_decimals
            ),
        )
        if dispatch:
            dispatch_now()
        assert transaction.get_connection().in_atomic_block  # the test's own
        return payment

    return _pay


def dispatch_now():
    """What the on-commit task and its sink do, synchronously."""
    from notifications.dispatch import outbox_dispatch_all

    return outbox_dispatch_all()


@pytest.fixture
def relaxed_risk(db, settings):
    """Payments in these tests are not what the fraud rules are about."""
    from fraud.models import RuleConfig

    settings.FASTPAY_RISK_ASSESSOR = "wallets.risk.large_amount_review"
    RuleConfig.objects.update_or_create(rule="rate_limit", defaults={"enabled": False})


@pytest.fixture
def no_dispatch_on_commit(monkeypatch):
    """Commits record outbox events without dispatching them (as when the on-commit task
    is lost): the test runs the dispatcher itself."""
    from fastpay import events

    monkeypatch.setattr(events, "_callbacks", [])
