"""The operator dashboard: server-rendered pages under `/dashboard` (see docs/dashboard.md)."""

from shopbridge.dashboard.routes import router

__all__ = ["router"]
