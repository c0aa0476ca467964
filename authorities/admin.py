"""Back office for the committee: members with their health, equivocation evidence
(submit for slashing), conflicting certificates (an alert: two certificates for one
sequence). FastPay accounts and online/offline transfers: offline.admin."""

from django.contrib import admin, messages

from authorities.chain import ChainUnavailable
from authorities.gateway import CommitteeUnavailable
from authorities.models import CommitteeMember, ConflictingCertificate, EquivocationEvidence
from authorities.services.committee import committee_catch_up, committee_health_check
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
    actions = ["check_health", "catch_up"]

    @admin.action(description="Check the health of the current committee", permissions=["view"])
    def check_health(self, request, queryset):
        members = committee_health_check()
        up = sum(1 for m in members if m.reachable)
        self.message_user(request, f"{up} of {len(members)} authorities reachable")

    @admin.action(
        description="Catch up lagging authorities now (every known account)",
        permissions=["view"],
    )
    def catch_up(self, request, queryset):
        try:
            summary = committee_catch_up()
        except CommitteeUnavailable as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        pushed = sum(summary["pushed"].values())
        left = sum(summary["lag"].values())
        level = messages.SUCCESS if not left else messages.WARNING
        self.message_user(
            request,
            f"{summary['accounts']} accounts: {pushed} certificates pushed, "
            f"{left} still missing, {len(summary['unknown'])} accounts unknown",
            level,
        )


@admin.register(EquivocationEvidence)
class EquivocationEvidenceAdmin(ReadOnlyAdmin):
    list_display = [
        "found_at",
        "authority",
        "sender",
        "sequence",
        "epoch",
        "status",
        "tx_hash",
        "error",
    ]
    list_filter = ["status", "epoch"]
    search_fields = ["authority", "sender", "tx_hash"]
    actions = ["submit"]

    def has_slash_permission(self, request):
        return request.user.has_perm("authorities.submit_evidence")

    @admin.action(description="Submit to AuthorityManager (slash)", permissions=["slash"])
    def submit(self, request, queryset):
        """The manual mode (FASTPAY_SLASHING_AUTO off), or a retry of failed or stuck
        evidence: the chain is checked first, so nothing is slashed twice."""
        for evidence in queryset:
            try:
                result = evidence_submit(evidence_id=evidence.pk, force=True)
            except ChainUnavailable as exc:
                self.message_user(request, f"chain unreachable: {exc}", messages.ERROR)
                return
            level = messages.SUCCESS if result.status == "submitted" else messages.WARNING
            self.message_user(request, f"{result}: {result.status} {result.error}", level)


@admin.register(ConflictingCertificate)
class ConflictingCertificateAdmin(ReadOnlyAdmin):
    list_display = [
        "found_at",
        "authority",
        "sender",
        "sequence",
        "applied_epoch",
        "submitted_epoch",
    ]
    list_filter = ["applied_epoch", "submitted_epoch"]
    search_fields = ["authority", "sender"]
