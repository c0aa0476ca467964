"""An authority node of the simulation: its database (balances, sequences, its pending
vote per sender, applied certificates in apply order, carried locks, completed handovers,
handover cursors) survives a crash; its in-flight work (handover progress, certificates
parked until an earlier one arrives) does not.

Every decision is a call into fastpay_protocol.handoff (the package docstring says which);
``rule`` selects the variant under test:

- "handoff": the rule of docs/protocol.md (the feed serves the node's pending votes and its
  carried locks; a member serves an epoch frozen only after its own handover before it);
- "overlap": the OLD rule, to prove the checker catches the issue's attack: the previous
  epoch's committee keeps voting for OVERLAP ticks after the next one activated, no
  handover, a lock is the exact order;
- "own_pending_feed": the feed serves only the node's own pending votes (no carried locks);
- "serve_unhanded": a member serves an epoch frozen whether or not it completed its own
  handover of the epoch before.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastpay_protocol import handoff
from fastpay_protocol.handoff import Refusal
from fastpay_protocol.wire import Order
from tests.protocol.simulation.model import Cert, describe, name, short

OVERLAP = 12  # ticks the old rule let the previous committee vote after the change
HANDOVER_RETRY = 6  # ticks between two handover requests to a source


def _by_sender_sequence(cert: Cert) -> tuple[str, int]:
    return cert.order.sender, cert.order.sequence


@dataclass(frozen=True, slots=True)
class Page:
    """A handover page (GET /authority/v1/handover): certificates after the cursor, all
    pending entries (order, voter), the next cursor."""

    epoch: int
    frozen: bool
    certificates: tuple[Cert, ...]
    pending: tuple[tuple[Order, str], ...]
    next: int


class Node:
    def __init__(self, world, address: str, name: str, byzantine: bool, skew: int) -> None:
        self.world = world
        self.address = address
        self.name = name
        self.byzantine = byzantine
        self.skew = skew
        # the database
        self.balances = dict(world.genesis)
        self.credits: dict[str, int] = {}
        self.next_sequence: dict[str, int] = {}
        self.pending: dict[str, Order] = {}
        self.applied: dict[tuple[str, int], Order] = {}
        self.log: list[Cert] = []
        self.carried: dict[tuple[str, int], list[tuple[Order, str]]] = {}
        self.handed_over: set[int] = set()
        self.cursors: dict[str, int] = {}
        # in flight
        self.crashed = False
        self.restart_at = 0
        self.parked: dict[tuple[str, int], Cert] = {}
        self.sources: dict[int, list[str]] = {}
        self.asked: dict[int, int] = {}
        self.dirty = False
        self.done_below = 0  # every epoch below it: nothing left to hand over

    def clock(self) -> int:
        return self.world.t + self.skew

    def __repr__(self) -> str:
        return f"{self.name}{'(byz)' if self.byzantine else ''}"

    # ------------------------------------------------------------ crash and restart

    def crash(self, until: int) -> None:
        self.crashed = True
        self.restart_at = until
        self.parked.clear()
        self.sources.clear()
        self.asked.clear()

    def restart(self) -> None:
        self.crashed = False

    # ------------------------------------------------------------ messages

    def receive(self, msg: tuple) -> None:
        kind = msg[0]
        if kind == "order":
            self.on_order(msg[1], msg[2])
        elif kind == "cert":
            self.on_cert(msg[1])
        elif kind == "ho_req":
            self.on_handover_request(msg[1], msg[2], msg[3])
        elif kind == "ho_page":
            self.on_handover_page(msg[1], msg[2])

    def on_order(self, src: str, order: Order) -> None:
        world = self.world
        if order not in world.sigs.orders:
            return
        if self.byzantine:
            self._byzantine_vote(src, order)
            return
        decision = self.decide(order)
        if decision == "vote":
            world.sigs.sign_vote(self.address, order)
            world.checker.vote(self.address, order)
            self.pending[order.sender] = order
        if decision in ("vote", "same"):
            world.send(src, ("vote", self.address, order))
        else:
            world.send(src, ("refusal", self.address, order, decision))
        if world.verbose:
            world.log(f"{self} order {short(order)} from {src}: {describe(decision)}")

    def decide(self, order: Order):
        world = self.world
        sender = order.sender
        if world.rule == "overlap":
            return self._old_rule(order)
        return handoff.vote_decision(
            order=order,
            now=self.clock(),
            schedule=world.schedule,
            me=self.address,
            handed_over=self.handed_over,
            next_sequence=self.next_sequence.get(sender, 0),
            pending=self.pending.get(sender),
            carried=[o for o, _ in self.carried.get((sender, order.sequence), ())],
            balance=self.balances.get(sender, 0),
        )

    def _old_rule(self, order: Order):
        """The rule issue 11 found unsafe: the previous epoch still votes during a window
        after the change, nothing is handed over, a lock is the exact order."""
        schedule, now = self.world.schedule, self.clock()
        active = schedule.active_epoch(now)
        committee = schedule.committee(order.epoch)
        window = order.epoch == active or (
            active is not None
            and order.epoch == active - 1
            and now < schedule.closes_at(order.epoch) + OVERLAP
        )
        if not window or committee is None or not committee.is_member(self.address):
            return Refusal("wrong_epoch", {"epoch": active})
        sender = order.sender
        pending = self.pending.get(sender)
        if pending is not None and pending.sequence == order.sequence:
            return "same" if pending == order else Refusal("sequence_locked", {"order": pending})
        next_sequence = self.next_sequence.get(sender, 0)
        if order.sequence != next_sequence:
            return Refusal("sequence_mismatch", {"next_sequence": next_sequence})
        if self.balances.get(sender, 0) < order.amount:
            return Refusal("insufficient_balance", {"balance": self.balances.get(sender, 0)})
        return "vote"

    def _byzantine_vote(self, src: str, order: Order) -> None:
        """Votes for anything of an epoch it is a member of (equivocates), or stays mute."""
        world = self.world
        committee = world.schedule.committee(order.epoch)
        if committee is None or not committee.is_member(self.address):
            return
        if world.rng.random() < 0.15:
            return
        world.sigs.sign_vote(self.address, order)
        world.send(src, ("vote", self.address, order))

    # ------------------------------------------------------------ certificates

    def on_cert(self, cert: Cert) -> None:
        if self.world.validate(cert, self.name):
            self.apply(cert)

    def apply(self, cert: Cert) -> None:
        """handoff.apply_decision, then the writes; the next certificate of the sender
        parked here follows."""
        while cert is not None:
            order = cert.order
            sender = order.sender
            key = (sender, order.sequence)
            decision = handoff.apply_decision(
                order=order,
                next_sequence=self.next_sequence.get(sender, 0),
                applied_at_sequence=self.applied.get(key),
            )
            if decision != "apply":
                if isinstance(decision, Refusal) and decision.code == handoff.MISSING_SEQUENCE:
                    self.parked[key] = cert
                elif isinstance(decision, Refusal):
                    self.world.stats["conflicting_certificate"] += 1
                return
            amount = order.amount
            self.balances[sender] = self.balances.get(sender, 0) - amount
            self.balances[order.recipient] = self.balances.get(order.recipient, 0) + amount
            self.credits[order.recipient] = self.credits.get(order.recipient, 0) + amount
            self.next_sequence[sender] = order.sequence + 1
            self.applied[key] = order
            self.log.append(cert)
            self.carried.pop(key, None)
            self.dirty = True
            if not self.byzantine:
                self.world.checker.accepted_by(self.name, cert)
            cert = self.parked.pop((sender, order.sequence + 1), None)

    # ------------------------------------------------------------ the handover

    def serves(self, epoch: int, now: int) -> bool:
        handed = None if self.world.rule == "serve_unhanded" else self.handed_over
        return handoff.serves_frozen(self.world.schedule, epoch, now, handed)

    def tick(self) -> None:
        """Hand over, in order, every epoch before one this node is a member of that has
        activated by its clock (to vote in the active one, and to serve the frozen
        state of the others complete)."""
        world = self.world
        if self.crashed or self.byzantine or world.rule == "overlap":
            return
        now = self.clock()
        schedule = world.schedule
        for info in schedule.epochs[self.done_below :]:
            if info.activates_at > now:
                break
            previous = handoff.handover_epoch(schedule, info.epoch)
            if (
                previous is None
                or previous in self.handed_over
                or self.address not in world.members[info.epoch]
            ):
                if info.epoch == schedule.epochs[self.done_below].epoch:
                    self.done_below += 1
                continue
            self._hand_over(previous, now)

    def _hand_over(self, epoch: int, now: int) -> None:
        world = self.world
        committee = world.schedule.committee(epoch)
        sources = self.sources.setdefault(epoch, [])
        members = world.members[epoch]
        if self.address in members and self.address not in sources and self.serves(epoch, now):
            sources.append(self.address)  # its own database, frozen by its own clock
        if self._complete(epoch, committee, sources):
            return
        if now - self.asked.get(epoch, -(10**9)) >= HANDOVER_RETRY:
            self.asked[epoch] = now
            for member in members:
                if member != self.address and member not in sources:
                    world.send(member, ("ho_req", self.address, epoch, self.cursors.get(member, 0)))

    def _complete(self, epoch: int, committee, sources: list[str]) -> bool:
        if epoch in self.handed_over:
            return True
        if not handoff.handover_sources_enough(committee, sources):
            return False
        self.handed_over.add(epoch)
        self.world.stats["handovers"] += 1
        if self.world.verbose:
            self.world.log(f"{self} handed over epoch {epoch} from {','.join(map(name, sources))}")
        return True

    def on_handover_request(self, src: str, epoch: int, cursor: int) -> None:
        world = self.world
        if self.address not in world.members.get(epoch, ()):
            return
        if self.byzantine:
            page = self._byzantine_page(epoch, cursor)
            if page is None:
                return
        else:
            page = Page(
                epoch,
                self.serves(epoch, self.clock()),
                tuple(self.log[cursor:]),
                self._pending_entries(epoch),
                len(self.log),
            )
        world.send(src, ("ho_page", self.address, page))

    def _pending_entries(self, epoch: int) -> tuple[tuple[Order, str], ...]:
        """Its pending votes of epochs up to ``epoch`` not certified here yet, and (rule
        "handoff") the carried locks it holds, each with its voter: a lock it learned in a
        handover must reach the next committee even once its voters left."""
        entries = [
            (order, self.address)
            for sender, order in self.pending.items()
            if order.epoch <= epoch and order.sequence >= self.next_sequence.get(sender, 0)
        ]
        if self.world.rule != "own_pending_feed":
            for candidates in self.carried.values():
                entries.extend(candidates)
        return tuple(entries)

    def _byzantine_page(self, epoch: int, cursor: int) -> Page | None:
        """Omits, lies about being frozen, or adds pending entries for orders senders did
        sign, with its own vote."""
        world = self.world
        rng = world.rng
        roll = rng.random()
        if roll < 0.15:
            return None
        if roll < 0.45:
            return Page(epoch, True, (), (), len(self.log))
        certs = tuple(c for c in self.log[cursor:] if rng.random() < 0.5)
        fake: list[tuple[Order, str]] = []
        signed = world.sigs.order_list
        for _ in range(rng.randint(0, 3)):
            if not signed:
                break
            order = signed[rng.randrange(len(signed))]
            if self.address in world.members.get(order.epoch, ()):
                world.sigs.sign_vote(self.address, order)
                fake.append((order, self.address))
        return Page(epoch, True, certs, tuple(fake), len(self.log))

    def on_handover_page(self, src: str, page: Page) -> None:
        """Merge: every certificate verified against its own epoch and applied in (sender,
        sequence) order, then every pending entry verified and carried where it is the
        sender's next sequence here and no certificate for it is known."""
        world = self.world
        if self.byzantine:
            return
        applied = self.applied
        # the very orders applied here already are skipped (apply_decision: "noop")
        fresh = [
            c
            for c in page.certificates
            if applied.get((c.order.sender, c.order.sequence)) != c.order
        ]
        for cert in sorted(fresh, key=_by_sender_sequence):
            if world.validate(cert, self.name):
                self.apply(cert)
        sigs = world.sigs
        carried = self.carried
        for entry in page.pending:
            order, voter = entry
            key = (order.sender, order.sequence)
            if entry in carried.get(key, ()):
                continue  # carried already
            if (
                order not in sigs.orders
                or voter not in world.members.get(order.epoch, ())
                or (voter, order) not in sigs.votes
            ):
                continue
            if handoff.carried_candidate(
                entry=order,
                next_sequence=self.next_sequence.get(order.sender, 0),
                certified_at_sequence=key in applied,
            ):
                carried.setdefault(key, []).append(entry)
        self.cursors[src] = max(self.cursors.get(src, 0), page.next)
        sources = self.sources.get(page.epoch)
        if page.frozen and sources is not None and src not in sources:
            sources.append(src)
            self._complete(page.epoch, world.schedule.committee(page.epoch), sources)
