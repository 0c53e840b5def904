"""Hypothesis strategies gathered in one place."""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import strategies as st

from projections.records import LedgerEvent
from tests.builders import listing

SLUGS = ("alpha", "beta", "gamma")
"""gamma is rarely listed: commands on an unknown tool must be refused."""
SEATS = ("builder", "skeptic")
VOTERS = ("voter:v0", "voter:v1")
decisions = st.sampled_from(("ship", "skip"))
slugs = st.sampled_from(SLUGS[:2]) | st.sampled_from(SLUGS)
seats = st.sampled_from(SEATS)
voters = st.sampled_from(VOTERS)

_COMMANDS = {
    "list": st.tuples(st.just("list"), slugs),
    "amend_listing": st.tuples(
        st.just("amend_listing"), slugs, st.sampled_from(("New name", "Other name"))
    ),
    "delist": st.tuples(st.just("delist"), slugs),
    "publish": st.tuples(st.just("publish"), slugs, seats, decisions),
    "amend_verdict": st.tuples(
        st.just("amend_verdict"),
        slugs,
        seats,
        st.sampled_from(("Reviewer", "Other Reviewer")),
        decisions,
        st.sampled_from(("t", "a", "b")),
    ),
    "retract_verdict": st.tuples(st.just("retract_verdict"), slugs, seats),
    "vote": st.tuples(st.just("vote"), slugs, voters, decisions),
    "retract_vote": st.tuples(st.just("retract_vote"), slugs, voters),
    "compare": st.tuples(st.just("compare"), slugs, slugs),
    "void": st.tuples(st.just("void"), slugs, voters),
    "restore": st.tuples(st.just("restore"), slugs, voters),
    "catch_up": st.tuples(st.just("catch_up")),
    "restart_follower": st.tuples(st.just("restart_follower")),
}
_WEIGHTS = {"publish": 3, "amend_verdict": 4, "retract_verdict": 2, "vote": 5, "retract_vote": 3}
"""Verdict amendments, retractions and re-votes (a vote after retract_vote is Ballot.Recast) are
drawn often enough to be accepted in most histories; a delisting, which freezes its tool for the
rest of the history, is drawn rarely."""
commands = st.sampled_from([op for op in _COMMANDS for _ in range(_WEIGHTS.get(op, 1))]).flatmap(
    _COMMANDS.__getitem__
)
_revotes = st.builds(
    lambda slug, voter, first, again: [
        ("vote", slug, voter, first),
        ("retract_vote", slug, voter),
        ("vote", slug, voter, again),
    ],
    slugs,
    voters,
    decisions,
    decisions,
)
"""Vote, retract, vote again: the second vote is a Ballot.Recast (if the tool is listed)."""
_verdict_edits = st.builds(
    lambda publish, amend, retract: [
        publish,
        ("amend_verdict", publish[1], publish[2], *amend[3:]),
        *([("retract_verdict", publish[1], publish[2])] if retract else []),
    ],
    _COMMANDS["publish"],
    _COMMANDS["amend_verdict"],
    st.booleans(),
)
"""Publish, amend that seat, perhaps retract it: an amendment needs a verdict to amend."""
_single = commands.map(lambda command: [command])
_moves = st.one_of(_single, _single, _single, _single, _revotes, _verdict_edits)
# Most histories start by listing tools, so that verdicts and votes have somewhere to land.
histories = st.builds(
    lambda listed, moves: [("list", slug) for slug in listed] + [c for m in moves for c in m],
    st.lists(st.sampled_from(SLUGS[:2]), unique=True),
    st.lists(_moves, min_size=12, max_size=60),
)
"""Commands for the catalog property tests: long histories in which amendments, retractions
and re-votes are accepted often."""

moderated_histories = st.builds(
    lambda votes, rest: [("list", "alpha"), ("list", "beta"), *votes, *rest],
    st.lists(st.tuples(st.just("vote"), st.just("alpha"), voters, decisions), min_size=1),
    st.lists(
        st.one_of(
            st.tuples(st.sampled_from(("void", "restore")), st.just("alpha"), voters),
            st.tuples(st.sampled_from(("void", "restore")), slugs, voters),
            commands,
        ),
        min_size=5,
        max_size=60,
    ),
)
"""Histories where voids and restores mostly land: listed tools with ballots on them first."""

# -- the audit log: Merkle proofs and signed checkpoints --
MAX_TREE = 300
"""The largest tree the Merkle property tests build; sizes and indexes are drawn below it."""
tree_sizes = st.integers(1, MAX_TREE)
inclusion_targets = tree_sizes.flatmap(lambda n: st.tuples(st.integers(0, n - 1), st.just(n)))
"""(leaf index, tree size) with the index inside the tree."""
consistency_pairs = tree_sizes.flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n)))
"""(first, second) with 0 < first <= second."""
leaf_data = st.lists(st.binary(max_size=40), max_size=70)
"""Event bytes for small trees that are checked against the naive recursive definition."""

