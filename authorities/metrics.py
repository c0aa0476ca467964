"""Committee health and equivocation evidence as Prometheus gauges, read from the
registry at scrape time (so every process exports the same figures)."""

from prometheus_client.core import REGISTRY, GaugeMetricFamily

_registered = False


class CommitteeCollector:
    def describe(self):
        yield GaugeMetricFamily("fastpay_authority_up", "", labels=["name", "address"])
        yield GaugeMetricFamily("fastpay_authority_lag", "", labels=["name", "address"])
        yield GaugeMetricFamily("fastpay_equivocation_evidence", "", labels=["status"])
        yield GaugeMetricFamily("fastpay_conflicting_certificates", "")

    def collect(self):
        from django.db import DatabaseError
        from django.db.models import Count

        from authorities.models import (
            CommitteeMember,
            ConflictingCertificate,
            EquivocationEvidence,
            EvidenceStatus,
            MemberStatus,
        )
        from authorities.services.committee import current_epoch

        up = GaugeMetricFamily(
            "fastpay_authority_up",
            "1 if the authority answered the last health check",
            labels=["name", "address"],
        )
        lag = GaugeMetricFamily(
            "fastpay_authority_lag",
            "Certificates the authority is behind the committee (platform account at each "
            "health check, every known account at each catch-up run)",
            labels=["name", "address"],
        )
        evidence = GaugeMetricFamily(
            "fastpay_equivocation_evidence",
            "Equivocation evidence recorded, by submission status (new > 0 for long: "
            "the chain is down, or FASTPAY_SLASHING_AUTO is off and it waits for an operator)",
            labels=["status"],
        )
        conflicts = GaugeMetricFamily(
            "fastpay_conflicting_certificates",
            "Sequences where an authority applied another payment's certificate than the "
            "platform's (two certificates for one sequence: alert on any value above 0)",
        )
        try:
            conflicts.add_metric([], ConflictingCertificate.objects.count())
            members = CommitteeMember.objects.filter(
                epoch=current_epoch(), status=MemberStatus.ACTIVE
            )
            for member in members:
                up.add_metric([member.name, member.address], 1 if member.reachable else 0)
                if member.lag is not None:
                    lag.add_metric([member.name, member.address], member.lag)
            counts = dict(
                EquivocationEvidence.objects.values_list("status")
                .annotate(n=Count("pk"))
                .values_list("status", "n")
            )
            for status in EvidenceStatus.values:
                evidence.add_metric([status], counts.get(status, 0))
        except DatabaseError:
            return
        yield up
        yield lag
        yield evidence
        yield conflicts


def register() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(CommitteeCollector())
        _registered = True
