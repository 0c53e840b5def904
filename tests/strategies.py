"""Hypothesis strategies gathered in one place."""

from __future__ import annotations

from hypothesis import strategies as st

SLUGS = ("alpha", "beta", "gamma")
"""gamma is rarely listed: commands on an unknown tool must be refused."""
SEATS = ("builder", "skeptic")
VOTERS = ("voter:v0", "voter:v1")
decisions = st.sampled_from(("ship", "skip"))
slugs = st.sampled_from(SLUGS[:2]) | st.sampled_from(SLUGS)
seats = st.sampled_from(SEATS)
voters = st.sampled_from(VOTERS)

commands = st.one_of(
    st.tuples(st.just("list"), slugs),
    st.tuples(st.just("amend_listing"), slugs, st.sampled_from(("New name", "Other name"))),
    st.tuples(st.just("delist"), slugs),
    st.tuples(st.just("publish"), slugs, seats, decisions),
    st.tuples(st.just("amend_verdict"), slugs, seats, decisions, st.sampled_from(("a", "b"))),
    st.tuples(st.just("retract_verdict"), slugs, seats),
    st.tuples(st.just("vote"), slugs, voters, decisions),
    st.tuples(st.just("vote"), slugs, voters, decisions),
    st.tuples(st.just("vote"), slugs, voters, decisions),
    st.tuples(st.just("retract_vote"), slugs, voters),
    st.tuples(st.just("retract_vote"), slugs, voters),
    st.tuples(st.just("compare"), slugs, slugs),
    st.tuples(st.just("catch_up")),
    st.tuples(st.just("restart_follower")),
)
# Most histories start by listing tools, so that verdicts and votes have somewhere to land.
histories = st.builds(
    lambda listed, rest: [("list", slug) for slug in listed] + rest,
    st.lists(st.sampled_from(SLUGS[:2]), unique=True),
    st.lists(commands, min_size=5, max_size=80),
)

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

# -- the stand-alone verifier: event states as the canonical JSON of docs/audit.md sees them --
_json_text = st.text(st.characters(codec="utf-8"), max_size=12)
"""Any Unicode scalar value, control characters included (surrogates cannot be UTF-8)."""
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _json_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_json_text, inner, max_size=4),
    max_leaves=20,
)
"""JSON without floats, integers within 64 bits: what an event state may hold."""
