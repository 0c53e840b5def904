"""Write routes: translate HTTP into one use case each, and the receipt back into HTTP."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from api.own_writes import OwnWrites, client_of
from api.problems import RESPONSES
from api.schemas import (
    ComparisonCreate,
    Reason,
    ReasonBody,
    Receipt,
    ToolAmend,
    ToolCreate,
    VerdictPut,
    VoteCast,
    VoterCreated,
    VoteResult,
    WriteResult,
)
from api.voting.auth import Editor, Voter
from api.voting.votes import Voting
from domain.application import Ledger
from domain.errors import InvalidInput
from domain.receipts import Receipt as DomainReceipt
from domain.receipts import VoteReceipt, sealed
from domain.rules import Surface
from projections.audit.sealing import ReceiptSealer

router = APIRouter(prefix="/v1", responses=RESPONSES)


def _ledger(request: Request) -> Ledger:
    ledger: Ledger = request.app.state.runtime.ledger
    return ledger


def _voting(request: Request) -> Voting:
    voting: Voting = request.app.state.voting
    return voting


def receipt_body(receipt: DomainReceipt) -> Receipt:
    """Position, transparency-log leaf hash and signed promise of the event written
    (docs/audit.md)."""
    if receipt.event is None or receipt.seal is None:
        return Receipt(position=receipt.position, leaf_hash=None)
    leaf = base64.b64encode(receipt.seal.leaf_hash).decode()
    return Receipt(position=receipt.event.id, leaf_hash=leaf, promise=receipt.seal.promise)


def _written(request: Request, receipt: DomainReceipt) -> WriteResult:
    sealer: ReceiptSealer = request.app.state.runtime.sealer
    done = sealed(receipt, sealer.seal)
    own_writes: OwnWrites = request.app.state.own_writes
    own_writes.wrote(client_of(request.scope), done.position)
    return WriteResult(outcome=done.outcome, receipt=receipt_body(done))


def vote_status(receipt: VoteReceipt) -> int:
    """201 for a first vote (or one after a retraction), 200 for anything else."""
    return 201 if receipt.outcome in ("cast", "recast") else 200


def voted(slug: str, voter_id: str, receipt: VoteReceipt) -> VoteResult:
    return VoteResult(
        tool=slug,
        voter_id=voter_id,
        choice=receipt.choice,
        outcome=receipt.outcome,
        receipt=receipt_body(receipt),
    )


ReasonQuery = Annotated[Reason | None, Query(alias="reason")]
OptionalReasonBody = Annotated[ReasonBody | None, Body()]


def _reason(body: OptionalReasonBody = None, query: ReasonQuery = None) -> str:
    """DELETEs take their reason as a JSON body or as ?reason=."""
    if body is not None:
        return body.reason
    if query:
        return query
    raise InvalidInput("reason", "give a reason, as a JSON body {'reason': ...} or ?reason=")


GivenReason = Annotated[str, Depends(_reason)]

# -- voters ---------------------------------------------------------------------------------


@router.post("/voters", status_code=201, summary="Get an anonymous voter identity")
def register_voter(request: Request) -> VoterCreated:
    voter, token = _voting(request).register(client_of(request.scope))
    return VoterCreated(voter_id=voter.name, token=token)


@router.put(
    "/tools/{slug}/vote",
    summary="Cast or change your vote",
    responses={
        201: {"model": VoteResult, "description": "First vote (or a vote after a retraction)"}
    },
)
async def put_vote(
    request: Request, response: Response, slug: str, body: VoteCast, who: Voter
) -> VoteResult:
    receipt = (
        await _voting(request).vote(
            slug, body.choice, who, client_of(request.scope), surface=Surface.API
        )
    ).receipt
    response.status_code = vote_status(receipt)
    return voted(slug, who.name, receipt)


@router.delete("/tools/{slug}/vote", summary="Retract your vote")
async def delete_vote(request: Request, slug: str, who: Voter) -> VoteResult:
    retracted = await _voting(request).vote(
        slug, None, who, client_of(request.scope), surface=Surface.API
    )
    return voted(slug, who.name, retracted.receipt)


# -- listings -------------------------------------------------------------------------------


@router.post("/tools", status_code=201, summary="List a tool")
def post_tool(request: Request, body: ToolCreate, who: Editor) -> WriteResult:
    listing = body.model_dump(exclude={"slug"})
    return _written(request, _ledger(request).list_tool(body.slug, listing, who.actor))


@router.patch("/tools/{slug}", summary="Amend listing fields, with a reason")
def patch_tool(request: Request, slug: str, body: ToolAmend, who: Editor) -> WriteResult:
    return _written(
        request, _ledger(request).amend_listing(slug, body.changes(), body.reason, who.actor)
    )


@router.delete("/tools/{slug}", summary="Delist a tool, with a reason")
def delete_tool(request: Request, slug: str, who: Editor, reason: GivenReason) -> WriteResult:
    return _written(request, _ledger(request).delist_tool(slug, reason, who.actor))


# -- verdicts -------------------------------------------------------------------------------


@router.put(
    "/tools/{slug}/verdicts/{seat}",
    summary="Publish a verdict (201) or amend it with a reason (200)",
    responses={201: {"model": WriteResult, "description": "Published"}},
)
def put_verdict(
    request: Request, response: Response, slug: str, seat: str, body: VerdictPut, who: Editor
) -> WriteResult:
    receipt = _ledger(request).put_verdict(
        slug, seat, body.reviewer, body.decision, body.text, who.actor, body.reason
    )
    response.status_code = 201 if receipt.outcome == "published" else 200
    return _written(request, receipt)


@router.delete("/tools/{slug}/verdicts/{seat}", summary="Retract a verdict, with a reason")
def delete_verdict(
    request: Request, slug: str, seat: str, who: Editor, reason: GivenReason
) -> WriteResult:
    return _written(request, _ledger(request).retract_verdict(slug, seat, reason, who.actor))


# -- comparisons ----------------------------------------------------------------------------


@router.post("/comparisons", status_code=201, summary="Publish a comparison of two tools")
def post_comparison(request: Request, body: ComparisonCreate, who: Editor) -> WriteResult:
    return _written(request, _ledger(request).publish_comparison(body.left, body.right, who.actor))


@router.delete("/comparisons/{left}/{right}", summary="Withdraw a comparison, with a reason")
def delete_comparison(
    request: Request, left: str, right: str, who: Editor, reason: GivenReason
) -> WriteResult:
    return _written(request, _ledger(request).withdraw_comparison(left, right, reason, who.actor))
