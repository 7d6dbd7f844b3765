"""Pieces of the `/_sandbox` control plane every sandbox shares: the optional control token,
the router it guards, and the bodies of the live-stream endpoints."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException
from pydantic import BaseModel, ConfigDict, Field


class ControlModel(BaseModel):
    """Control bodies refuse unknown fields: a typo in a test must fail loudly."""

    model_config = ConfigDict(extra="forbid")


class StreamIn(ControlModel):
    orders_per_second: float = Field(ge=0, le=1000)


class TickIn(ControlModel):
    steps: int = Field(default=1, ge=1, le=10_000)


def control_router(control_token: Callable[[], str | None]) -> APIRouter:
    """The `/_sandbox` router; when the sandbox has a control token, every call must send it
    as `X-Sandbox-Token`."""

    async def check_token(x_sandbox_token: Annotated[str | None, Header()] = None) -> None:
        expected = control_token()
        if expected is None:
            return
        if x_sandbox_token is None or not hmac.compare_digest(
            x_sandbox_token.encode(), expected.encode()
        ):
            raise HTTPException(status_code=401, detail="missing or wrong X-Sandbox-Token")

    return APIRouter(prefix="/_sandbox", tags=["sandbox"], dependencies=[Depends(check_token)])
