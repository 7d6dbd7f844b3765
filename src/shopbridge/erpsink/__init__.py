"""A sample ERP receiver for ShopBridge webhooks (``shopbridge erp-sink``).

It is written as a model for ERP developers and as a test target for ShopBridge's own
delivery tests and benchmarks, so it deliberately imports nothing else of ShopBridge: only
the standard library, Starlette, ``standardwebhooks`` and uvicorn. Copy the folder into your
own project and it still runs. See ``docs/erp-integration.md``.
"""

from .app import create_app, load_secret
from .store import Store

__all__ = ["Store", "create_app", "load_secret"]
