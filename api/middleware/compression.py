"""Content codings: which one a request asks for (Accept-Encoding), which answers are worth
compressing, and the compressors (api/middleware/representation.py applies them).

Only text is compressed: images, archives and fonts are compressed already, and a type not named
here is sent as it is. Bodies under MIN_BYTES are too: below about a kilobyte the coding's own
header and the buffering cost more than the bytes saved. br is preferred when the client weighs
both equally: at quality 4 it came 2-9% smaller than gzip (level 6) on our JSON, HTML and Atom
in about the same time (docs/performance.md, `scripts/bench/compression.py`)."""

from __future__ import annotations

import zlib
from typing import Protocol

import brotli

MIN_BYTES = 1024
BROTLI_QUALITY = 4
"""Brotli's default, 11, is meant for files compressed once: 2 s for the 160 KB list answer
that quality 4 compresses in 0.9 ms (and 5 in 13 ms)."""
GZIP_LEVEL = 6
CODINGS = ("br", "gzip")
"""Ours, most preferred first."""
_TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/problem+json",
        "application/atom+xml",
        "application/xml",
        "application/javascript",
        "application/x-ndjson",
        "image/svg+xml",
    }
)


def compressible(content_type: str) -> bool:
    """Whether answers of this Content-Type are text worth compressing."""
    media = content_type.partition(";")[0].strip().lower()
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith("+json")


def _weight(text: str) -> float:
    """A q-value (RFC 9110 §12.4.2); one that does not parse counts as refusal."""
    try:
        value = float(text)
    except ValueError:
        return 0.0
    return value if 0.0 <= value <= 1.0 else 0.0


def negotiate(accept_encoding: str) -> str | None:
    """The coding to send (None: identity) for an Accept-Encoding value (RFC 9110 §12.5.3):
    the highest-weighted of ours, ties broken by CODINGS' order; `*` weighs the ones not named."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, params = item.partition(";")
        name = name.strip().lower()
        if not name:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                q = _weight(value.strip())
        weights[name] = q
    star = weights.get("*", 0.0)
    best, best_q = None, 0.0
    for coding in CODINGS:
        q = weights.get(coding, star)
        if q > best_q:
            best, best_q = coding, q
    return best


class Compressor(Protocol):
    def compress(self, data: bytes) -> bytes: ...
    def finish(self) -> bytes: ...


class _Gzip:
    """zlib's gzip framing (wbits 31) with no file name or time in its header, so the same body
    gives the same bytes (and the same ETag) on every request."""

    def __init__(self) -> None:
        self._z = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)

    def compress(self, data: bytes) -> bytes:
        return self._z.compress(data)

    def finish(self) -> bytes:
        return self._z.flush()


class _Brotli:
    def __init__(self) -> None:
        self._b = brotli.Compressor(quality=BROTLI_QUALITY)

    def compress(self, data: bytes) -> bytes:
        out: bytes = self._b.process(data)
        return out

    def finish(self) -> bytes:
        out: bytes = self._b.finish()
        return out


def compressor(coding: str) -> Compressor:
    """A streaming compressor for one answer; `coding` is one of CODINGS."""
    return _Brotli() if coding == "br" else _Gzip()


def compress(coding: str, body: bytes) -> bytes:
    """A whole body, compressed."""
    c = compressor(coding)
    return c.compress(body) + c.finish()
