"""A deterministic randomized simulation of the committee across epoch changes (issue 11,
"Tests that must exist"): ``run(seed)`` builds a world from ``random.Random(seed)`` and
steps it, checking the invariants after every step.

**The rules under test are the real ones.** Nodes decide votes ONLY with
``fastpay_protocol.handoff.vote_decision``, certificates with ``apply_decision``, the end
of a handover with ``handover_sources_enough``, what a source may serve with
``serves_frozen``, carried locks with ``carried_candidate``; quorums are
``membership.Committee.has_quorum`` (exact integer stake). Nothing here re-implements a
rule, except the OLD overlapping window (``rule="overlap"``), kept to prove the checker
finds the issue's double spend.

**Signatures are symbolic** (for speed): a sender's signature is the order being in
``Signatures.orders`` (only the sender's actor puts it there), a vote is the pair
(authority, order) in ``Signatures.votes`` (only that authority's node puts it there: a
byzantine node signs anything, but nobody forges an honest node's vote). A certificate is
(order, voters); it is valid when the order is signed, every voter signed a vote for that
exact order and the voters hold more than 2/3 of the stake of the order's epoch.

**The world.** Time is in ticks (one step = one tick of true time); every node and wallet
reads its own clock, skewed by a fixed offset. The schedule (``handoff.Schedule``) grows
while the world runs: at random times the next epoch is announced with ``activates_at``
some ticks ahead (members replaced one by one, added, removed, stakes changed; at most
one announcement outstanding); every actor reads the announced schedule (the chain).
Byzantine nodes hold less than 1/3 of every epoch's stake (up to f), no member holds a
third or more. Messages are lost, delayed and reordered; a crashed node drops what
arrives, forgets its in-flight work (handover progress, parked certificates) and keeps
its database. Actors:

- nodes (``node.Node``): honest, or byzantine (vote for anything, equivocate, answer the
  handover with omissions, lies about being frozen and fabricated pending entries);
- honest wallets: pay other wallets and terminals within their balance, retry, re-epoch
  their pending order when the epoch changes, feed lagging nodes their certificates;
- byzantine clients: conflicting orders for one sequence to different halves of the
  committee, across epochs around a change, certificates withheld and released later;
- the platform: credits once per (sender, sequence), its own ledger;
- terminals: accept a certificate once per (sender, sequence), settle it on-chain later;
- the processor (contract model): a redeemed bitmap per (sender, sequence), epoch ``e``
  certificates settle until ``activates_at[e+1] + settlement_window``.

**Checked** (``model.Checker``), at every certificate someone validates and after every
step: (1) no (sender, sequence) has valid certificates for two different payments
(``same_payment`` differs), whoever holds them: this covers every acceptance by a node,
the platform, a terminal or the processor, and each party's acceptances are also checked
against the others'; (2) an honest node never votes for two different payments at one
(sender, sequence), across epochs (``handoff.equivocation``); (3) the certified payments
never overspend: per account, genesis + certified credits - certified debits >= 0;
(4) every ledger (each node's, the platform's) holds the genesis total exactly; (5) a
negative balance in a ledger is allowed only as the rules allow it (a certificate is
applied whatever the balance): balance + certified credits to that account the ledger
has not applied yet >= 0, i.e. only a missed credit explains it.
"""

from tests.protocol.simulation.world import Result, run

__all__ = ["Result", "run"]
