"""Back office for the committee: members with their health, equivocation evidence
(submit for slashing). FastPay accounts and online/offline transfers: offline.admin."""

from django.contrib import admin, messages

from authorities.chain import ChainUnavailable
from authorities.models import CommitteeMember, EquivocationEvidence
from authorities.services.committee import committee_health_check
from authorities.services.evidence import evidence_submit
from fastpay.admin_mixins import ReadOnlyAdmin


@admin.register(CommitteeMember)
class CommitteeMemberAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "epoch",
        "address",
        "stake_wei",
        "url",
        "status",
        "reachable",
        "last_seen_at",
        "lag",
        "last_error",
    ]
    list_filter = ["epoch", "status", "reachable"]
    search_fields = ["name", "address"]
    actions = ["check_health"]

    @admin.action(description="Check the health of the current committee", permissions=["view"])
    def check_health(self, request, queryset):
        members = committee_health_check()
        up = sum(1 for m in members if m.reachable)
        self.message_user(request, f"{up} of {len(members)} authorities reachable")


@admin.register(EquivocationEvidence)
class EquivocationEvidenceAdmin(ReadOnlyAdmin):
    list_display = ["found_at", "authority", "sender", "sequence", "epoch", "status", "tx_hash"]
    list_filter = ["status", "epoch"]
    search_fields = ["authority", "sender", "tx_hash"]
    actions = ["submit"]

    def has_slash_permission(self, request):
        return request.user.has_perm("authorities.submit_evidence")

    @admin.action(description="Submit to AuthorityManager (slash)", permissions=["slash"])
    def submit(self, request, queryset):
        for evidence in queryset:
            try:
                result = evidence_submit(evidence_id=evidence.pk)
            except ChainUnavailable as exc:
                self.message_user(request, f"chain unreachable: {exc}", messages.ERROR)
                return
            level = messages.SUCCESS if result.status == "submitted" else messages.WARNING
            self.message_user(request, f"{result}: {result.status} {result.error}", level)
