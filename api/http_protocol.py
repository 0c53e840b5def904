"""The HTTP/1.1 protocol `verdict serve` gives uvicorn: its compiled one (httptools), with the
bound on a request's head that uvicorn's pure-Python one (h11) has and httptools lacks.

httptools parses several times faster than h11, but buffers a request line and headers of any
size: a client could make a worker hold a gigabyte of "header". h11 refuses a head larger than
16 KiB; so does this, with 431 and a closed connection, before the application sees anything."""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MAX_HEAD_BYTES = 16 * 1024
"""h11's default `max_incomplete_event_size`, which uvicorn's h11 protocol applies."""
_TOO_LARGE = b"request head is larger than 16 KiB"


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    _reading_head = False
    _head_bytes = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._reading_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._reading_head or self.transport.is_closing():
            return
        self._head_bytes += len(data)  # bytes fed while a head is still incomplete
        if self._head_bytes > MAX_HEAD_BYTES:
            self._reading_head = False
            self.transport.write(
                b"".join(
                    [
                        STATUS_LINE[431],
                        b"content-type: text/plain; charset=utf-8\r\n",
                        b"content-length: %d\r\n" % len(_TOO_LARGE),
                        b"connection: close\r\n\r\n",
                        _TOO_LARGE,
                    ]
                )
            )
            self.transport.close()
