"""Request and response bodies. Unknown fields are refused; bounds come from domain.rules, so the
HTTP layer and the domain refuse exactly the same input."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from domain.application import MAX_MODERATED
from domain.rules import MAX_LENGTH, SLUG_PATTERN

MAX_INT = 2**63 - 1
"""Positions, sizes and indexes are 64-bit in both databases: larger numbers are refused (422)."""
_MAX_DIGITS = len(str(MAX_INT))


def position_or_none(text: str) -> int | None:
    """`text` as a log position when it is one written plainly (ASCII digits, at most 64 bits),
    else None. `str.isdigit()` and `int()` accept far more (superscripts, other scripts' digits,
    numbers of any length, the longest of which `int()` refuses with an error)."""
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_DIGITS:
        return None
    value = int(text)
    return value if value <= MAX_INT else None


Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
Choice = Literal["ship", "skip"]


Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LENGTH["name"])]
Category = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LENGTH["category"])]
Tagline = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LENGTH["tagline"])]
Description = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LENGTH["description"])]
Pricing = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LENGTH["pricing"])]
Reviewer = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LENGTH["reviewer"])]
Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LENGTH["text"])]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LENGTH["reason"])]
Rule = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LENGTH["rule"])]
VoterId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LENGTH["actor"])]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolCreate(Strict):
    slug: Slug
    name: Name
    category: Category
    tagline: Tagline
    description: Description
    pricing: Pricing

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "slug": "example-tool",
                    "name": "Example Tool",
                    "category": "Developer Tools",
                    "tagline": "One line on what it does",
                    "description": "Two sentences on what it is and who it is for.",
                    "pricing": "Free",
                }
            ]
        },
    )


class ToolAmend(Strict):
    name: Name | None = None
    category: Category | None = None
    tagline: Tagline | None = None
    description: Description | None = None
    pricing: Pricing | None = None
    reason: Reason

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"pricing": "Paid", "reason": "free tier ended"}]},
    )

    def changes(self) -> dict[str, str]:
        return self.model_dump(exclude={"reason"}, exclude_none=True)


class ReasonBody(Strict):
    reason: Reason


class VerdictPut(Strict):
    """Publishing needs reviewer, decision and text; amending needs a reason and changes only the
    fields it names (the others stay as they are)."""

    reviewer: Reviewer | None = Field(default=None, description="Required when publishing")
    decision: Choice | None = Field(default=None, description="Required when publishing")
    text: Text | None = Field(default=None, description="Required when publishing")
    reason: Reason | None = Field(default=None, description="Required when amending")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"reviewer": "Builder", "decision": "ship", "text": "Clean API."}]
        },
    )


class VoteCast(Strict):
    choice: Choice

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"choice": "ship"}]})


class ComparisonCreate(Strict):
    left: Slug
    right: Slug

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"left": "claude-files-api", "right": "smollm3"}]},
    )


class ModerationCreate(Strict):
    """Void (or restore) these voters' ballots on one tool, with a reason and the rule applied."""

    tool: Slug
    voters: list[VoterId] = Field(min_length=1, max_length=MAX_MODERATED)
    reason: Reason
    rule: Rule

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "tool": "smollm3",
                    "voters": ["v_Ab3dE5gH7jK9mN1p", "v_Qr5tU7wX9zB1dF3h"],
                    "reason": "40 voters registered in one minute from one address",
                    "rule": "one-person-one-vote",
                }
            ]
        },
    )


class Receipt(BaseModel):
    position: int | None = Field(description="Log position of the event written (null: none)")
    leaf_hash: str | None = Field(
        description="Base64 RFC 9162 leaf hash of that event: prove it with "
        "/v1/audit/proofs/inclusion?position=P against any later checkpoint"
    )
    promise: str | None = Field(
        default=None,
        description="The log's signed promise (C2SP signed note, docs/audit.md) that this "
        "position and leaf hash will be in a checkpoint by its `by` time (null: none)",
    )


class WriteResult(BaseModel):
    outcome: str
    receipt: Receipt


class VoteResult(WriteResult):
    tool: str
    voter_id: str
    choice: Choice | None


class ModeratedBallot(BaseModel):
    voter_id: str
    receipt: Receipt


class ModerationResult(BaseModel):
    tool: str
    outcome: Literal["voided", "restored"]
    ballots: list[ModeratedBallot] = Field(description="One event per ballot, in request order")


class VoterCreated(BaseModel):
    voter_id: str
    token: str = Field(description="Bearer secret, shown once")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
