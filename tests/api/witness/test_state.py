"""The witness's state file: compare-and-set between connections, a key made once, and what is
committed is there for the next process."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from api.witness.state import NEVER_COSIGNED, StaleHead, TreeHead, WitnessState

ORIGIN = "verdict.example/log"
N, N_PLUS_K = TreeHead(10, b"n" * 32), TreeHead(15, b"k" * 32)


def test_the_specs_race_cannot_roll_back(tmp_path: Path) -> None:
    """tlog-witness's race, step by step on two connections: A (size N) and B (size N+K) are
    both checked against the empty head; B stores N+K; A's write must fail, not roll back."""
    a, b = WitnessState(tmp_path / "w.db"), WitnessState(tmp_path / "w.db")
    checked_a, checked_b = a.latest(ORIGIN), b.latest(ORIGIN)
    b.advance(ORIGIN, checked_b, N_PLUS_K)
    with pytest.raises(StaleHead) as stale:
        a.advance(ORIGIN, checked_a, N)
    assert stale.value.current == N_PLUS_K
    assert a.latest(ORIGIN) == b.latest(ORIGIN) == N_PLUS_K


def test_a_stale_head_of_equal_size_is_refused_too(tmp_path: Path) -> None:
    """The compare is on the whole head: same size, other root, is not what was checked."""
    state = WitnessState(tmp_path / "w.db")
    state.advance(ORIGIN, NEVER_COSIGNED, N)
    with pytest.raises(StaleHead):
        state.advance(ORIGIN, TreeHead(10, b"x" * 32), N_PLUS_K)
    assert state.latest(ORIGIN) == N


def test_advance_never_goes_back(tmp_path: Path) -> None:
    """Even called with a matching head, a smaller size is refused before any write."""
    state = WitnessState(tmp_path / "w.db")
    state.advance(ORIGIN, NEVER_COSIGNED, N_PLUS_K)
    with pytest.raises(ValueError, match="never goes back"):
        state.advance(ORIGIN, N_PLUS_K, N)
    assert state.latest(ORIGIN) == N_PLUS_K


def test_concurrent_advances_from_one_head_let_exactly_one_win(tmp_path: Path) -> None:
    """Eight threads, each its own connection, all checked against the same head, released
    together: one stores its head, seven get StaleHead naming it."""
    path = tmp_path / "w.db"
    WitnessState(path).advance(ORIGIN, NEVER_COSIGNED, N)
    heads = [TreeHead(11 + i, bytes([i]) * 32) for i in range(8)]
    start = threading.Barrier(len(heads))
    outcomes: dict[int, TreeHead | None] = {}

    def submit(head: TreeHead) -> None:
        state = WitnessState(path)
        checked = state.latest(ORIGIN)
        start.wait(timeout=10)
        try:
            state.advance(ORIGIN, checked, head)
            outcomes[head.size] = None
        except StaleHead as e:
            outcomes[head.size] = e.current

    threads = [threading.Thread(target=submit, args=(head,)) for head in heads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    winners = [size for size, stale in outcomes.items() if stale is None]
    assert len(outcomes) == 8 and len(winners) == 1
    stored = WitnessState(path).latest(ORIGIN)
    assert stored.size == winners[0]
    assert all(stale == stored for stale in outcomes.values() if stale is not None)


def test_the_key_is_made_once_and_kept(tmp_path: Path) -> None:
    """The first call creates the key; every later call, and every later process, reads it."""
    first = WitnessState(tmp_path / "w.db").private_key()
    assert len(first) == 32
    assert WitnessState(tmp_path / "w.db").private_key() == first
    assert WitnessState(tmp_path / "other.db").private_key() != first


def test_origins_are_kept_apart_and_reopened(tmp_path: Path) -> None:
    """Each origin has its own head; a new WitnessState on the file sees both."""
    state = WitnessState(tmp_path / "var" / "w.db")
    state.advance(ORIGIN, NEVER_COSIGNED, N)
    state.advance("other.example/log", NEVER_COSIGNED, N_PLUS_K)
    reopened = WitnessState(tmp_path / "var" / "w.db")
    assert reopened.latest(ORIGIN) == N
    assert reopened.latest("other.example/log") == N_PLUS_K
    assert reopened.latest("never.example/log") == NEVER_COSIGNED
