"""The protocol `verdict serve` runs: one send per response, and the 16 KiB bound on a head."""

from __future__ import annotations

import asyncio
import gzip
import socket
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from api.server.http_protocol import MAX_HEAD_BYTES, CoalescingTransport
from domain.settings import Settings
from tests.serving import serving


class RecordingTransport(asyncio.Transport):
    """A transport that keeps what it is asked to do (the one under test only wraps it)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.calls.append(("write", bytes(data)))

    def close(self) -> None:
        self.calls.append(("close", b""))
        self.closing = True

    def abort(self) -> None:
        self.calls.append(("abort", b""))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0


@given(st.lists(st.lists(st.binary(min_size=1, max_size=20), max_size=4), max_size=5))
def test_what_one_turn_writes_goes_out_as_one_send_in_order(turns: list[list[bytes]]) -> None:
    async def scenario() -> list[tuple[str, bytes]]:
        inner = RecordingTransport()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())
        for writes in turns:
            for data in writes:
                transport.write(data)
            await asyncio.sleep(0)  # the loop turns: what was held is flushed
        return inner.calls

    calls = asyncio.run(scenario())
    assert calls == [("write", b"".join(w)) for w in turns if w]


def test_close_sends_what_is_held_first_and_abort_drops_it() -> None:
    async def scenario() -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
        loop = asyncio.get_running_loop()
        closed, aborted = RecordingTransport(), RecordingTransport()
        for inner in (closed, aborted):
            transport = CoalescingTransport(inner, loop)
            transport.write(b"head ")
            transport.write(b"body")
            assert transport.get_write_buffer_size() == 9
            if inner is closed:
                transport.close()
            else:
                transport.abort()
        await asyncio.sleep(0)  # the scheduled flushes find nothing left to send
        return closed.calls, aborted.calls

    closed, aborted = asyncio.run(scenario())
    assert closed == [("write", b"head body"), ("close", b"")]
    assert aborted == [("abort", b"")]


def _exchange(url: str, request: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
        return received


def test_served_answers_whole_and_refuses_an_oversized_head(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/ledger.db")
    with serving(settings, tmp_path / "serve.log") as served:
        ok = _exchange(
            served.url, b"GET /v1/tools HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        )
        head, _, body = ok.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        assert len(body) == length and body.startswith(b"{")
        big = b"GET /v1/tools HTTP/1.1\r\nx-pad: " + b"a" * (MAX_HEAD_BYTES + 1)  # never ends
        refused = _exchange(served.url, big)
        assert refused.startswith(b"HTTP/1.1 431 ")
        assert refused.endswith(b"request head is larger than 16 KiB")
        # A whole head in one read: 60 KB of headers, complete, sent at once.
        pads = b"".join(b"x-pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(60))
        whole = b"GET /v1/tools HTTP/1.1\r\nhost: x\r\n" + pads + b"connection: close\r\n\r\n"
        refused = _exchange(served.url, whole)
        assert refused.startswith(b"HTTP/1.1 431 "), refused[:100]
        long_url = b"GET /v1/tools?q=" + b"a" * 60_000 + b" HTTP/1.1\r\nhost: x\r\n\r\n"
        assert _exchange(served.url, long_url).startswith(b"HTTP/1.1 431 ")
        just = b"GET /v1/tools HTTP/1.1\r\nhost: x\r\nx-pad: " + b"a" * 15_000
        ok = _exchange(served.url, just + b"\r\nconnection: close\r\n\r\n")
        assert ok.startswith(b"HTTP/1.1 200 "), "a head under the bound is served"


def _answers(conn: socket.socket, bodies: list[bool]) -> list[tuple[bytes, bytes]]:
    """Answers read off one kept-alive connection, (head, body) each: an answer with a body
    (False: a HEAD's) holds exactly as many bytes as its Content-Length says."""
    buffer, found = b"", []
    for has_body in bodies:
        while b"\r\n\r\n" not in buffer:
            buffer += conn.recv(65536)
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")[1:]
        fields = dict(line.lower().split(b": ", 1) for line in lines if b": " in line)
        length = int(fields[b"content-length"]) if has_body else 0
        while len(buffer) < length:
            buffer += conn.recv(65536)
        found.append((head.lower(), buffer[:length]))
        buffer = buffer[length:]
    return found


def test_head_and_compressed_answers_keep_the_connection_in_step(tmp_path: Path) -> None:
    """Through uvicorn and our protocol: HEAD sends GET's Content-Length and no body, a gzip'd
    answer is as long as it says, and the answers after them on the same connection parse."""
    settings = Settings(database_url=f"sqlite:///{tmp_path}/ledger.db")
    with serving(settings, tmp_path / "serve.log") as served:
        host, port = served.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(
                b"HEAD /v1/tools HTTP/1.1\r\nhost: x\r\n\r\n"
                b"GET /v1/tools HTTP/1.1\r\nhost: x\r\naccept-encoding: gzip\r\n\r\n"
                b"GET /v1/tools HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
            )
            head, zipped, plain = _answers(conn, [False, True, True])
            assert conn.recv(65536) == b"", "nothing after the last answer"
    assert head[0].startswith(b"http/1.1 200 ")
    assert f"content-length: {len(plain[1])}\r\n".encode() in head[0] + b"\r\n"
    assert b"content-encoding: gzip" in zipped[0]
    assert gzip.decompress(zipped[1]) == plain[1]
    assert plain[1].startswith(b'{"tools":[')


STALL_LIMIT = 0.5
"""The head, body and idle timeouts the stall test configures (seconds)."""


def _closed_within(conn: socket.socket, seconds: float) -> bytes:
    """What the server sends until it closes the connection, which must be within `seconds`."""
    conn.settimeout(seconds)
    received = b""
    try:
        while chunk := conn.recv(65536):
            received += chunk
    except TimeoutError:
        raise AssertionError(f"still open after {seconds} s; got {received[:80]!r}") from None
    except ConnectionResetError:
        pass
    return received


def test_stalled_clients_are_cut_off(tmp_path: Path) -> None:
    """A silent socket, a head that never ends, a body that never comes and an idle keep-alive
    connection are each closed soon after the configured timeout (a stalled head with 408)."""
    settings = Settings(database_url=f"sqlite:///{tmp_path}/ledger.db")
    limit = str(STALL_LIMIT)
    timeouts = {
        "VERDICT_HEAD_TIMEOUT_SECONDS": limit,
        "VERDICT_BODY_TIMEOUT_SECONDS": limit,
        "VERDICT_IDLE_TIMEOUT_SECONDS": limit,
    }
    with serving(settings, tmp_path / "serve.log", **timeouts) as served:
        host, port = served.url.removeprefix("http://").split(":")
        address = (host, int(port))
        bound = STALL_LIMIT + 3  # the timer, plus a loaded machine's delay

        with socket.create_connection(address, timeout=5) as silent:
            assert _closed_within(silent, bound).startswith((b"", b"HTTP/1.1 408 "))
        with socket.create_connection(address, timeout=5) as slow_head:
            slow_head.sendall(b"GET /v1/tools HTTP/1.1\r\nhost: x\r\nx-slow: a")
            assert _closed_within(slow_head, bound).startswith(b"HTTP/1.1 408 ")
        with socket.create_connection(address, timeout=5) as slow_body:
            slow_body.sendall(
                b"POST /v1/voters HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{"
            )
            _closed_within(slow_body, bound)
        with socket.create_connection(address, timeout=5) as idle:
            idle.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            answered = _closed_within(idle, bound)
            assert answered.startswith(b"HTTP/1.1 200 "), "served, then closed when idle"
        with socket.create_connection(address, timeout=5) as prompt:
            prompt.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            assert _closed_within(prompt, bound).startswith(b"HTTP/1.1 200 ")