note_lines = st.text(st.characters(codec="utf-8", exclude_categories=["Cc"]), min_size=1)
"""A non-empty line of note text: any UTF-8 but control characters (newline among them)."""
_name_chars = st.characters(
    codec="utf-8", exclude_categories=("Cc", "Zs", "Zl", "Zp"), exclude_characters="+"
)
key_names = st.text(_name_chars, min_size=1, max_size=40).filter(
    lambda name: not any(c.isspace() for c in name)
)
"""Signed-note key names: non-empty, no spaces, no '+'."""
checkpoints = st.fixed_dictionaries(
    {
        "origin": note_lines,
        "size": st.integers(0, 2**64 - 1),
        "root": st.binary(min_size=32, max_size=32),
        "extensions": st.lists(note_lines, max_size=3).map(tuple),
    }
)
cosignature_timestamps = st.integers(0, 2**63 - 1) | st.integers(1_600_000_000, 2_000_000_000)
"""POSIX seconds a cosignature may carry (tlog-cosignature: at most 2^63 - 1)."""
_hashes = st.binary(min_size=32, max_size=32)
add_checkpoint_requests = st.tuples(
    st.integers(0, 2**63 - 1),
    st.lists(_hashes, max_size=63),
    st.builds(
        lambda origin, size, root, signature: (
            f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n\n"
            f"\u2014 {origin} "
            f"{base64.b64encode(signature).decode()}\n"
        ),
        key_names,
        st.integers(0, 2**63 - 1),
        _hashes,
        st.binary(min_size=5, max_size=80),
    ),
).map(lambda r: (r[0], r[1] if r[0] else [], r[2]))
"""(old size, proof, note) as a log sends them: the proof is empty from size 0."""


def _submissions(size: int) -> st.SearchStrategy[tuple[int | None, int, str]]:
    return st.tuples(
        st.none() | st.integers(0, size),  # None: the size the witness last cosigned
        st.integers(0, size),
        st.sampled_from(("honest", "forked", "bogus root", "tampered proof")),
    )


witness_histories = st.lists(st.binary(max_size=8), min_size=1, max_size=40).flatmap(
    lambda leaves: st.tuples(
        st.just(leaves),
        st.integers(0, len(leaves)),
        st.lists(_submissions(len(leaves)), min_size=1, max_size=12),
    )
)
"""(leaves, fork point, submissions): a log, a rewrite of it that differs from the fork point
on, and add-checkpoints of (old size or None, size, what the log sends): its own checkpoint,
the rewrite's (same key), a root of no tree, or its own with one proof hash flipped."""

# -- the stand-alone verifier's trust checks --
fork_cases = tree_sizes.flatmap(
    lambda n: st.tuples(st.just(n), st.integers(0, n + 3), st.none() | st.integers(0, n - 1))
)
"""(served size n, remembered size m, the leaf the served log changed or None): the served
tree extends the remembered one iff m <= n and no leaf below m changed."""
hashes = st.binary(min_size=32, max_size=32)
_signature_lines = st.lists(
    st.tuples(key_names, st.binary(min_size=5, max_size=80)), min_size=1, max_size=4
)
checkpoint_notes = st.builds(
    lambda body, signatures: (
        "".join(line + "\n" for line in body)
        + "\n"
        + "".join(f"\u2014 {name} {base64.b64encode(sig).decode()}\n" for name, sig in signatures)
    ),
    st.lists(note_lines, min_size=3, max_size=5),
    _signature_lines,
)
"""Signed-note shaped text (not a valid checkpoint): what a tlog-proof carries verbatim."""
tlog_proofs = st.fixed_dictionaries(
    {
        "index": st.integers(0, 2**64 - 1),
        "proof": st.lists(hashes, max_size=64).map(tuple),
        "checkpoint": checkpoint_notes,
        "extra": st.none() | st.binary(max_size=60),
    }
)
"""The parts of a C2SP tlog-proof@v1, as tests/scripts/test_verify_trust.py formats them."""
promise_entries = st.lists(
    st.tuples(st.integers(0, 2**63 - 1), st.binary(min_size=32, max_size=32)),
    min_size=1,
    max_size=64,
    unique_by=lambda entry: entry[0],
).map(sorted)
"""What a signed promise names: 1 to 64 (log position, leaf hash), ascending positions."""

# -- the stand-alone verifier: event states as the canonical JSON of docs/audit.md sees them --
_json_text = st.text(st.characters(codec="utf-8"), max_size=12)
"""Any Unicode scalar value, control characters included (surrogates cannot be UTF-8)."""
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _json_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_json_text, inner, max_size=4),
    max_leaves=20,
)
"""JSON without floats, integers within 64 bits: what an event state may hold."""

