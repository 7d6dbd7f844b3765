"""Shared request dependencies."""

from __future__ import annotations

from fastapi import Request

from shopbridge.config import Settings
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.box
    return box


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings
