"""Asking witnesses to cosign the log's checkpoints (C2SP tlog-witness `add-checkpoint`).

One thread per witness, in the process that follows the audit log (where checkpoints are
signed), never on the write path: a witness that is slow or down delays only its own
cosignatures. Each thread looks for a newer checkpoint every POLL_SECONDS and sends only the
newest, with the consistency proof from the size that witness last cosigned (0, no proof, when
we know nothing; a 409 tells us its size and we try again at once). Every request is bounded by
TIMEOUT_SECONDS; after a failure the thread backs off, doubling up to MAX_BACKOFF_SECONDS. A
refusal is logged at error level, kept (`/v1/audit/witnesses`) and counted in /metrics."""

from __future__ import annotations

import http.client
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass

from eventsourcing.persistence import PersistenceError
from prometheus_client import Counter

from api.witness.protocol import TLOG_SIZE, MalformedRequest, format_add_checkpoint, parse_tlog_size
from domain.persistence.backoff import Backoff
from domain.settings import Witness
from projections.audit import merkle
from projections.audit.cosignature import CosignatureVerifier
from projections.audit.log import AuditStore, StoredCheckpoint
from projections.audit.signed_note import InvalidNote, split_note
from projections.audit.witness_store import WitnessStore
from projections.following.daemon import DaemonLoop

log = logging.getLogger("verdict.witnesses")

REFUSALS = Counter(
    "verdict_witness_refusals",
    "add-checkpoint answers other than a valid cosignature, by witness (key name) and status",
    ["witness", "status"],
)
UNREACHABLE = Counter(
    "verdict_witness_unreachable",
    "add-checkpoint requests that got no answer (connection refused, timeout), by witness",
    ["witness"],
)

POLL_SECONDS = 0.1
TIMEOUT_SECONDS = 5.0
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 10.0
MAX_BODY = 64 * 1024
"""A witness's answer is a few signature lines; read no more than this of it."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    content_type: str
    body: str


def post(url: str, body: bytes, timeout: float) -> Answer:
    """POST `body`; any HTTP status is an answer, an unreachable witness raises OSError."""
    request = urllib.request.Request(  # noqa: S310 - the operator's configured witness URL
        url, data=body, method="POST", headers={"Content-Type": "text/plain; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - as above
            return Answer(
                response.status,
                response.headers.get_content_type(),
                response.read(MAX_BODY).decode("utf-8", "replace"),
            )
    except urllib.error.HTTPError as error:
        with error:
            text = error.read(MAX_BODY).decode("utf-8", "replace")
            return Answer(error.code, error.headers.get_content_type(), text)


class WitnessSubmitter(DaemonLoop):
    """Keeps one witness's cosignatures up to date with the newest checkpoint."""

    def __init__(
        self,
        witness: Witness,
        audit: AuditStore,
        store: WitnessStore,
        *,
        poll: float | None = None,
        timeout: float | None = None,
        max_backoff: float | None = None,
    ) -> None:
        """Unset, `poll`, `timeout` and `max_backoff` are this module's constants as they
        are when the submitter is made."""
        self.witness = witness
        self.verifier = CosignatureVerifier.from_verifier_key(witness.verifier_key)
        self.audit = audit
        self.store = store
        self.poll = POLL_SECONDS if poll is None else poll
        self.timeout = TIMEOUT_SECONDS if timeout is None else timeout
        self.max_backoff = MAX_BACKOFF_SECONDS if max_backoff is None else max_backoff
        self._cosigned = 0
        """The newest size this thread has a cosignature for (0: look it up)."""
        self._refusals = REFUSALS
        self._unreachable = UNREACHABLE.labels(self.verifier.name)
        super().__init__(f"witness-{self.verifier.name}")

    def stop(self, timeout: float | None = None) -> None:
        """Unset, `timeout` outlasts one submission (`self.timeout`)."""
        super().stop(self.timeout + 1 if timeout is None else timeout)

    def _run(self) -> None:
        backoff = Backoff(FIRST_BACKOFF_SECONDS, max(FIRST_BACKOFF_SECONDS, self.max_backoff))
        delay = self.poll
        while not self._stop.wait(delay):
            try:
                ok = self.step()
            except (OSError, http.client.HTTPException) as error:  # unreachable, timed out, cut
                log.warning("witness %s unreachable: %s", self.witness.url, error)
                self._unreachable.inc()
                ok = False
            except PersistenceError as error:  # our database: retried like the followers do
                log.warning("witness %s: database unavailable: %s", self.witness.url, error)
                ok = False
            if ok:
                backoff.reset()
                delay = self.poll
            else:
                delay = backoff.next()

    def step(self) -> bool:
        """Send the newest checkpoint if this witness has not cosigned it; False after a
        refusal (back off)."""
        latest = self.audit.latest_checkpoint()
        if latest is None or latest.size <= self._cosigned:
            return True
        vkey = self.witness.verifier_key
        if self.store.cosignatures([latest.size], [vkey]):
            self._cosigned = latest.size
            return True
        told = self.store.witness(self.witness.url, vkey).last_size
        old = told if told is not None else 0
        answer = self._submit(old, latest)
        if answer.status == 409 and answer.content_type == TLOG_SIZE:
            try:
                size = parse_tlog_size(answer.body.encode())
            except MalformedRequest:
                size = old
            if size != old:
                self.store.told_size(self.witness.url, vkey, size)
                answer = self._submit(size, latest)
        if answer.status == 200:
            return self._keep(latest, answer)
        self._refused(answer)
        return False

    def _submit(self, old: int, checkpoint: StoredCheckpoint) -> Answer:
        proof: list[bytes] = []
        if 0 < old < checkpoint.size:
            proof = merkle.consistency_proof(old, checkpoint.size, self.audit)
        body = format_add_checkpoint(old, proof, checkpoint.note)
        return post(self.witness.url.rstrip("/") + "/add-checkpoint", body, self.timeout)

    def _keep(self, checkpoint: StoredCheckpoint, answer: Answer) -> bool:
        """Keep the cosignature by our witness's key among the lines answered."""
        text, _ = split_note(checkpoint.note)
        for line in answer.body.splitlines():
            try:
                self.verifier.verify(text, line)
            except InvalidNote:
                continue
            self.store.cosigned(self.witness.url, self.witness.verifier_key, checkpoint.size, line)
            self._cosigned = checkpoint.size
            return True
        self._refused(Answer(200, answer.content_type, "no valid cosignature: " + answer.body))
        return False

    def _refused(self, answer: Answer) -> None:
        log.error(
            "witness %s refused the checkpoint: %d %s",
            self.witness.url,
            answer.status,
            answer.body[:500],
            extra={"witness": self.verifier.name, "status": answer.status},
        )
        self._refusals.labels(self.verifier.name, str(answer.status)).inc()
        self.store.refused(self.witness.url, self.witness.verifier_key, answer.status, answer.body)
