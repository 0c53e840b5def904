"""C2SP formats written in the tests from the specifications alone (tlog-cosignature,
tlog-proof), not from the code under test: what the verifier's own parsers are held to."""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

NOW = 1_795_000_000
"""A cosignature timestamp (POSIX seconds)."""


class Cosigner:
    """A witness's cosigning key, from C2SP tlog-cosignature alone: key id SHA-256(name || 0x0A
    || 0x04 || key)[:4], signature key id || u64 big-endian timestamp || Ed25519 over
    "cosignature/v1\\ntime <t>\\n" and the note text."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.private = Ed25519PrivateKey.generate()
        self.public = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = hashlib.sha256(name.encode() + b"\n\x04" + self.public).digest()[:4]

    @property
    def vkey(self) -> str:
        material = base64.b64encode(b"\x04" + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def line(self, note: str, timestamp: int, text: str | None = None) -> str:
        body = note[: note.rfind("\n\n") + 1] if text is None else text
        message = f"cosignature/v1\ntime {timestamp}\n{body}".encode()
        signature = self.key_id + timestamp.to_bytes(8, "big") + self.private.sign(message)
        return f"\u2014 {self.name} {base64.b64encode(signature).decode()}\n"

    def cosign(self, note: str, timestamp: int = NOW) -> str:
        return note + self.line(note, timestamp)


def format_tlog_proof(
    index: int, proof: tuple[bytes, ...], checkpoint: str, extra: bytes | None = None
) -> str:
    """A tlog-proof as C2SP tlog-proof@v1 lays it out, written here from the spec."""
    lines = ["c2sp.org/tlog-proof@v1"]
    if extra is not None:
        lines.append("extra " + base64.b64encode(extra).decode())
    lines.append(f"index {index}")
    lines += [base64.b64encode(h).decode() for h in proof]
    return "\n".join(lines) + "\n\n" + checkpoint
