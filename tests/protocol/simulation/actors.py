"""The committee's users in the simulation: honest wallets, byzantine clients, the
platform, terminals and the on-chain processor (contract model)."""

from __future__ import annotations

from fastpay_protocol import handoff
from fastpay_protocol.wire import Order
from tests.protocol.simulation.model import TOKEN, Cert, name, short

RETRY = 6  # ticks between two sends of a pending order to the nodes that did not vote


class Wallet:
    """An honest wallet: one payment at a time, within the balance it knows of (genesis,
    credits it received, its own debits); sends its order to the committee of the active
    epoch by its clock, retries, re-epochs it (the same payment re-signed) when the epoch
    changes or a node answers wrong_epoch with a later one, and feeds nodes that lag the
    certificates they miss. A certificate goes to every node, the platform and the payee."""

    def __init__(self, world, address: str, skew: int) -> None:
        self.world = world
        self.address = address
        self.name = name(address)
        self.skew = skew
        self.sequence = 0
        self.balance = world.genesis[address]
        self.payment: tuple[str, int] | None = None  # (recipient, amount)
        self.attempts: dict[int, tuple[Order, list[str]]] = {}
        self.last_send = -(10**9)
        self.own: list[Cert] = []
        self.received: list[Cert] = []
        self.received_keys: set[tuple[str, int]] = set()

    def tick(self) -> None:
        world = self.world
        if self.payment is None:
            if self.balance <= 0 or world.rng.random() >= world.config.pay_rate:
                return
            recipients = [a for a in world.payees if a != self.address]
            recipient = recipients[world.rng.randrange(len(recipients))]
            amount = world.rng.randint(1, min(self.balance, 60))
            self.payment = (recipient, amount)
            world.stats["payments_started"] += 1
        epoch = world.schedule.active_epoch(world.t + self.skew)
        if epoch is not None and epoch > max(self.attempts, default=-1):
            self.attempt(epoch)
        elif self.attempts and world.t - self.last_send >= RETRY:
            self.send_latest()

    def attempt(self, epoch: int) -> None:
        world = self.world
        recipient, amount = self.payment
        order = Order(self.address, recipient, TOKEN, amount, self.sequence, epoch)
        world.sigs.sign_order(order)
        if self.attempts:
            world.stats["re_epoched"] += 1
        self.attempts[epoch] = (order, [])
        if world.verbose:
            world.log(f"{self.name} signs {short(order)}")
        self.send_latest()

    def send_latest(self) -> None:
        world = self.world
        self.last_send = world.t
        order, voters = self.attempts[max(self.attempts)]
        for member in world.members[order.epoch]:
            if member not in voters:
                world.send(member, ("order", self.name, order))

    def receive(self, msg: tuple) -> None:
        kind = msg[0]
        if kind == "vote":
            self.on_vote(msg[1], msg[2])
        elif kind == "refusal":
            self.on_refusal(msg[1], msg[2], msg[3])
        elif kind == "cert":
            self.on_cert(msg[1])

    def on_vote(self, authority: str, order: Order) -> None:
        world = self.world
        attempt = self.attempts.get(order.epoch)
        if attempt is None or attempt[0] != order or authority in attempt[1]:
            return
        if (authority, order) not in world.sigs.votes:
            return
        attempt[1].append(authority)
        if world.schedule.committee(order.epoch).has_quorum(attempt[1]):
            self.certified(Cert(order, tuple(sorted(attempt[1]))))

    def certified(self, cert: Cert) -> None:
        world = self.world
        world.validate(cert, self.name)
        world.stats["payments_certified"] += 1
        if world.verbose:
            world.log(f"{self.name} certified {cert}")
        self.own.append(cert)
        self.sequence += 1
        self.balance -= cert.order.amount
        self.payment = None
        self.attempts = {}
        world.broadcast(cert, payee=cert.order.recipient)

    def on_refusal(self, authority: str, order: Order, refusal: handoff.Refusal) -> None:
        world = self.world
        code = refusal.code
        if code == handoff.WRONG_EPOCH:
            epoch = refusal.fields.get("epoch")
            if (
                self.payment is not None
                and order.sequence == self.sequence
                and epoch is not None
                and world.schedule.committee(epoch) is not None
                and epoch > max(self.attempts, default=-1)
            ):
                self.attempt(epoch)
        elif code == handoff.SEQUENCE_MISMATCH:
            for cert in self.own[refusal.fields["next_sequence"] :]:
                world.send(authority, ("cert", cert))
        elif code == handoff.INSUFFICIENT_BALANCE:
            for cert in self.received:
                world.send(authority, ("cert", cert))
        elif code == handoff.SEQUENCE_LOCKED:
            world.stats["honest_locked"] += 1

    def on_cert(self, cert: Cert) -> None:
        order = cert.order
        key = (order.sender, order.sequence)
        if order.recipient != self.address or key in self.received_keys:
            return
        if self.world.validate(cert, self.name):
            self.received_keys.add(key)
            self.received.append(cert)
            self.balance += order.amount
            self.world.checker.accepted_by(self.name, cert)


