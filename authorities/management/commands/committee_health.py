from django.core.management.base import BaseCommand

from authorities.gateway import CommitteeUnavailable, gateway
from authorities.services.committee import committee_health_check


class Command(BaseCommand):
    help = "Probe every authority of the current committee and print reachability and lag."

    def handle(self, *args, **options):
        try:
            address = gateway().platform_address
        except CommitteeUnavailable:
            address = None
        members = committee_health_check(platform_address=address)
        if not members:
            self.stdout.write("no committee in the registry: run committee_sync first")
            return
        for m in members:
            state = "up  " if m.reachable else "DOWN"
            lag = "-" if m.lag is None else m.lag
            self.stdout.write(f"  {state} {m.name:<14} {m.url:<28} lag={lag} {m.last_error}")
