"""The committee registry: load members (from the deployment / committee file), and keep
each node's health (reachable, last seen, lag) for the admin page and the metrics."""

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.db import transaction
from django.utils import timezone
from eth_utils import to_checksum_address

from authorities.errors import InvalidCommittee
from authorities.models import CommitteeMember, MemberStatus
from fastpay.events import event_record
from fastpay_protocol.membership import committee_load

HEALTH_TIMEOUT_S = 3


def committee_sync(*, epoch: int, members: list[dict]) -> list[CommitteeMember]:
    """Make the registry's members of `epoch` exactly `members` ({name, address, stake_wei,
    url}); members of that epoch not listed are marked removed."""
    if not members:
        raise InvalidCommittee("a committee needs members", param="members")
    seen = set()
    with transaction.atomic():
        rows = []
        for member in members:
            address = to_checksum_address(member["address"])
            if address in seen:
                raise InvalidCommittee(f"{address} is listed twice", param="members")
            seen.add(address)
            stake = str(int(member["stake_wei"]))
            row, _ = CommitteeMember.objects.update_or_create(
                epoch=epoch,
                address=address,
                defaults={
                    "name": member.get("name") or address[:10],
                    "stake_wei": stake,
                    "url": member["url"].rstrip("/"),
                    "status": MemberStatus.ACTIVE,
                },
            )
            rows.append(row)
        CommitteeMember.objects.filter(epoch=epoch, status=MemberStatus.ACTIVE).exclude(
            address__in=seen
        ).update(status=MemberStatus.REMOVED)
        event_record(
            topic="committee.synced",
            aggregate_type="committee",
            aggregate_id=epoch,
            payload={"epoch": epoch, "members": sorted(seen), "state": "active"},
        )
    return rows


def committee_sync_schedule(*, schedule) -> list[int]:
    """Bring the registry in line with every epoch of a ``handoff.Schedule`` (the
    gateway's, from the chain or the committee file); epochs whose members, stakes and
    URLs already match are left alone (no event). Returns the epochs written."""
    written = []
    for info in schedule.epochs:
        wanted = {(m.address, str(m.stake), m.url.rstrip("/")) for m in info.committee.members}
        have = set(
            CommitteeMember.objects.filter(
                epoch=info.epoch, status__in=[MemberStatus.ACTIVE, MemberStatus.SLASHED]
            ).values_list("address", "stake_wei", "url")
        )
        if have == wanted:
            continue
        committee_sync(
            epoch=info.epoch,
            members=[
                {"name": m.name, "address": m.address, "stake_wei": m.stake, "url": m.url}
                for m in info.committee.members
            ],
        )
        written.append(info.epoch)
    return written


def committee_sync_file(path: str) -> list[CommitteeMember]:
    """Load the current epoch of a committee file (docs/authorities.md), read by the one
    loader the nodes and the gateway use. Raises FileNotFoundError, or ValueError
    (CommitteeFileError naming the field) for a file that breaks the rule."""
    committee = committee_load(json.loads(Path(path).read_text())).committee
    members = [
        {"name": m.name, "address": m.address, "stake_wei": m.stake, "url": m.url}
        for m in committee.members
    ]
    return committee_sync(epoch=committee.epoch, members=members)


def committee_sync_chain(*, urls: dict[str, str]) -> list[CommitteeMember]:
    """Bring the registry in line with the chain: AuthorityManager's current epoch and that
    epoch's CommitteeConsensus snapshot (members, stakes, slashed). The chain knows no
    URLs: `urls` maps each member's address to its node's URL (the committee file)."""
    from authorities import chain

    w3 = chain.web3()
    epoch = chain.contract(w3, "AuthorityManager").functions.currentEpoch().call()
    consensus = chain.contract(w3, "CommitteeConsensus")
    known = {to_checksum_address(a): url for a, url in urls.items()}
    members, slashed = [], []
    for address in consensus.functions.membersOf(epoch).call():
        address = to_checksum_address(address)
        stake, is_slashed = consensus.functions.memberInfo(epoch, address).call()
        if address not in known:
            raise InvalidCommittee(
                f"no node URL known for committee member {address}", param="members"
            )
        members.append({"address": address, "stake_wei": stake, "url": known[address], "name": ""})
        if is_slashed:
            slashed.append(address)
    rows = committee_sync(epoch=epoch, members=members)
    CommitteeMember.objects.filter(epoch=epoch, address__in=slashed).update(
        status=MemberStatus.SLASHED
    )
    return list(CommitteeMember.objects.filter(epoch=epoch, address__in=[r.address for r in rows]))


def current_epoch() -> int | None:
    """The epoch active now: the gateway's schedule by this process's clock when the
    registry holds it (an announced epoch is in the registry before it activates), else
    the registry's latest."""
    from authorities.gateway import CommitteeUnavailable, gateway

    try:
        active = gateway().epoch()
    except CommitteeUnavailable:
        active = None
    if active is not None and CommitteeMember.objects.filter(epoch=active).exists():
        return active
    latest = CommitteeMember.objects.filter(status=MemberStatus.ACTIVE).order_by("-epoch").first()
    return latest.epoch if latest else None


def _get_json(url: str):
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    # Scheme checked above; member URLs are staff-entered http(s) URLs (URLField).
    with urllib.request.urlopen(url, timeout=HEALTH_TIMEOUT_S) as response:  # noqa: S310
        return json.loads(response.read())


