"""Each client's own newest write, and nobody else's, is what its next read waits for."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from api.own_writes import OwnWrites

writes = st.lists(st.tuples(st.sampled_from("abcde"), st.integers(0, 10**6)), max_size=60)


@given(writes)
def test_each_client_is_owed_its_own_newest_write(history: list[tuple[str, int]]) -> None:
    """The position owed to a client is the largest it wrote, whatever others wrote since."""
    own = OwnWrites()
    for client, position in history:
        own.wrote(client, position)
    for client in "abcdef":
        assert own.newest(client) == max((p for c, p in history if c == client), default=0)


def test_the_oldest_clients_are_forgotten_first_and_nothing_is_no_write() -> None:
    """Bounded memory: past capacity the least recently written client is dropped (it then
    reads without waiting); a write that stored nothing owes nothing."""
    own = OwnWrites(capacity=2)
    own.wrote("a", 5)
    own.wrote("b", 6)
    own.wrote("a", 7)
    own.wrote("c", 8)
    own.wrote("d", None)
    assert (own.newest("a"), own.newest("b"), own.newest("c"), own.newest("d")) == (7, 0, 8, 0)
