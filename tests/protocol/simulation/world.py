"""The simulated world: built from one seed, stepped tick by tick, invariants checked
after every step (package docstring). ``run(seed)`` is the entry point."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from fastpay_protocol.handoff import EpochInfo, Schedule
from fastpay_protocol.membership import Committee, Member
from tests.protocol.simulation.actors import (
    ByzantineClient,
    Platform,
    Processor,
    Terminal,
    Wallet,
)
from tests.protocol.simulation.model import Cert, Checker, Network, Signatures
from tests.protocol.simulation.node import Node

VERIFIER = "0x" + "ab" * 20
REDEMPTION = "0x" + "cd" * 20
RULES = ("handoff", "overlap", "own_pending_feed", "serve_unhanded")
STEPS = 160  # ticks a run lasts by default: some 5 epoch changes


@dataclass(frozen=True)
class Config:
    """What a seed draws (``Config.draw``): the faults' rates and the world's size."""

    loss: float
    delay_max: int
    skew_max: int
    crash_rate: float
    pay_rate: float
    byzantine_rate: float
    announce_rate: float
    activation_delay: tuple[int, int]
    settlement_window: int
    stake_scale: int
    initial_members: int
    wallets: int
    byzantine_clients: int
    terminals: int
    byzantine_node_share: float

    @classmethod
    def draw(cls, rng: random.Random) -> Config:
        return cls(
            loss=rng.choice((0.0, 0.02, 0.05, 0.15)),
            delay_max=rng.randint(1, 4),
            skew_max=rng.randint(0, 3),
            crash_rate=rng.choice((0.0, 0.005, 0.02)),
            pay_rate=rng.choice((0.1, 0.3)),
            byzantine_rate=rng.choice((0.05, 0.15)),
            announce_rate=rng.choice((0.05, 0.12)),
            activation_delay=(6, rng.randint(8, 20)),
            settlement_window=rng.randint(5, 30),
            stake_scale=rng.choice((1, 1, 10**18)),
            initial_members=rng.randint(4, 6),
            wallets=rng.randint(2, 4),
            byzantine_clients=rng.randint(0, 2),
            terminals=rng.randint(1, 2),
            byzantine_node_share=rng.choice((0.0, 0.3, 0.6)),
        )


@dataclass
class Result:
    seed: int
    steps: int
    rule: str
    violation: str | None
    stats: Counter
    trace: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.violation is None


# one Committee per (epoch, members): built once per process (seeds share them)
_COMMITTEES: dict[tuple, Committee] = {}


def committee_of(epoch: int, members: tuple[tuple[str, int], ...]) -> Committee:
    key = (epoch, members)
    committee = _COMMITTEES.get(key)
    if committee is None:
        committee = Committee(
            epoch=epoch,
            chain_id=1,
            verifying_contract=VERIFIER,
            redemption_address=REDEMPTION,
            members=tuple(
                Member(name=f"n{int(a, 16)}", address=a, stake=s, url="http://sim.test")
                for a, s in members
            ),
        )
        if len(_COMMITTEES) >= 4096:
            _COMMITTEES.clear()
        _COMMITTEES[key] = committee
    return committee


def address(kind: int, index: int) -> str:
    return "0x" + f"{kind:02x}" + f"{index:038x}"


class World:
    def __init__(
        self,
        seed: int,
        rule: str = "handoff",
        verbose: bool = False,
        *,
        config: Config | None = None,
        committees: list[tuple[int, list[int]]] | None = None,
    ) -> None:
        """``config`` and ``committees`` script a world (tests): the epochs as
        (activates_at, indices of honest nodes of stake 1), instead of drawn ones."""
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}")
        self.rng = rng = random.Random(seed)
        self.seed = seed
        self.rule = rule
        self.verbose = verbose
        self.trace: list[str] = []
        drawn = Config.draw(rng)
        self.config = config = config or drawn
        self.t = 0
        self.stats: Counter = Counter()
        self.sigs = Signatures()
        self.valid: dict[Cert, bool] = {}
        self.net = Network(rng, config.loss, config.delay_max)

        wallet_addresses = [address(0xAA, i + 1) for i in range(config.wallets)]
        byzantine_accounts = [
            [address(0xBB, 16 * i + k + 1) for k in range(3)]
            for i in range(config.byzantine_clients)
        ]
        byzantine_addresses = [a for accounts in byzantine_accounts for a in accounts]
        terminal_addresses = [address(0xCC, i + 1) for i in range(config.terminals)]
        self.genesis = {a: rng.randint(50, 400) for a in wallet_addresses + byzantine_addresses}
        self.genesis.update({a: 0 for a in terminal_addresses})
        self.payees = wallet_addresses + terminal_addresses
        self.checker = Checker(self.genesis)

        self.nodes: dict[str, Node] = {}
        self.actors: dict[str, object] = {}
        self.members: dict[int, tuple[str, ...]] = {}
        self.node_names: list[str] = []
        if committees is None:
            members = self._first_committee()
            self.schedule = Schedule([EpochInfo(1, committee_of(1, members), 0)])
            self.members[1] = tuple(a for a, _ in members)
        else:
            self._scripted(committees)

        self.wallets = [Wallet(self, a, self._skew()) for a in wallet_addresses]
        self.byzantine_clients = [
            ByzantineClient(self, f"byzclient{i + 1}", accounts)
            for i, accounts in enumerate(byzantine_accounts)
        ]
        self.terminals = [Terminal(self, a) for a in terminal_addresses]
        self.terminal_names = [t.name for t in self.terminals]
        self.platform = Platform(self)
        self.processor = Processor(self)
        for actor in (
            *self.wallets,
            *self.byzantine_clients,
            *self.terminals,
            self.platform,
            self.processor,
        ):
            self.actors[actor.name] = actor
        self.by_address = {w.address: w.name for w in self.wallets}
        self.by_address.update({t.address: t.name for t in self.terminals})
        self.clients = [*self.wallets, *self.byzantine_clients]

    # ------------------------------------------------------------ the committee

    def _skew(self) -> int:
        return self.rng.randint(-self.config.skew_max, self.config.skew_max)

    def _new_node(self, byzantine: bool) -> str:
        index = len(self.nodes) + 1
        addr = address(0x0D, index)
        node = Node(self, addr, f"n{index}", byzantine, self._skew())
        self.nodes[addr] = node
        self.actors[addr] = node
        self.node_names.append(addr)
        return addr

    def _stake(self) -> int:
        return self.rng.randint(1, 5) * self.config.stake_scale

    def _first_committee(self) -> tuple[tuple[str, int], ...]:
        rng = self.rng
        while True:
            stakes = [self._stake() for _ in range(self.config.initial_members)]
            if all(3 * s < sum(stakes) for s in stakes):
                break
        members = [(self._new_node(False), s) for s in stakes]
        total = sum(stakes)
        byzantine = 0
        for i in rng.sample(range(len(members)), len(members)):
            stake = members[i][1]
            if rng.random() < self.config.byzantine_node_share and 3 * (byzantine + stake) < total:
                self.nodes[members[i][0]].byzantine = True
                byzantine += stake
        return tuple(members)

    def _scripted(self, committees: list[tuple[int, list[int]]]) -> None:
        for _ in range(max(i for _, indices in committees for i in indices)):
            self._new_node(False)
        infos = []
        for epoch, (activates_at, indices) in enumerate(committees, start=1):
            members = tuple((address(0x0D, i), 1) for i in indices)
            infos.append(EpochInfo(epoch, committee_of(epoch, members), activates_at))
            self.members[epoch] = tuple(a for a, _ in members)
        self.schedule = Schedule(infos)

    def _valid(self, members: list[tuple[str, int]], fresh: tuple[int, bool] | None = None) -> bool:
        """4 to 7 members, none with a third of the stake or more, the byzantine ones
        (``fresh``: a new member's stake and whether it is byzantine) below a third."""
        stakes = [s for _, s in members]
        faulty = sum(s for a, s in members if a is not None and self.nodes[a].byzantine)
        if fresh is not None:
            stakes.append(fresh[0])
            faulty += fresh[0] if fresh[1] else 0
        total = sum(stakes)
        return 4 <= len(stakes) <= 7 and all(3 * s < total for s in stakes) and 3 * faulty < total

    def _announce(self) -> None:
        """The next epoch, ``activation_delay`` ahead: one member replaced (now and then
        two), added or removed, or one stake changed."""
        rng = self.rng
        latest = self.schedule.latest()
        current = [(m.address.lower(), m.stake) for m in latest.committee.members]
        for _ in range(8):
            members = list(current)
            fresh = None
            roll = rng.random()
            if roll < 0.5:
                members.pop(rng.randrange(len(members)))
                fresh = self._stake()
                if roll < 0.1:  # now and then two at once (the layout)
                    members.pop(rng.randrange(len(members)))
                    members.append((None, self._stake()))
            elif roll < 0.65:
                fresh = self._stake()
            elif roll < 0.85:
                i = rng.randrange(len(members))
                members[i] = (members[i][0], self._stake())
            else:
                members.pop(rng.randrange(len(members)))
            if fresh is None:
                if not self._valid(members):
                    continue
            else:
                byzantine = rng.random() < self.config.byzantine_node_share / 2
                if byzantine and not self._valid(members, (fresh, True)):
                    byzantine = False
                if not self._valid(members, (fresh, byzantine)):
                    continue
                members.append((self._new_node(byzantine), fresh))
            members = [(a if a is not None else self._new_node(False), s) for a, s in members]
            epoch = latest.epoch + 1
            delay = rng.randint(*self.config.activation_delay)
            info = EpochInfo(epoch, committee_of(epoch, tuple(members)), self.t + delay)
            self.schedule = self.schedule.with_epoch(info)
            self.members[epoch] = tuple(a for a, _ in members)
            self.stats["epochs"] += 1
            if self.verbose:
                self.log(
                    f"announce epoch {epoch} at t={info.activates_at}: "
                    + ", ".join(
                        f"{self.nodes[a]}={s // self.config.stake_scale}" for a, s in members
                    )
                )
            return

    # ------------------------------------------------------------ services for actors

    def log(self, line: str) -> None:
        self.trace.append(f"t={self.t:4d} {line}")

    def send(self, dst: str, msg: tuple) -> None:
        self.net.send(self.t, dst, msg)

    def validate(self, cert: Cert, by: str) -> bool:
        """A valid certificate: the order signed by its sender, every voter's vote for it
        signed, a quorum of its own epoch's committee. Recorded for the checker (once: a
        certificate's validity never changes, the checker keeps the first sighting)."""
        known = self.valid.get(cert)
        if known is not None:
            return known
        valid = self._valid_certificate(cert)
        self.valid[cert] = valid
        if valid:
            self.checker.certified(cert, by)
        return valid

    def _valid_certificate(self, cert: Cert) -> bool:
        order = cert.order
        committee = self.schedule.committee(order.epoch)
        if committee is None or order not in self.sigs.orders:
            return False
        votes = self.sigs.votes
        if not all((v, order) in votes for v in cert.voters):
            return False
        return committee.has_quorum(cert.voters)

    def broadcast(self, cert: Cert, payee: str) -> None:
        """To the members of the certificate's epoch and of the latest two, the platform
        and the payee (others learn it in a handover or from the payer later)."""
        epochs = {cert.order.epoch, *(i.epoch for i in self.schedule.epochs[-2:])}
        targets = {m for e in epochs for m in self.members[e]}
        for name in self.node_names:
            if name in targets:
                self.send(name, ("cert", cert))
        self.send("platform", ("cert", cert))
        name = self.by_address.get(payee)
        if name is not None:
            self.send(name, ("cert", cert))

    # ------------------------------------------------------------ the run

    def step(self) -> None:
        self.t += 1
        t = self.t
        actors = self.actors
        for dst, msg in self.net.due(t):
            actor = actors[dst]
            if not getattr(actor, "crashed", False):
                actor.receive(msg)
        rng = self.rng
        config = self.config
        if self.schedule.latest().activates_at <= t and rng.random() < config.announce_rate:
            self._announce()
        for node in self.nodes.values():
            if node.crashed:
                if node.restart_at <= t:
                    node.restart()
                    if self.verbose:
                        self.log(f"{node} restarts")
            elif config.crash_rate and rng.random() < config.crash_rate:
                node.crash(t + rng.randint(3, 30))
                self.stats["crashes"] += 1
                if self.verbose:
                    self.log(f"{node} crashes")
            node.tick()
        for client in self.clients:
            client.tick()
        for terminal in self.terminals:
            terminal.tick()
        self.check()

    def check(self) -> None:
        checker = self.checker
        for node in self.nodes.values():
            if node.dirty:
                node.dirty = False
                checker.ledger(node.name, node.balances, node.credits)
        if self.platform.dirty:
            self.platform.dirty = False
            checker.ledger("platform", self.platform.balances, self.platform.credits)


def run(seed: int, *, steps: int = STEPS, rule: str = "handoff", verbose: bool = False) -> Result:
    """Step the world of ``seed`` ``steps`` ticks, or until an invariant breaks."""
    world = World(seed, rule=rule, verbose=verbose)
    for _ in range(steps):
        world.step()
        if world.checker.violation is not None:
            world.log(f"VIOLATION: {world.checker.violation}")
            break
    stats = world.stats
    stats["messages"] = world.net.sent
    stats["lost"] = world.net.lost
    stats["steps"] = world.t
    stats["negative_balances_explained"] = world.checker.negative_seen
    return Result(seed, world.t, rule, world.checker.violation, stats, world.trace)


def run_seeds(seeds: range, steps: int = STEPS) -> tuple[Counter, list[tuple[int, str]]]:
    """Run every seed of ``seeds``: the stats summed, and (seed, violation) per failure."""
    totals: Counter = Counter()
    failures = []
    for seed in seeds:
        result = run(seed, steps=steps)
        totals.update(result.stats)
        if not result.ok:
            failures.append((seed, result.violation))
    return totals, failures
