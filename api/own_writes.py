"""Read your own writes: the newest log position each client wrote through this process.

A read that names no `?min_position=` waits (briefly) for the views to reach the newest write
of the client asking, so `POST /v1/tools` then `GET /v1/tools/{slug}` finds the tool, and a
vote shows in the voter's next read. Keyed by the client's address (after `ForwardedClient`),
never by the process as a whole: under a flood of other clients' votes a reader that wrote
nothing would otherwise wait for the projection on every request. Bounded: the oldest clients
are forgotten first, which only costs them the wait, never a wrong answer."""

from __future__ import annotations

import threading
from collections import OrderedDict

from starlette.types import Scope

MAX_CLIENTS = 10_000


class OwnWrites:
    def __init__(self, capacity: int = MAX_CLIENTS) -> None:
        self._capacity = capacity
        self._newest: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()  # writes are recorded from the thread pool too

    def wrote(self, client: str, position: int | None) -> None:
        if position is None:
            return
        with self._lock:
            newest = max(position, self._newest.pop(client, 0))
            self._newest[client] = newest
            if len(self._newest) > self._capacity:
                self._newest.popitem(last=False)

    def newest(self, client: str) -> int:
        """The newest position `client` wrote through this process (0: none remembered)."""
        return self._newest.get(client, 0)


def client_of(scope: Scope) -> str:
    """The client's address as the rate limits see it (ForwardedClient has resolved proxies)."""
    client = scope.get("client")
    return client[0] if client else "unknown"
