"""Shared request dependencies.

They are `async def` although they do not wait for anything: FastAPI runs a plain `def`
dependency in its thread pool, a thread hop per dependency per request for a lookup of an
attribute."""

from __future__ import annotations

from fastapi import Request

from shopbridge.config import Settings
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.box
    return box


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings
