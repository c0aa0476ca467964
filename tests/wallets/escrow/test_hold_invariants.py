"""Random authorize / capture / void / dispute / decide / expire sequences keep every
ledger invariant, resolve each hold at most once, and match a plain-Python model."""

import contextlib
from collections import defaultdict
from datetime import timedelta
from functools import partial
from itertools import count

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastpay.errors import DomainError
from tests.wallets.factories import UserFactory
from wallets.escrow.models import Hold, HoldKind, HoldState
from wallets.escrow.services import (
    hold_authorize,
    hold_capture,
    hold_decide,
    hold_dispute,
    hold_void,
    holds_expire,
)
from wallets.models import AccountKind, Token
from wallets.services.adjustments import ledger_adjust
from wallets.services.checks import ledger_check_run
from wallets.services.ledger import system_account, user_account

USERS = ["e0", "e1", "e2"]
START = 5_000_000
amount = st.integers(1, 3_000_000)
pick = st.integers(0, 40)
steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("authorize"), st.integers(0, 2), st.integers(1, 2), amount, st.booleans()
        ),
        st.tuples(st.just("capture"), pick, st.one_of(st.none(), amount), st.booleans()),
        st.tuples(st.just("void"), pick, st.booleans()),
        st.tuples(st.just("dispute"), pick),
        st.tuples(st.just("decide"), pick, amount),
        st.tuples(st.just("expire"), st.integers(0, 3)),
    ),
    min_size=1,
    max_size=30,
)


class Model:
    def __init__(self):
        self.available = defaultdict(lambda: START)
        self.holds = {}  # id -> [payer, payee, amount, state, kind, posted]

    def resolve(self, hold_id, posted, state):
        payer, payee, held, _, kind, _ = self.holds[hold_id]
        self.available[payee] += posted
        self.available[payer] += held - posted
        self.holds[hold_id] = [payer, payee, held, state, kind, posted]


def apply(step, users, usdt, model, ids, clock):
    kind = step[0]
    holds = sorted(model.holds)
    target = (
        holds[step[1] % len(holds)] if holds and kind != "authorize" and kind != "expire" else None
    )
    if kind == "authorize":
        _, p, offset, units, market = step
        payer, payee = users[p], users[(p + offset) % 3]
        hold = hold_authorize(
            payer=payer,
            payee=payee.username,
            token=usdt,
            amount=units,
            kind=HoldKind.MARKETPLACE if market else HoldKind.AUTHORIZATION,
            expires_at=clock[0] + timedelta(hours=1 + next(ids) % 3),
        )
        model.available[p] -= units
        model.holds[hold.pk] = [p, users.index(payee), units, "pending", hold.kind, 0]
    elif target is None:
        if kind == "expire":
            clock[0] += timedelta(hours=step[1])
            holds_expire(now=clock[0])
            for hold in Hold.objects.filter(resolved_at__isnull=False):
                row = model.holds[hold.pk]
                if row[3] in ("pending",) and hold.state in ("posted", "expired"):
                    model.resolve(hold.pk, hold.posted_amount, hold.state)
        return
    else:
        row = model.holds[target]
        p, q, held, state, hold_kind, posted_before = row
        payer, payee = users[p], users[q]
        market = hold_kind == HoldKind.MARKETPLACE
        open_ = state == "pending"
        if kind == "capture":
            by = (payer if market else payee) if step[3] else users[(q + 1) % 3]
            wanted = held if step[2] is None else step[2]
            allowed = by == (payer if market else payee)
            ok = allowed and open_ and 0 < wanted <= held
            replay = allowed and state == "posted" and wanted == posted_before
            call = partial(hold_capture, hold_id=target, by=by, amount=step[2])
            outcome = (wanted, "posted") if ok else None
        elif kind == "void":
            by = payee if step[2] else payer
            allowed = by == payee or not market  # only the seller voids a marketplace hold
            ok = open_ and allowed
            replay = allowed and state == "voided"
            call = partial(hold_void, hold_id=target, by=by)
            outcome = (0, "voided") if ok else None
        elif kind == "dispute":
            ok, replay = open_ and market, state == "disputed"
            call = partial(hold_dispute, hold_id=target, by=payer, reason="random")
            outcome = None
        else:
            release = min(step[2], held)
            ok, replay = state == "disputed", False
            call = partial(
                hold_decide, hold_id=target, by=users[0], release_amount=release, note="r"
            )
            outcome = (release, "posted") if release else (0, "voided")
            outcome = outcome if ok else None
        try:
            call()
        except DomainError:
            assert not (ok or replay), (step, row)
            raise
        assert ok or replay, (step, row)
        if ok and kind == "dispute":
            row[3] = "disputed"
        elif ok:
            model.resolve(target, *outcome)


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps)
def test_random_escrow_sequences_keep_every_invariant(steps):
    with transaction.atomic():
        users = [UserFactory(username=name) for name in USERS]
        usdt = Token.objects.get(symbol="USDT")
        for i, user in enumerate(users):
            ledger_adjust(
                user=user,
                token=usdt,
                amount=START,
                reason="t",
                operator=None,
                idempotency_key=f"e{i}",
            )
        model, ids, clock = Model(), count(), [timezone.now()]
        for step in steps:
            with contextlib.suppress(DomainError):
                apply(step, users, usdt, model, ids, clock)
            assert ledger_check_run(record=False).drift_count == 0
        for i, user in enumerate(users):
            assert user_account(user, usdt).balance == model.available[i]
        open_units = sum(h[2] for h in model.holds.values() if h[3] in ("pending", "disputed"))
        assert system_account(usdt, AccountKind.ESCROW).balance == open_units
        for hold in Hold.objects.all():
            expected = model.holds[hold.pk]
            assert (hold.state, hold.posted_amount) == (expected[3], expected[5]), expected
            assert (hold.resolve_entry_id is None) == (
                hold.state in (HoldState.PENDING, HoldState.DISPUTED)
            )
        transaction.set_rollback(True)