class ByzantineClient:
    """Signs conflicting orders for one sequence and sends them to different halves of
    the committees around the active epoch (the members of only one epoch with one
    order, the shared ones split; byzantine nodes, its accomplices, get both), mostly
    around an epoch change, again in later epochs for the same sequence; withholds the
    certificates it gets, half of them for ever (to spend that sequence again later), and
    releases the others later to anyone. It holds a few accounts (a sequence that honest
    nodes locked stays locked)."""

    def __init__(self, world, name: str, addresses: list[str]) -> None:
        self.world = world
        self.name = name
        self.sequences = dict.fromkeys(addresses, 0)
        self.addresses = addresses
        self.orders: dict[Order, list[str]] = {}
        self.certs: list[Cert] = []
        self.released: list[Cert] = []  # the others it keeps for ever (to spend again)

    def tick(self) -> None:
        world = self.world
        rng = world.rng
        latest = world.schedule.latest().activates_at
        near = latest - 4 <= world.t <= latest + 16
        if rng.random() < world.config.byzantine_rate * (3 if near else 1):
            self.attack(self.addresses[rng.randrange(len(self.addresses))])
        if self.released and rng.random() < 0.05:
            self.release(self.released[rng.randrange(len(self.released))])
        if rng.random() < 0.05:
            sender = self.addresses[rng.randrange(len(self.addresses))]
            sequence = self.sequences[sender]
            mine = [
                c for c in self.released if (c.order.sender, c.order.sequence) == (sender, sequence)
            ]
            if mine:  # spends the released one, moves on
                world.broadcast(mine[0], payee=mine[0].order.recipient)
                self.sequences[sender] = sequence + 1

    def attack(self, sender: str) -> None:
        world = self.world
        rng = world.rng
        schedule = world.schedule
        active = schedule.active_epoch(world.t)
        epochs = [e for e in (active - 1, active, active + 1) if schedule.info(e) is not None]
        first, second = rng.choice(epochs), rng.choice(epochs)
        if first > second:
            first, second = second, first
        payees = world.payees
        x = self.sign(sender, payees[rng.randrange(len(payees))], rng.randint(1, 80), first)
        y = self.sign(sender, payees[rng.randrange(len(payees))], rng.randint(1, 80), second)
        if handoff.same_payment(x, y):
            return
        members_x, members_y = world.members[first], world.members[second]
        only_x = [m for m in members_x if m not in members_y]
        only_y = [m for m in members_y if m not in members_x]
        shared = [m for m in members_x if m in members_y]
        rng.shuffle(shared)
        cut = rng.randint(0, len(shared))
        nodes = world.nodes
        for member in only_x + shared[:cut]:
            world.send(member, ("order", self.name, x))
            if nodes[member].byzantine and member in members_y:  # colluding: both orders
                world.send(member, ("order", self.name, y))
        for member in only_y + shared[cut:]:
            world.send(member, ("order", self.name, y))
            if nodes[member].byzantine and member in members_x:
                world.send(member, ("order", self.name, x))
        if world.verbose:
            world.log(f"{self.name} splits {short(x)} / {short(y)} at cut {cut}")

    def sign(self, sender: str, recipient: str, amount: int, epoch: int) -> Order:
        order = Order(sender, recipient, TOKEN, amount, self.sequences[sender], epoch)
        self.world.sigs.sign_order(order)
        self.orders.setdefault(order, [])
        return order

    def release(self, cert: Cert) -> None:
        world = self.world
        rng = world.rng
        targets = [*world.node_names, "platform", "processor", *world.terminal_names]
        for target in targets:
            if rng.random() < 0.5:
                world.send(target, ("cert", cert) if target != "processor" else ("settle", cert))

    def receive(self, msg: tuple) -> None:
        if msg[0] != "vote":
            return
        authority, order = msg[1], msg[2]
        voters = self.orders.get(order)
        if voters is None or authority in voters:
            return
        voters.append(authority)
        world = self.world
        if world.schedule.committee(order.epoch).has_quorum(voters):
            cert = Cert(order, tuple(sorted(voters)))
            if cert.order in {c.order for c in self.certs}:
                return
            world.validate(cert, self.name)
            world.stats["byzantine_certified"] += 1
            if world.verbose:
                world.log(f"{self.name} certified {cert} (withheld)")
            self.certs.append(cert)
            if world.rng.random() < 0.5:
                self.released.append(cert)


