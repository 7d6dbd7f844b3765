"""Shopify sandbox: a local HTTP server speaking Shopify's Admin REST wire protocol.

Point the official ``ShopifyAPI`` SDK (or any Shopify client) at it instead of
``https://{shop}.myshopify.com`` and it behaves like a shop: versioned REST paths,
``X-Shopify-Access-Token`` auth, root-wrapped JSON, ``Link``/``page_info`` pagination,
the leaky-bucket rate limit, Shopify's error bodies, fulfillment orders, inventory levels
and signed webhooks. ``/_sandbox/*`` is the control plane (see docs/sandboxes.md).

Layout (a new platform's sandbox is a copy of this folder):

* ``options`` - :class:`ShopifySandboxOptions`;
* ``versions`` - API version resolution;
* ``state`` - shop data and business rules;
* ``scenarios`` - deterministic catalog, buyers, orders, live stream;
* ``envelope`` - wire shapes: errors, resource JSON, pagination cursors;
* ``signing`` - webhook and OAuth HMACs;
* ``routes`` - the Admin REST pipeline and handlers;
* ``push`` - webhook publisher;
* ``control`` - ``/_sandbox`` API;
* ``app`` - :func:`create_app` and :func:`run`.
"""

from shopbridge.sandbox.shopify.app import ShopifySandbox, create_app, run
from shopbridge.sandbox.shopify.options import DEFAULT_SCOPES, ShopifySandboxOptions

__all__ = ["DEFAULT_SCOPES", "ShopifySandbox", "ShopifySandboxOptions", "create_app", "run"]
