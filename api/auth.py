"""Bearer credentials as FastAPI dependencies: `Editor` and `Voter` name who is calling."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.credentials import Credentials, Principal

bearer = HTTPBearer(auto_error=False, description="An editor key, or a voter token")


class Unauthenticated(Exception):
    """No credential, or one the ledger does not know (401)."""


class Forbidden(Exception):
    """A valid credential of the wrong role (403)."""


def _credentials(request: Request) -> Credentials:
    credentials: Credentials = request.app.state.runtime.credentials
    return credentials


def principal(
    request: Request,
    auth: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if auth is None:
        raise Unauthenticated("send 'Authorization: Bearer <key or token>'")
    store = _credentials(request)
    who = store.editor(auth.credentials) or store.voter(auth.credentials)
    if who is None:
        raise Unauthenticated("unknown, malformed or revoked credential")
    return who


def editor(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if who.role != "editor":
        raise Forbidden("this route needs an editor key")
    return who


def voter(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if who.role != "voter":
        raise Forbidden("this route needs a voter token (POST /v1/voters)")
    return who


Editor = Annotated[Principal, Depends(editor)]
Voter = Annotated[Principal, Depends(voter)]
