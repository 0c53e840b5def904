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
