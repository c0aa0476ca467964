"""Committee health as Prometheus gauges, read from the registry at scrape time."""

from prometheus_client.core import REGISTRY, GaugeMetricFamily

_registered = False


class CommitteeCollector:
    def describe(self):
        yield GaugeMetricFamily("fastpay_authority_up", "", labels=["name", "address"])
        yield GaugeMetricFamily("fastpay_authority_lag", "", labels=["name", "address"])

    def collect(self):
        from django.db import DatabaseError

        from authorities.models import CommitteeMember, MemberStatus
        from authorities.services.committee import current_epoch

        up = GaugeMetricFamily(
            "fastpay_authority_up",
            "1 if the authority answered the last health check",
            labels=["name", "address"],
        )
        lag = GaugeMetricFamily(
            "fastpay_authority_lag",
            "Sequences the authority is behind the most advanced one",
            labels=["name", "address"],
        )
        try:
            members = CommitteeMember.objects.filter(
                epoch=current_epoch(), status=MemberStatus.ACTIVE
            )
            for member in members:
                up.add_metric([member.name, member.address], 1 if member.reachable else 0)
                if member.lag is not None:
                    lag.add_metric([member.name, member.address], member.lag)
        except DatabaseError:
            return
        yield up
        yield lag


def register() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(CommitteeCollector())
        _registered = True
