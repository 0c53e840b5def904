"""The HTTP/1.1 protocol `verdict serve` gives uvicorn: its compiled one (httptools), with the
bound on a request's head that uvicorn's pure-Python one (h11) has and httptools lacks, and with
each response sent in one piece.

httptools parses several times faster than h11, but buffers a request line and headers of any
size: a client could make a worker hold a gigabyte of "header". h11 refuses a head larger than
16 KiB; so does this, with 431 and a closed connection, before the application sees anything.
Two checks, because a head can end inside the read that carries it: the bytes read while a head
is still incomplete (a head that never ends), and the size of a head that completed (its URL
and headers, counted as the parser hands them over, before the request is made).

A connection that stalls is cut off: its head must arrive within VERDICT_HEAD_TIMEOUT_SECONDS
(from the connection's start, or from the previous answer; else 408 and close) and its body within
VERDICT_BODY_TIMEOUT_SECONDS of the head; uvicorn's keep-alive timeout
(VERDICT_IDLE_TIMEOUT_SECONDS) closes idle connections between requests. Without them, a client
that connects and says nothing, or sends a byte now and then, holds a connection for ever.

uvicorn writes a response's head and its body with two `transport.write` calls, and on uvloop
each is a `send` system call made while holding the GIL (docs/performance.md).
`CoalescingTransport` joins what is written in one turn of the loop
into one send."""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from domain.settings import Settings

MAX_HEAD_BYTES = 16 * 1024
"""h11's default `max_incomplete_event_size`, which uvicorn's h11 protocol applies."""
_TOO_LARGE = b"request head is larger than 16 KiB"
_TOO_SLOW = b"request was not received in time"


@cache
def read_timeouts() -> tuple[float, float]:
    """(head, body) timeouts from this process's VERDICT_* environment, read once: uvicorn makes
    the protocol itself, in every worker process, from the class alone."""
    settings = Settings()
    return settings.head_timeout_seconds, settings.body_timeout_seconds


class CoalescingTransport:
    """A transport whose writes are held until the current callback of the event loop returns,
    then sent together, in order. Closing sends what is held first; aborting drops it, as an
    abort drops any unsent data. Everything else is the wrapped transport's."""

    __slots__ = ("_held", "_loop", "_transport")
    _transport: asyncio.Transport

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(data)

    def writelines(self, lines: list[bytes]) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        """Send what is held (dropped if the connection went away meanwhile: nobody can read it,
        and writing to a closed uvloop transport raises)."""
        if self._held:
            data = b"".join(self._held)
            self._held.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held.clear()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return sum(map(len, self._held)) + self._transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _HeadTooLarge(Exception):
    """Raised from a parser callback: httptools stops parsing, uvicorn answers through
    `send_400_response`, which answers 431 instead."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    _reading_head = False
    _head_bytes = 0
    _parsed_head_bytes = 0
    _head_too_large = False
    _read_deadline: asyncio.TimerHandle | None = None

    # override: uvicorn's own HttpToolsProtocol narrows BaseProtocol's BaseTransport the same way;
    # arg-type: CoalescingTransport is a Transport by delegation (__getattr__), not by subclassing.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # see above
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]  # see above
        self._reading_head = True  # a silent client is still to send its first head
        self._expect(read_timeouts()[0])

    def connection_lost(self, exc: Exception | None) -> None:
        self._expect(None)
        super().connection_lost(exc)

    def _expect(self, seconds: float | None) -> None:
        """Cut the connection off unless what is awaited arrives within `seconds` (None: stop)."""
        if self._read_deadline is not None:
            self._read_deadline.cancel()
        self._read_deadline = (
            None if seconds is None else self.loop.call_later(seconds, self._stalled)
        )

    def _stalled(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        if self._reading_head:  # no request yet: say why, then close
            self._reading_head = False
            self.transport.write(_plain(408, _TOO_SLOW))
        self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._reading_head:  # a kept-alive connection's next head (or a pipelined one)
            self._expect(read_timeouts()[0])
        self._reading_head = True
        self._head_bytes = 0
        self._parsed_head_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def _count(self, size: int) -> None:
        self._parsed_head_bytes += size
        if self._parsed_head_bytes > MAX_HEAD_BYTES:
            self._head_too_large = True
            raise _HeadTooLarge

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._expect(read_timeouts()[1])
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._expect(None)  # the whole request is in: the application's time is its own
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if self._head_too_large:
            self._refuse_head()
        else:
            super().send_400_response(msg)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._reading_head or self.transport.is_closing():
            return
        self._head_bytes += len(data)  # bytes fed while a head is still incomplete
        if self._head_bytes > MAX_HEAD_BYTES:
            self._refuse_head()

    def _refuse_head(self) -> None:
        """431, and the connection closed: nothing of the request reaches the application."""
        self._reading_head = False
        self._expect(None)
        self.transport.write(_plain(431, _TOO_LARGE))
        self.transport.close()


def _plain(status: int, text: bytes) -> bytes:
    """A whole plain-text answer that closes the connection."""
    return b"".join(
        [
            STATUS_LINE[status],
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(text),
            b"connection: close\r\n\r\n",
            text,
        ]
    )
