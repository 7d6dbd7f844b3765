"""Shopify connector (Admin REST API): orders, webhooks, fulfillments, inventory levels.

Registered in the `shopbridge.connectors` entry-point group as `shopify`. See
`docs/connectors/shopify.md` for the API version spoken, credentials, settings and the status
and carrier tables.
"""

from shopbridge.connectors.shopify.connector import ShopifyConnector

__all__ = ["ShopifyConnector"]