# -- the catalog fold: stored events as the folds see them, well-formed or not --
_TIMES = ("2026-01-01T00:00:00.000001+00:00", "2026-01-01T00:00:01.000000+00:00")
_ballot_kinds = st.sampled_from(
    ("Ballot.Cast", "Ballot.Recast", "Ballot.Changed", "Ballot.Retracted", "Ballot.Other")
)
_ballot_states = st.fixed_dictionaries(
    {"tool": st.sampled_from(SLUGS), "actor": voters, "choice": decisions, "previous": decisions},
    optional={"seat": seats, "decision": decisions, "extra": st.integers()},
)
"""Ballot states, with keys an odd or future event might carry. Every one has the `choice` and
`previous` that the fold reads from a ballot (a state without them fails either way)."""
_retraction_states = st.fixed_dictionaries(
    {"tool": st.sampled_from(SLUGS), "actor": voters, "previous": decisions},
    optional={"choice": decisions},
)
_EDITOR = "editor:e"
_other_states = st.one_of(
    st.tuples(
        st.just("Tool.Listed"),
        st.builds(lambda slug: {"tool": slug, "actor": _EDITOR, **listing(slug)}, slugs),
    ),
    st.tuples(
        st.just("Tool.ListingAmended"),
        st.builds(
            lambda slug, name: {"tool": slug, "actor": _EDITOR, "changes": {"name": name}},
            slugs,
            st.sampled_from(("New name", "Other name")),
        ),
    ),
    st.tuples(
        st.just("Tool.Delisted"), st.fixed_dictionaries({"tool": slugs, "actor": st.just(_EDITOR)})
    ),
    st.tuples(
        st.just("Panel.VerdictPublished"),
        st.fixed_dictionaries(
            {
                "tool": slugs,
                "seat": seats,
                "reviewer": st.just("R"),
                "decision": decisions,
                "text": st.just("t"),
                "actor": st.just(_EDITOR),
            }
        ),
    ),
    st.tuples(
        st.just("Panel.VerdictRetracted"),
        st.fixed_dictionaries({"tool": slugs, "seat": seats, "actor": st.just(_EDITOR)}),
    ),
    st.tuples(
        st.just("Comparison.Published"),
        st.fixed_dictionaries({"left": slugs, "right": slugs, "actor": st.just(_EDITOR)}),
    ),
)
_MODERATOR = "moderator:m"
_moderation_states = st.one_of(
    st.tuples(
        st.just("Ballot.Voided"),
        st.fixed_dictionaries(
            {
                "tool": st.sampled_from(SLUGS),
                "voter": voters,
                "previous": decisions,
                "reason": st.just("stuffing"),
                "rule": st.just("one-person-one-vote"),
                "actor": st.just(_MODERATOR),
            }
        ),
    ),
    st.tuples(
        st.just("Ballot.Restored"),
        st.fixed_dictionaries(
            {
                "tool": st.sampled_from(SLUGS),
                "voter": voters,
                "choice": decisions,
                "reason": st.just("false positive"),
                "rule": st.just("one-person-one-vote"),
                "actor": st.just(_MODERATOR),
            }
        ),
    ),
)
"""A moderator's voids and restores: the `actor` is the moderator, `voter` the ballot's."""
_kinds_and_states = st.one_of(
    st.tuples(_ballot_kinds.filter(lambda kind: kind != "Ballot.Retracted"), _ballot_states),
    st.tuples(st.just("Ballot.Retracted"), _retraction_states),
    _moderation_states,
    _other_states,
)


def _ledger_events(drawn: list[tuple[tuple[str, dict[str, Any]], str]]) -> list[LedgerEvent]:
    """Positions with gaps (as on PostgreSQL), a few originators, the drawn times."""
    return [
        LedgerEvent(2 * i + 1, f"domain.x:{kind}", kind, f"id-{i % 5}", i + 1, at, data)
        for i, ((kind, data), at) in enumerate(drawn)
    ]


catalog_events = st.builds(
    lambda listed, rest: _ledger_events(
        [
            (("Tool.Listed", {"tool": slug, "actor": _EDITOR, **listing(slug)}), _TIMES[0])
            for slug in listed
        ]
        + rest
    ),
    st.lists(st.sampled_from(SLUGS[:2]), unique=True),
    st.lists(st.tuples(_kinds_and_states, st.sampled_from(_TIMES)), max_size=80),
)
"""Events for the catalog fold, most often after listing some tools: ballots (Cast, Recast,
Changed, Retracted, Voided, Restored, unknown kinds) on listed, delisted and unknown tools, with
or without the keys they usually carry, among listings, verdicts and comparisons; Amended
verdicts are left out (the fold needs their seat filled)."""
