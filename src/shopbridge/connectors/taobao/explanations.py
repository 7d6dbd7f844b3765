"""What TOP's error codes mean to an operator, and what to do about each (the sync log's
explanations; see `shopbridge.connectors.explain`).

Codes are the ones `transport.classify_error` records: `code` or `code/sub_code` (`27`,
`7/accesscontrol.limited-by-api-access-count`, `15/isv.trade-not-exist`), and `http_<status>`
for answers that never reached TOP's envelope. Sources: the TOP platform error table
(developer.alibaba.com articleId=102707 and its copies) as summarised in
docs/connectors/taobao.md; sub-code families `isp.*` (platform side, retry) and `isv.*`
(caller side, fix the call) are TOP's own classification.
"""

from __future__ import annotations

from typing import Final

from shopbridge.connectors.explain import CodeExplanation, ExplanationTable

_RETRIED: Final = "Nothing to do: ShopBridge retries automatically with backoff."
_LIMITED: Final = (
    "Nothing to do: ShopBridge slowed down, waits out the ban and retries. If it happens "
    "every day, ask for a higher call quota in the Taobao Open Platform console or lower the "
    "shop's qps setting."
)
_REAUTHORISE: Final = (
    "Re-authorise the shop (the seller signs in to the app again to issue a new session "
    "key), then store it with PATCH /v1/shops/{id}; sync resumes by itself."
)
_GRANT: Final = (
    "Grant the app the API package this call belongs to in the Taobao Open Platform console "
    "(应用管理 → API 权限), or ask the seller to re-authorise with that permission; then retry."
)
_ARGUMENTS: Final = (
    "Report it with the interface and the time: the call's parameters were refused, which "
    "usually means TOP changed the API and the connector needs an update."
)

EXPLANATIONS: Final = ExplanationTable.of(
    [
        # call limits (rate limited: waited out) ----------------------------------------
        CodeExplanation(
            "7",
            "The app's call limit for this API was reached (TOP code 7, App Call Limited); "
            "ShopBridge slowed down.",
            _LIMITED,
        ),
        CodeExplanation(
            "8",
            "The app called TOP too often (TOP code 8, App Call Exceeds Limited Frequency); "
            "ShopBridge slowed down.",
            _LIMITED,
        ),
        CodeExplanation(
            "4",
            "The seller's call limit was reached (TOP code 4, User Call Limited); ShopBridge "
            "slowed down.",
            _LIMITED,
        ),
        CodeExplanation(
            "5",
            "The session's call limit was reached (TOP code 5, Session Call Limited); "
            "ShopBridge slowed down.",
            _LIMITED,
        ),
        CodeExplanation(
            "6",
            "The partner's call limit was reached (TOP code 6, Partner Call Limited); "
            "ShopBridge slowed down.",
            _LIMITED,
        ),
        CodeExplanation(
            "accesscontrol.*",
            "TOP's access control banned calls for a few seconds (call limit); ShopBridge "
            "slowed down.",
            _LIMITED,
        ),
        # authorisation ------------------------------------------------------------------
        CodeExplanation(
            "27",
            "The shop's session key is invalid or expired (TOP code 27, Invalid Session); "
            "sync of this shop is paused.",
            _REAUTHORISE,
        ),
        CodeExplanation(
            "26",
            "No session key was sent (TOP code 26, Missing Session): the shop has none stored.",
            _REAUTHORISE,
        ),
        CodeExplanation(
            "25",
            "TOP refused the request's signature (TOP code 25, Invalid Signature): the app "
            "secret does not match the app key.",
            "Check the shop's app_secret credential (the secret of the app in the Taobao "
            "Open Platform console) and its sign_method setting (PATCH /v1/shops/{id}).",
        ),
        CodeExplanation(
            "28",
            "No app key was sent (TOP code 28, Missing App Key).",
            "Store the app's app_key in the shop's credentials (PATCH /v1/shops/{id}).",
        ),
        CodeExplanation(
            "29",
            "TOP does not know the app key (TOP code 29, Invalid App Key).",
            "Check the shop's app_key credential against the Taobao Open Platform console.",
        ),
        CodeExplanation(
            "31",
            "TOP refused the request's timestamp (TOP code 31): this server's clock is more "
            "than 10 minutes off.",
            "Fix this server's clock (enable NTP); calls succeed as soon as it is right.",
        ),
        # permissions ------------------------------------------------------------------
        CodeExplanation(
            "isv.permission-api-package-limit",
            "The app has not been granted the API package of this call (TOP code 11, "
            "isv.permission-api-package-limit).",
            _GRANT,
        ),
        CodeExplanation(
            "11",
            "The app lacks the permission for this API (TOP code 11, Insufficient ISV "
            "Permissions): its API package is not granted.",
            _GRANT,
        ),
        CodeExplanation(
            "12",
            "The seller has not authorised the app for this operation (TOP code 12, "
            "Insufficient User Permissions).",
            "Ask the seller to re-authorise the app with this permission, then store the new "
            "session key (PATCH /v1/shops/{id}).",
        ),
        CodeExplanation(
            "13",
            "The partner lacks the permission for this API (TOP code 13, Insufficient "
            "Partner Permissions).",
            _GRANT,
        ),
        CodeExplanation(
            "42",
            "TOP forbade the request (TOP code 42, Forbidden Request).",
            _GRANT,
        ),
        CodeExplanation(
            "53",
            "The app's security level is too low for this API (TOP code 53, Insufficient "
            "Security Level).",
            "Complete the app's security review in the Taobao Open Platform console; then retry.",
        ),
        # platform side (retried) -----------------------------------------------------
        CodeExplanation(
            "isp.*",
            "Taobao's backend failed to serve the call (isp.* sub-code: a platform-side "
            "error, not ours).",
            _RETRIED,
        ),
        CodeExplanation(
            "10",
            "TOP is unavailable (TOP code 10, Service Currently Unavailable).",
            _RETRIED,
        ),
        CodeExplanation(
            "15",
            "Taobao's backend failed to serve the call (TOP code 15, Remote Service Error).",
            _RETRIED,
            frozenset({"unavailable", "timeout"}),
        ),
        CodeExplanation(
            "http_429",
            "The gateway answered HTTP 429 (too many requests); ShopBridge slowed down.",
            _LIMITED,
        ),
        CodeExplanation(
            "http_5*",
            "The gateway answered with an HTTP server error: TOP is slow or down.",
            _RETRIED + " If it lasts, check the Taobao Open Platform status notices.",
            keep_code=True,
        ),
        CodeExplanation(
            "http_*",
            "The gateway answered with an unexpected HTTP status: the shop's base_url does "
            "not point to a TOP gateway.",
            "Check the shop's base_url setting (leave it empty for the production gateway).",
            frozenset({"rejected"}),
            keep_code=True,
        ),
        # caller side -----------------------------------------------------------------
        CodeExplanation("40", "A required argument was missing (TOP code 40).", _ARGUMENTS),
        CodeExplanation("41", "An argument was invalid (TOP code 41).", _ARGUMENTS),
        CodeExplanation("43", "A parameter was refused (TOP code 43).", _ARGUMENTS),
        CodeExplanation(
            "isv.*",
            "Taobao refused the call for a business reason (isv.* sub-code: a caller-side "
            "error, such as an order in the wrong state or an unknown item).",
            "Read the platform's message: fix the data in question (order state, item, "
            "carrier, tracking number) and retry. Retrying unchanged does not help.",
            frozenset({"rejected"}),
        ),
    ]
)
"""TOP codes an operator meets, most specific first within each family."""
