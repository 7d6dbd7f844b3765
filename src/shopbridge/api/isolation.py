"""Each request runs in an asyncio task of its own, whatever the server does.

Authentication binds the caller's tenant to the current context and deliberately never
unbinds it (`shopbridge.storage.scoping.bind_tenant`): the binding must hold until the
request is completely done, background tasks and streamed bodies included, and it ends with
the request's task. A server may run requests in a task it shares with other work (an ASGI
test client runs them in the caller's task), so the app runs every request in a new task,
which starts from a copy of the caller's context and leaves it untouched.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send


class OwnTaskMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Awaiting the task directly: cancelling this request cancels the task too.
        await asyncio.ensure_future(self.app(scope, receive, send))
