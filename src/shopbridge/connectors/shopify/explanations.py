"""What Shopify Admin REST answers mean to an operator, and what to do about each (the sync
log's explanations; see `shopbridge.connectors.explain`).

Codes are the HTTP statuses `transport.classify_response` records (`401`, `429`, `503`...);
statuses and their meaning from shopify.dev `docs/api/usage/response-codes`, as summarised in
docs/connectors/shopify.md. Connector codes shared with other platforms (`timeout`,
`bad_json`, push `bad_signature`...) are explained by the framework's generic table.
"""

from __future__ import annotations

from typing import Final

from shopbridge.connectors.explain import CodeExplanation, ExplanationTable

_RETRIED: Final = "Nothing to do: ShopBridge retries automatically with backoff."

EXPLANATIONS: Final = ExplanationTable.of(
    [
        CodeExplanation(
            "401",
            "Shopify refused the access token (HTTP 401): the app was uninstalled, the "
            "token was revoked, or the stored token is wrong. Sync of this shop is paused.",
            "Re-authorise the shop: have the merchant (re)install or approve the app, then "
            "store the new access_token with PATCH /v1/shops/{id}; sync resumes by itself.",
        ),
        CodeExplanation(
            "402",
            "The shop is frozen (HTTP 402, Payment Required): the merchant has an unpaid "
            "Shopify bill.",
            "The merchant must settle the Shopify bill; calls succeed again afterwards. "
            "Nothing to change in ShopBridge.",
        ),
        CodeExplanation(
            "403",
            "Shopify forbade the call (HTTP 403): the app lacks the access scope for it, or "
            "protected customer data access is not approved.",
            "Grant the app the missing scope (e.g. read_orders, write_fulfillments, "
            "write_inventory) or request protected customer data access in the Partner "
            "Dashboard, then re-authorise the shop.",
        ),
        CodeExplanation(
            "404",
            "Shopify does not know the resource (HTTP 404): it was deleted, belongs to "
            "another shop, or the API version is no longer served.",
            "Check the id; if every call fails this way, check the shop's api_version and "
            "platform_shop_id settings.",
        ),
        CodeExplanation(
            "422",
            "Shopify refused the data (HTTP 422, validation failed).",
            "Read the platform's message (it names the field), fix the data and retry.",
        ),
        CodeExplanation(
            "423",
            "The shop is locked by Shopify (HTTP 423): calls are refused until Shopify unlocks it.",
            "The merchant must contact Shopify support; nothing ShopBridge can do until the "
            "shop is unlocked.",
        ),
        CodeExplanation(
            "429",
            "Shopify's call limit was exceeded (HTTP 429, leaky bucket full); ShopBridge "
            "slowed down, waited Retry-After and retried.",
            "Nothing to do. If it happens constantly, another app shares the shop's API "
            "budget, or the shop's sync interval can be longer.",
        ),
        CodeExplanation(
            "501",
            "The call is not available on this shop (HTTP 501, e.g. a feature of a higher plan).",
            "Check the shop's Shopify plan and features; retrying does not help.",
        ),
        CodeExplanation(
            "5*",
            "Shopify had a server error (HTTP 5xx): the platform is slow or down.",
            _RETRIED + " If it lasts, check shopifystatus.com.",
            keep_code=True,
        ),
        CodeExplanation(
            "no_location",
            "The shop has no active location to hold stock.",
            "Create or activate a location in the Shopify admin, then push stock again.",
        ),
    ]
)
"""Shopify statuses an operator meets."""
