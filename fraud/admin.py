"""The fraud back office: the review queue and review page, the dashboard, rule thresholds,
circuit breakers, risk profiles and the audit log. Every write calls a service."""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from fastpay.admin_mixins import ReadOnlyAdmin, run_service_action
from fastpay.errors import DomainError
from fastpay.money import format_amount
from fraud import charts, selectors
from fraud.models import (
    Assessment,
    AuditLog,
    CircuitBreaker,
    DoubleSpendEvidence,
    Review,
    ReviewState,
    RiskProfile,
    RuleConfig,
    RuleHit,
    Verdict,
)
from fraud.rules import RULES
from fraud.services.breakers import breaker_reset
from fraud.services.reviews import REVIEW_PERMISSION, review_decide
from fraud.services.thresholds import PROFILE_FIELDS, risk_profile_update, rule_config_update
from fraud.thresholds import DESCRIPTIONS, ThresholdError, params_validate
from wallets.models import PaymentState, Token

# --- the review queue -------------------------------------------------------------------


class StateFilter(admin.SimpleListFilter):
    """Open reviews by default: the queue is what is left to decide."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("closed", "Closed"), ("all", "All")]

    def choices(self, changelist):
        value = self.value() or "open"
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or "open"
        # A payment decided outside the queue (the payments admin) leaves it too.
        still_held = Q(state=ReviewState.OPEN, payment__state=PaymentState.FLAGGED)
        if value == "open":
            return queryset.filter(still_held)
        if value == "closed":
            return queryset.exclude(still_held)
        return queryset


class RuleFilter(admin.SimpleListFilter):
    title = "rule"
    parameter_name = "rule"

    def lookups(self, request, model_admin):
        return [(rule, rule) for rule in [*(name for name, _ in RULES), "circuit_breaker"]]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(assessment__hits__rule=self.value()).distinct()
        return queryset


AMOUNT_BANDS = {
    "lt100": (None, 100, "< 100"),
    "100-1k": (100, 1_000, "100 - 1,000"),
    "1k-10k": (1_000, 10_000, "1,000 - 10,000"),
    "gte10k": (10_000, None, ">= 10,000"),
}


class AmountBandFilter(admin.SimpleListFilter):
    """Bands in whole tokens, scaled per token (ledger_decimals may differ)."""

    title = "amount"
    parameter_name = "amount"

    def lookups(self, request, model_admin):
        return [(key, label) for key, (_, _, label) in AMOUNT_BANDS.items()]

    def queryset(self, request, queryset):
        if self.value() not in AMOUNT_BANDS:
            return queryset
        low, high, _ = AMOUNT_BANDS[self.value()]
        condition = Q(pk__in=[])
        for token in Token.objects.all():
            scale = 10**token.ledger_decimals
            band = Q(payment__token=token)
            if low is not None:
                band &= Q(payment__amount__gte=low * scale)
            if high is not None:
                band &= Q(payment__amount__lt=high * scale)
            condition |= band
        return queryset.filter(condition)


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"

    def lookups(self, request, model_admin):
        return [(label, label) for label, _, _ in selectors.AGE_BUCKETS]

    def queryset(self, request, queryset):
        for label, low, high in selectors.AGE_BUCKETS:
            if self.value() == label:
                now = timezone.now()
                queryset = queryset.filter(opened_at__lte=now - timedelta(hours=low))
                if high is not None:
                    queryset = queryset.filter(opened_at__gt=now - timedelta(hours=high))
        return queryset


class ReviewerOnly:
    """Only the reviewer group (permission wallets.review_payment) sees the queue."""

    def has_module_permission(self, request):
        return request.user.is_active and request.user.has_perm(REVIEW_PERMISSION)

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)


@admin.register(Review)
class ReviewAdmin(ReviewerOnly, ReadOnlyAdmin):
    list_display = [
        "payment_link",
        "score",
        "top_rule",
        "amount_display",
        "payer",
        "payee",
        "age",
        "approvals",
        "state",
    ]
    list_filter = [StateFilter, RuleFilter, ("payment__token", admin.RelatedOnlyFieldListFilter)]
    list_filter += [AmountBandFilter, AgeFilter]
    search_fields = ["=payment__id", "payment__payer__username", "payment__payee__username"]
    search_help_text = "Payment id (exact), or payer / payee username"
    ordering = ["-score", "opened_at"]
    list_select_related = ["payment__payer", "payment__payee", "payment__token"]
    change_list_template = "admin/fraud/review/change_list.html"
    list_display_links = None

    @admin.display(description="payment")
    def payment_link(self, obj):
        url = reverse("admin:fraud_review_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, str(obj.payment_id)[:8])

    @admin.display(description="amount", ordering="payment__amount")
    def amount_display(self, obj):
        return format_amount(obj.payment.amount, obj.payment.token)

    @admin.display(description="payer")
    def payer(self, obj):
        return obj.payment.payer.username

    @admin.display(description="payee")
    def payee(self, obj):
        return obj.payment.payee.username

    @admin.display(description="age", ordering="opened_at")
    def age(self, obj):
        hours = (timezone.now() - obj.opened_at).total_seconds() / 3600
        return f"{hours * 60:.0f} min" if hours < 1 else f"{hours:.1f} h"

    @admin.display(description="approvals")
    def approvals(self, obj):
        done = sum(1 for d in obj.decisions.all() if d.verdict == Verdict.APPROVE)
        return f"{done}/{obj.required_approvals}"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("decisions")

    def get_urls(self):
        dashboard = self.admin_site.admin_view(self.dashboard_view)
        return [path("dashboard/", dashboard, name="fraud_dashboard"), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The review page: GET shows everything; POST decides through review_decide."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        review = get_object_or_404(Review.objects.select_related("payment"), pk=object_id)
        if request.method == "POST":
            verdict = request.POST.get("verdict", "")
            try:
                review = review_decide(
                    review_id=review.pk,
                    by=request.user,
                    verdict=verdict,
                    note=request.POST.get("note", ""),
                )
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(request.path)
            if review.state == ReviewState.CLOSED:
                self.message_user(
                    request, f"Payment {review.payment_id} {review.outcome}.", messages.SUCCESS
                )
            else:
                self.message_user(
                    request,
                    f"Approval recorded for {review.payment_id}: a second reviewer must approve.",
                    messages.WARNING,
                )
            return HttpResponseRedirect(reverse("admin:fraud_review_changelist"))
        review.refresh_from_db()
        payment = review.payment
        context = {
            **self.admin_site.each_context(request),
            **selectors.review_page(review=review),
            "title": f"Review of payment {payment.id}",
            "opts": self.model._meta,
            "review": review,
            "amount": format_amount(payment.amount, payment.token),
            "party": request.user.pk in (payment.payer_id, payment.payee_id),
            "already_decided": any(
                d.reviewer_id == request.user.pk for d in review.decisions.all()
            ),
            "can_decide": review.state == ReviewState.OPEN,
            "format_amount": format_amount,
        }
        context["recent_rows"] = [
            (
                p,
                format_amount(p.amount, p.token),
                "sent" if p.payer_id == payment.payer_id else "received",
            )
            for p in context["recent"]
        ]
        context["balance_rows"] = [
            (
                row["token"].symbol,
                format_amount(row["available"], row["token"]),
                format_amount(row["held"], row["token"]),
            )
            for row in context["payer_balances"]
        ]
        return TemplateResponse(request, "admin/fraud/review/review.html", context)

    def dashboard_view(self, request):
        if not (
            request.user.has_perm("fraud.view_fraud_dashboard")
            or request.user.has_perm(REVIEW_PERMISSION)
        ):
            raise PermissionDenied
        figures = selectors.dashboard_figures()
        columns = [day.strftime("%d %b") for day in figures["days"]]
        rules = sorted(figures["per_rule"])
        series = {
            rule: [figures["per_rule"][rule].get(day, 0) for day in figures["days"]]
            for rule in rules
        }
        context = {
            **self.admin_site.each_context(request),
            "title": "Fraud dashboard",
            "opts": self.model._meta,
            "figures": figures,
            "decisions_chart": mark_safe(  # noqa: S308 - charts escape every label
                charts.stacked_columns(columns, series, title="Rule hits per day")
            ),
            "queue_chart": mark_safe(  # noqa: S308
                charts.stacked_columns(
                    columns,
                    {"open reviews": [n for _, n in figures["queue_by_day"]]},
                    title="Queue size at the end of each day",
                )
            ),
            "age_chart": mark_safe(  # noqa: S308
                charts.hbars(figures["ages"], title="Open reviews by age")
            ),
            "fp_chart": mark_safe(  # noqa: S308
                charts.hbars(
                    [(rule, pct) for rule, pct, _ in figures["fp_by_rule"]],
                    title="False-positive rate by rule (approved / decided)",
                    unit="%",
                    peak=100,
                )
            ),
        }
        return TemplateResponse(request, "admin/fraud/dashboard.html", context)


# --- thresholds, profiles, breakers, records -------------------------------------------------


class RuleConfigForm(forms.ModelForm):
    note = forms.CharField(
        required=False, help_text="Why the change (kept in the audit log).", max_length=500
    )

    class Meta:
        model = RuleConfig
        fields = ["enabled", "params"]

    def clean(self):
        cleaned = super().clean()
        if "params" in cleaned:
            try:
                cleaned["params"] = params_validate(self.instance.rule, cleaned["params"])
            except ThresholdError as exc:
                self.add_error("params", str(exc))
        return cleaned


@admin.register(RuleConfig)
class RuleConfigAdmin(admin.ModelAdmin):
    form = RuleConfigForm
    list_display = ["rule", "enabled", "params", "description", "updated_at", "updated_by"]
    readonly_fields = ["rule", "description", "updated_at", "updated_by"]
    fields = ["rule", "description", "enabled", "params", "note", "updated_at", "updated_by"]

    @admin.display(description="what it does")
    def description(self, obj):
        return DESCRIPTIONS.get(obj.rule, "")

    def has_add_permission(self, request):
        return False  # one row per rule, seeded by migration

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        rule_config_update(
            rule=obj.rule,
            enabled=form.cleaned_data["enabled"],
            params=form.cleaned_data["params"],
            by=request.user,
            note=form.cleaned_data.get("note", ""),
        )


@admin.register(RiskProfile)
class RiskProfileAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "verification_tier",
        "registered_latitude",
        "registered_longitude",
        "double_spend_flagged_at",
    ]
    list_filter = ["verification_tier", ("double_spend_flagged_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__username"]
    raw_id_fields = ["user"]
    readonly_fields = ["double_spend_flagged_at", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "user"] if obj is not None else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        risk_profile_update(
            user=obj.user,
            by=request.user,
            **{name: form.cleaned_data[name] for name in PROFILE_FIELDS},
        )


@admin.register(CircuitBreaker)
class CircuitBreakerAdmin(ReadOnlyAdmin):
    list_display = ["scope", "key", "state", "trip_reason", "tripped_at", "reset_at", "reset_by"]
    list_filter = ["state", "scope"]
    search_fields = ["key"]
    actions = ["reset"]

    def has_reset_permission(self, request):
        return request.user.has_perm("fraud.reset_circuitbreaker")

    @admin.action(description="Reset selected breakers (resume payments)", permissions=["reset"])
    def reset(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda b: breaker_reset(breaker_id=b.pk, by=request.user, note="reset in admin"),
            "Reset",
        )


class RuleHitInline(admin.TabularInline):
    model = RuleHit
    fields = ["rule", "score", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Assessment)
class AssessmentAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "subject", "channel", "decision", "score", "payer", "payee"]
    list_filter = ["decision", "channel", "token", "hits__rule"]
    search_fields = ["subject", "payer__username", "payee__username"]
    list_select_related = ["payer", "payee"]
    date_hierarchy = "created_at"
    inlines = [RuleHitInline]


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "action",
        "actor",
        "object_type",
        "object_id",
        "note",
        "client_ip",
    ]
    list_filter = ["action", "object_type"]
    search_fields = ["object_id", "actor__username", "note", "client_ip"]
    date_hierarchy = "created_at"


@admin.register(DoubleSpendEvidence)
class DoubleSpendEvidenceAdmin(ReadOnlyAdmin):
    list_display = ["reported_at", "payer", "voucher"]
    search_fields = ["payer__username", "voucher"]
