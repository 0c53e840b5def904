"""Moderation routes: a moderator voids ballots, or restores them, in the open (one event per
ballot, each with its reason, rule and moderator)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.own_writes import OwnWrites, client_of
from api.problems import RESPONSES
from api.routes.writes import receipt_body
from api.schemas import ModeratedBallot, ModerationCreate, ModerationResult
from api.voting.auth import Moderator
from domain.application import Ledger
from domain.receipts import ModerationReceipt, Receipt
from projections.audit.sealing import ReceiptSealer

router = APIRouter(prefix="/v1/moderation", responses=RESPONSES)


def _ledger(request: Request) -> Ledger:
    ledger: Ledger = request.app.state.runtime.ledger
    return ledger


def _moderated(request: Request, receipt: ModerationReceipt) -> ModerationResult:
    """One receipt per ballot, its events sealed together (one promise signature for all), and
    the client's reads made to wait for the last of them, as after any write."""
    sealer: ReceiptSealer = request.app.state.runtime.sealer
    seals = sealer.seal([event for _, event in receipt.events])
    own_writes: OwnWrites = request.app.state.own_writes
    own_writes.wrote(client_of(request.scope), receipt.events[-1][1].id)
    return ModerationResult(
        tool=receipt.tool,
        outcome=receipt.outcome,
        ballots=[
            ModeratedBallot(
                voter_id=voter,
                receipt=receipt_body(Receipt(receipt.outcome, event, seal=seals[event.id])),
            )
            for voter, event in receipt.events
        ],
    )


@router.post("/voids", summary="Void ballots (they leave the tally; their voters are refused)")
def post_voids(request: Request, body: ModerationCreate, who: Moderator) -> ModerationResult:
    ledger = _ledger(request)
    return _moderated(
        request, ledger.void_ballots(body.tool, body.voters, body.reason, body.rule, who.actor)
    )


@router.post("/restores", summary="Restore voided ballots (they count again)")
def post_restores(request: Request, body: ModerationCreate, who: Moderator) -> ModerationResult:
    ledger = _ledger(request)
    return _moderated(
        request, ledger.restore_ballots(body.tool, body.voters, body.reason, body.rule, who.actor)
    )
