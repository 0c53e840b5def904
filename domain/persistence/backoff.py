"""How long to wait before trying again something that keeps failing against the store (a
conflicting save, a database that is down, a LISTEN connection that dropped) or a process that
keeps dying: the one retry schedule of every such loop. The projections' loops (the follower,
the LISTEN reconnect) get theirs from the composition root, api/bootstrap.py, since projections/
imports nothing of domain/."""

from __future__ import annotations

import random


class Backoff:
    """Delays that start at `first` and double up to `most`; `reset()` after a success starts
    again from `first`. With `jitter`, each delay is drawn uniformly below its step, so that
    writers that collided once do not collide again on the same beat."""

    def __init__(self, first: float, most: float, *, jitter: random.Random | None = None) -> None:
        if not 0 < first <= most:
            raise ValueError(f"need 0 < first <= most, got {first} and {most}")
        self.first = first
        self.most = most
        self.jitter = jitter
        self._step = first

    def next(self) -> float:
        """The delay before the next attempt (and the step after it doubles)."""
        step = self._step
        self._step = min(step * 2, self.most)
        return self.jitter.uniform(0, step) if self.jitter is not None else step

    def reset(self) -> None:
        self._step = self.first