def _probe(url: str) -> tuple[bool, dict | str]:
    try:
        return True, _get_json(f"{url}/authority/v1/health")
    except (OSError, urllib.error.URLError, ValueError) as exc:
        return False, f"{exc.__class__.__name__}: {exc}"[:255]


def committee_health_check(*, platform_address: str | None = None) -> list[CommitteeMember]:
    """Probe every active member in parallel (never inside a transaction), then record
    reachability and, when `platform_address` is given, each node's lag on that account."""
    epoch = current_epoch()
    members = list(CommitteeMember.objects.filter(epoch=epoch, status=MemberStatus.ACTIVE))
    if not members:
        return []
    with ThreadPoolExecutor(max_workers=2 * len(members)) as pool:  # both probes at once
        health_futures = pool.map(lambda m: _probe(m.url), members)
        sequence_futures = pool.map(lambda m: _sequence(m.url, platform_address), members)
        health, sequences = list(health_futures), list(sequence_futures)
    best = max((s for s in sequences if s is not None), default=None)
    now = timezone.now()
    for member, (ok, info), sequence in zip(members, health, sequences, strict=True):
        member.reachable = ok
        member.last_error = "" if ok else str(info)
        if ok:
            member.last_seen_at = now
        member.lag = None if sequence is None or best is None else best - sequence
        member.save(update_fields=["reachable", "last_error", "last_seen_at", "lag"])
    return members


def _sequence(url: str, address: str | None) -> int | None:
    if not address:
        return None
    try:
        return int(_get_json(f"{url}/authority/v1/accounts/{address}")["next_sequence"])
    except (OSError, urllib.error.URLError, ValueError, KeyError, TypeError):
        return None


# ---------------------------------------------------------------------- catch-up

_catch_up_sources: list = []


def catch_up_source(source) -> None:
    """Register ``source()`` -> iterable of FastPay addresses for the periodic catch-up
    (an app's accounts: offline registers linked accounts and active vouchers)."""
    if source not in _catch_up_sources:
        _catch_up_sources.append(source)


def catch_up_addresses(platform_address: str | None) -> list[str]:
    """Every account the platform knows, the platform's own first: its certificates pay
    the others, and an authority that missed a credit refuses the payer's next one."""
    seen: dict[str, None] = {}
    if platform_address:
        seen[platform_address] = None
    for source in _catch_up_sources:
        for address in source():
            seen.setdefault(to_checksum_address(address), None)
    return list(seen)


CATCH_UP_PASSES = 3
CATCH_UP_THREADS = 4


def committee_catch_up(*, addresses: list[str] | None = None) -> dict:
    """Bring every lagging authority to the committee's state on every account the
    platform knows (``addresses``: only those), pushing the missing certificates in order
    (CommitteeClient.catch_up). An account left behind because the authority also missed
    a credit is retried in a second pass, up to CATCH_UP_PASSES. Records each active
    member's remaining lag (sum over the accounts; 0 = up to date) and returns a summary:
    {"accounts", "pushed": {authority: n}, "lag": {authority: n}, "unknown": [address]}.
    Never inside a transaction: it talks to every authority."""
    from authorities.gateway import gateway
    from fastpay_protocol.committee_errors import CommitteeError

    gw = gateway()
    client = gw.client()
    todo = addresses if addresses is not None else catch_up_addresses(gw.platform_address)
    pushed: dict[str, int] = {}
    lag: dict[str, int] = {}
    answered: set[str] = set()
    unknown: list[str] = []
    results: dict[str, object] = {}
    hung: set[str] = set()  # timed out once in this run: not waited for again

    def one(address: str):
        try:
            result = client.catch_up(address, skip=frozenset(hung))
        except CommitteeError as exc:  # StateUnknown: too few authorities answered
            return address, exc
        hung.update(a for a, f in result.failures.items() if f.reason == "timeout")
        return address, result

    for _ in range(CATCH_UP_PASSES):
        if todo and todo[0] == gw.platform_address:  # first and alone: it pays the others
            results[todo[0]] = one(todo[0])[1]
            rest = todo[1:]
        else:
            rest = todo
        with ThreadPoolExecutor(CATCH_UP_THREADS, thread_name_prefix="catch-up") as pool:
            for address, result in pool.map(one, rest):
                results[address] = result
        retry = []
        for address in todo:
            result = results[address]
            if isinstance(result, Exception):
                continue
            for authority, count in result.pushed.items():
                pushed[authority] = pushed.get(authority, 0) + count
            if any(result.lag.values()):
                retry.append(address)  # e.g. a credit it missed may have landed since
        if not retry:
            break
        todo = retry
    for address, result in results.items():
        if isinstance(result, Exception):
            unknown.append(address)
            continue
        answered |= result.answered
        for authority, count in result.lag.items():
            lag[authority] = lag.get(authority, 0) + count
    _lag_record(lag, answered)
    return {"accounts": len(results), "pushed": pushed, "lag": lag, "unknown": unknown}


def _lag_record(lag: dict[str, int], answered: set[str]) -> None:
    """Each active member of the current epoch that answered: its remaining lag."""
    epoch = current_epoch()
    by_address = {to_checksum_address(a): n for a, n in lag.items()}
    for address in {to_checksum_address(a) for a in answered}:
        CommitteeMember.objects.filter(
            epoch=epoch, address=address, status=MemberStatus.ACTIVE
        ).update(lag=by_address.get(address, 0))
