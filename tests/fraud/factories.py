from datetime import timedelta

import factory
from django.utils import timezone

from fraud.models import Assessment, Channel, RiskProfile
from tests.wallets.factories import UserFactory
from wallets.models import Payment, PaymentState, Token, UserRole
from wallets.risk import RiskDecision

# One degree of latitude along a meridian, in km (fraud.geo's Earth radius).
KM_PER_DEGREE = 111.19508
BERLIN = ("52.520000", "13.405000")


def north_of(point, km: float) -> tuple[str, str]:
    """A point `km` north of `point`, as 6-decimal strings (what the API stores)."""
    lat, lon = point
    return (f"{float(lat) + km / KM_PER_DEGREE:.6f}", lon)


class VendorFactory(UserFactory):
    role = UserRole.VENDOR


class RiskProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RiskProfile

    user = factory.SubFactory(UserFactory)


class PastPaymentFactory(factory.django.DjangoModelFactory):
    """A payment row in the payer's history (no ledger movement): what the rules read.

    `ago` (a timedelta) back-dates it."""

    class Meta:
        model = Payment

    payer = factory.SubFactory(UserFactory)
    payee = factory.SubFactory(UserFactory)
    token = factory.LazyFunction(lambda: Token.objects.get(symbol="USDT"))
    amount = 1_000_000
    state = PaymentState.SUCCESS
    sequence = factory.Sequence(lambda n: 1_000_000 + n)

    @classmethod
    def _create(cls, model_class, *args, ago=None, **kwargs):
        payment = super()._create(model_class, *args, **kwargs)
        if ago is not None:
            at = timezone.now() - ago
            model_class.objects.filter(pk=payment.pk).update(created_at=at)
            payment.created_at = at
        return payment


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def rules_of(assessment) -> set[str]:
    """The rules that fired in a RiskAssessment."""
    return {reason["rule"] for reason in assessment.reasons}


class PastOfflineSpendFactory(factory.django.DjangoModelFactory):
    """An offline redemption as the sync assessed it (channel offline): the payer's offline
    spending in the rules' history. `ago` back-dates when it was synced."""

    class Meta:
        model = Assessment

    subject = factory.Sequence(lambda n: f"redemption:past-{n}")
    channel = Channel.OFFLINE
    payer = factory.SubFactory(UserFactory)
    payee = factory.SubFactory(UserFactory)
    token = factory.LazyFunction(lambda: Token.objects.get(symbol="USDT"))
    amount = 1_000_000
    decision = RiskDecision.ALLOW
    score = 0

    @classmethod
    def _create(cls, model_class, *args, ago=timedelta(0), **kwargs):
        kwargs.setdefault("occurred_at", timezone.now() - ago)
        return super()._create(model_class, *args, **kwargs)
