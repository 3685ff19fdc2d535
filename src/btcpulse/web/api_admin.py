"""Write endpoints, each behind the admin token (``Authorization: Bearer <BTCPULSE_ADMIN_TOKEN>``).

Without a configured token every write is refused (403): a fresh install is read-only.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from pydantic import BaseModel, Field, SecretStr

from btcpulse.store.alert_rules import save_rules, stored_rules
from btcpulse.web.api import ERRORS, Problem, store_of

router = APIRouter(prefix="/api/v1", responses=ERRORS)


def require_admin(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """403 when no admin token is configured, 401 when the request's token is missing or
    wrong (compared in constant time)."""
    secret: SecretStr | None = request.app.state.settings.admin_token
    token = secret.get_secret_value() if secret is not None else ""
    if not token:
        raise HTTPException(403, "editing is disabled: no admin token is configured")
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
        raise HTTPException(
            401, "a valid admin token is required", headers={"WWW-Authenticate": "Bearer"}
        )


class RulesIn(BaseModel):
    rules: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(max_length=50)


def _rules_body(request: Request) -> dict[str, Any]:
    with store_of(request).read() as conn:
        found = stored_rules(conn)
    settings = request.app.state.settings
    return {
        "rules": found[0] if found else list(settings.alert_rules),
        "origin": "store" if found else "settings",
        "updated_at": found[1].isoformat() if found else None,
        "writable": bool(settings.admin_token and settings.admin_token.get_secret_value()),
    }


@router.get("/alerts/rules", summary="The alert rules the engine applies (public)")
def get_rules(request: Request) -> dict[str, Any]:
    return _rules_body(request)


@router.put(
    "/alerts/rules",
    summary="Replace the alert rules (admin token); the engine applies them from its next batch",
    dependencies=[Depends(require_admin)],
    responses={
        400: {"model": Problem, "description": "a body that is not JSON"},
        401: {"model": Problem, "description": "missing or wrong token"},
        403: {"model": Problem, "description": "disabled"},
    },
)
def put_rules(request: Request, body: RulesIn) -> dict[str, Any]:
    try:
        with store_of(request).begin() as conn:
            save_rules(conn, body.rules)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    return _rules_body(request)
