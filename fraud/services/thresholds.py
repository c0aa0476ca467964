"""Admin edits of rule thresholds and risk profiles, each written to the audit log."""

from django.db import transaction

from fastpay.locks import for_update
from fraud.errors import InvalidThresholds, ReviewForbidden
from fraud.models import AuditAction, RiskProfile, RuleConfig
from fraud.services.audit import audit_record
from fraud.thresholds import ThresholdError, params_validate, thresholds_forget


def rule_config_update(*, rule: str, enabled: bool, params: dict, by, note: str = "") -> RuleConfig:
    """Replace a rule's thresholds (validated: known keys, whole numbers) and audit it."""
    if by is None or not by.has_perm("fraud.change_ruleconfig"):
        raise ReviewForbidden("you may not change rule thresholds")
    try:
        params = params_validate(rule, params)
    except ThresholdError as exc:
        raise InvalidThresholds(str(exc), param="params") from None
    with transaction.atomic():
        config = for_update(RuleConfig.objects).filter(rule=rule).first()
        before = None if config is None else {"enabled": config.enabled, "params": config.params}
        if config is None:
            config = RuleConfig(rule=rule)
        after = {"enabled": enabled, "params": params}
        if before == after:
            return config
        config.enabled, config.params, config.updated_by = enabled, params, by
        config.save()
        # Also after commit: a process that re-read the old row meanwhile must not keep it.
        transaction.on_commit(thresholds_forget)
        audit_record(
            action=AuditAction.RULE_CHANGED,
            actor=by,
            object_type="rule",
            object_id=rule,
            before=before,
            after=after,
            note=note,
        )
    return config


PROFILE_FIELDS = ["verification_tier", "registered_latitude", "registered_longitude"]


def risk_profile_update(*, user, by, **changes) -> RiskProfile:
    """Set a user's verification tier and/or a vendor's registered location; audited."""
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise InvalidThresholds(f"unknown field(s) {', '.join(sorted(unknown))}")
    with transaction.atomic():
        profile, _ = RiskProfile.objects.get_or_create(user=user)
        profile = for_update(RiskProfile.objects).get(pk=profile.pk)
        before = {f: _plain(getattr(profile, f)) for f in PROFILE_FIELDS}
        for name, value in changes.items():
            setattr(profile, name, value)
        profile.full_clean(exclude=["user"])
        profile.save()
        after = {f: _plain(getattr(profile, f)) for f in PROFILE_FIELDS}
        if before != after:
            audit_record(
                action=AuditAction.PROFILE_CHANGED,
                actor=by,
                object_type="user",
                object_id=user.pk,
                before=before,
                after=after,
            )
    return profile


def _plain(value):
    return None if value is None else str(value) if not isinstance(value, int) else value
