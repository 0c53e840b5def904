"""add-checkpoint, check by check, in the order C2SP tlog-witness gives them.

Each refusal is a `Refusal` carrying the HTTP status the spec assigns; `server` turns them into
responses in one place:

    Refusal
    ├── Malformed          400  not the request format, or old size > checkpoint size
    ├── UnknownOrigin      404  no --log key names this origin
    ├── NotSignedByLog     403  no signature by a trusted key of the origin verifies
    ├── SizeConflict       409  old size is not the size last cosigned (or same size, other root)
    └── InconsistentProof  422  the consistency proof does not verify
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from api.witness.protocol import AddCheckpoint, MalformedRequest, parse_add_checkpoint
from api.witness.state import StaleHead, TreeHead, WitnessState
from projections.audit.cosignature import Cosigner
from projections.audit.merkle import verify_consistency
from projections.audit.signed_note import BadSignature, UnknownKey, open_note, parse_verifier_key

log = logging.getLogger("verdict.witness")


class Refusal(Exception):
    status = 500
    title = "Refused"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Malformed(Refusal):
    status, title = 400, "Bad request"


class UnknownOrigin(Refusal):
    status, title = 404, "Unknown log origin"


class NotSignedByLog(Refusal):
    status, title = 403, "No trusted log signature"


class SizeConflict(Refusal):
    status, title = 409, "Not the size last cosigned"

    def __init__(self, detail: str, size: int) -> None:
        super().__init__(detail)
        self.size = size
        """The size the witness last cosigned: the 409 body."""


class InconsistentProof(Refusal):
    status, title = 422, "Consistency proof does not verify"


class Witness:
    """Cosigns a checkpoint only if it extends the one last cosigned for its origin."""

    def __init__(
        self,
        cosigner: Cosigner,
        log_keys: Iterable[str],
        state: WitnessState,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cosigner = cosigner
        self.state = state
        self._clock = clock
        self._keys: dict[str, list[str]] = {}
        for vkey in log_keys:
            # C2SP: a log's key name is its origin.
            self._keys.setdefault(parse_verifier_key(vkey).name, []).append(vkey)

    @property
    def origins(self) -> list[str]:
        return sorted(self._keys)

    def add_checkpoint(self, body: bytes) -> str:
        """The cosignature line(s) for the request `body`, once the new head is stored; a
        `Refusal` otherwise."""
        try:
            request = parse_add_checkpoint(body)
        except MalformedRequest as e:
            raise Malformed(str(e)) from None
        origin, size = request.checkpoint.origin, request.checkpoint.size
        self._check_signed(request)
        if request.old_size > size:
            raise Malformed(f"old size {request.old_size} is above the checkpoint size {size}")
        checked = self.state.latest(origin)
        new = TreeHead(size, request.checkpoint.root)
        self._check_extends(origin, checked, new, request)
        try:
            self.state.advance(origin, checked, new)
        except StaleHead as e:  # another request advanced it between our check and our write
            raise SizeConflict(str(e), e.current.size) from None
        return self.cosigner.cosign(request.text, int(self._clock()))

    def _check_signed(self, request: AddCheckpoint) -> None:
        origin = request.checkpoint.origin
        keys = self._keys.get(origin)
        if keys is None:
            raise UnknownOrigin(f"this witness does not follow a log with origin {origin!r}")
        for vkey in keys:
            try:
                open_note(request.note, vkey)
            except UnknownKey:
                continue
            except BadSignature as e:  # signed-note: reject the note, even if another verifies
                raise NotSignedByLog(str(e)) from None
            return
        raise NotSignedByLog(f"no signature by a key this witness trusts for {origin!r}")

    def _check_extends(
        self, origin: str, checked: TreeHead, new: TreeHead, request: AddCheckpoint
    ) -> None:
        old = request.old_size
        if old != checked.size:
            raise SizeConflict(f"old size {old} is not {checked.size}, last cosigned", checked.size)
        if old == new.size:
            if new.root != checked.root:
                log.warning("fork: %s size %d has another root: %r", origin, old, request.note)
                raise SizeConflict(f"size {old} was cosigned with another root", checked.size)
            if request.proof:
                raise InconsistentProof(f"the proof from size {old} to itself is empty")
        elif old > 0 and not verify_consistency(
            old, new.size, checked.root, new.root, request.proof
        ):
            log.warning("inconsistent: %s from %d to %d: %r", origin, old, new.size, request.note)
            raise InconsistentProof(f"the proof does not show size {new.size} extends size {old}")