class Platform:
    """Credits once per (sender, sequence): its own ledger of every certified payment it
    is shown (a second certificate of the same payment is a no-op)."""

    name = "platform"

    def __init__(self, world) -> None:
        self.world = world
        self.balances = dict(world.genesis)
        self.credits: dict[str, int] = {}
        self.credited: dict[tuple[str, int], Order] = {}
        self.dirty = False

    def receive(self, msg: tuple) -> None:
        if msg[0] != "cert":
            return
        cert = msg[1]
        order = cert.order
        key = (order.sender, order.sequence)
        if not self.world.validate(cert, self.name):
            return
        known = self.credited.get(key)
        if known is not None:
            if not handoff.same_payment(known, order):
                self.world.stats["platform_conflicts"] += 1
            return
        self.credited[key] = order
        self.balances[order.sender] -= order.amount
        self.balances[order.recipient] = self.balances.get(order.recipient, 0) + order.amount
        self.credits[order.recipient] = self.credits.get(order.recipient, 0) + order.amount
        self.dirty = True
        self.world.checker.accepted_by(self.name, cert)


class Terminal:
    """A point-of-sale payee: accepts a certificate paying it once per (sender,
    sequence), settles it on-chain some ticks later (sometimes after the window)."""

    def __init__(self, world, address: str) -> None:
        self.world = world
        self.address = address
        self.name = name(address)
        self.accepted: dict[tuple[str, int], Cert] = {}
        self.to_settle: list[tuple[int, Cert]] = []

    def receive(self, msg: tuple) -> None:
        if msg[0] != "cert":
            return
        cert = msg[1]
        order = cert.order
        key = (order.sender, order.sequence)
        if order.recipient != self.address or key in self.accepted:
            return
        if self.world.validate(cert, self.name):
            self.accepted[key] = cert
            self.world.checker.accepted_by(self.name, cert)
            self.to_settle.append((self.world.t + self.world.rng.randint(0, 40), cert))

    def tick(self) -> None:
        world = self.world
        if self.to_settle and self.to_settle[0][0] <= world.t:
            _, cert = self.to_settle.pop(0)
            world.send("processor", ("settle", cert))


class Processor:
    """The on-chain processor: a redeemed bitmap per (sender, sequence); epoch ``e``
    certificates settle until ``settles_until(e)`` (chain time: the true time)."""

    name = "processor"

    def __init__(self, world) -> None:
        self.world = world
        self.redeemed: dict[tuple[str, int], Order] = {}

    def receive(self, msg: tuple) -> None:
        if msg[0] != "settle":
            return
        world = self.world
        cert = msg[1]
        order = cert.order
        if not world.validate(cert, self.name):
            return
        until = world.schedule.settles_until(order.epoch, world.config.settlement_window)
        if until is not None and world.t > until:
            world.stats["settle_too_late"] += 1
            return
        key = (order.sender, order.sequence)
        if key in self.redeemed:
            world.stats["settle_already_redeemed"] += 1
            return
        self.redeemed[key] = order
        world.stats["settled"] += 1
        world.checker.accepted_by(self.name, cert)
