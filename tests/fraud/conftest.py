import pytest


@pytest.fixture
def vendor(db):
    from tests.fraud.factories import VendorFactory

    return VendorFactory(username="shop")


@pytest.fixture
def reviewer2(db):
    from tests.wallets.factories import StaffFactory

    return StaffFactory(username="rev2", group="reviewer")


@pytest.fixture
def rule(db):
    """rule(name, **params): change one rule's thresholds (validated, as admin would)."""
    from fraud.models import RuleConfig
    from fraud.thresholds import DEFAULTS, params_validate

    def _set(name, enabled=True, **params):
        merged = params_validate(name, {**DEFAULTS[name], **params})
        RuleConfig.objects.update_or_create(
            rule=name, defaults={"enabled": enabled, "params": merged}
        )

    return _set


@pytest.fixture
def assess_for(usdt):
    """assess_for(payer, payee, whole_tokens=1, at=None, **kw) -> RiskAssessment."""
    from decimal import Decimal

    from fraud.scoring import assess

    def _assess(payer, payee, whole=1, *, units=None, point=None, token=None, **kwargs):
        token = token or usdt
        latitude, longitude = point if point else (None, None)
        return assess(
            payer=payer,
            payee=payee,
            token=token,
            amount=units if units is not None else whole * 10**token.ledger_decimals,
            latitude=None if latitude is None else Decimal(latitude),
            longitude=None if longitude is None else Decimal(longitude),
            **kwargs,
        )

    return _assess
