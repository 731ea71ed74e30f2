"""The roles of every endpoint, written from ../shared/spec/CONTRACT.md (not from the code), for
tests/test_role_matrix.py: (method, canonical path) → allowed roles | PUBLIC | OPTIONAL | SIGNED."""
from __future__ import annotations

CLIENT, DOCTOR, ADMIN = "client", "doctor", "admin"
ROLES = (CLIENT, DOCTOR, ADMIN)
C = frozenset({CLIENT})
D = frozenset({DOCTOR})
A = frozenset({ADMIN})
CD = frozenset({CLIENT, DOCTOR})          # "participant", "either", "both"
ANY = frozenset(ROLES)                    # "any role" (any valid token)
PUBLIC = "public"                         # no token needed; a token is ignored
OPTIONAL = "optional"                     # "auth optional": anonymous or any role; a bad token is 401
SIGNED = "signed"                         # a signature in the URL/headers, not a bearer token

P = "/api/v2"
S = P + "/connect/sessions/{session_id}"

# (method, canonical path) → allowed roles | PUBLIC | OPTIONAL | SIGNED. From CONTRACT.md.
EXPECTED: dict[tuple[str, str], frozenset[str] | str] = {
    # Operations (outside /api/v2). The contract names METRICS_TOKEN without defining it; /metrics
    # takes no bearer token either way.
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    # The API's documentation (Operations: "GET /api/v2/openapi.json and a docs page at /api/v2/docs";
    # the asyncapi.json), the realtime page and the docs page's files; `/` says where they are.
    ("GET", "/"): PUBLIC,
    ("GET", P + "/openapi.json"): PUBLIC,
    ("GET", P + "/asyncapi.json"): PUBLIC,
    ("GET", P + "/docs"): PUBLIC,
    ("GET", P + "/docs/realtime"): PUBLIC,
    ("GET", P + "/docs/assets/{file}"): PUBLIC,

    # Auth
    ("POST", P + "/auth/request-otp"): PUBLIC,
    ("POST", P + "/auth/verify-otp"): PUBLIC,
    ("POST", P + "/auth/doctor/login"): PUBLIC,
    ("POST", P + "/auth/refresh"): PUBLIC,
    ("POST", P + "/auth/logout"): ANY,
    ("POST", P + "/admin/auth/login"): PUBLIC,
    ("GET", P + "/admin/auth/me"): A,

    # Users (client)
    ("GET", P + "/users/me"): C,
    ("PATCH", P + "/users/me"): C,
    ("POST", P + "/users/me/avatar"): C,
    ("DELETE", P + "/users/me/avatar"): C,

    # Doctors: discovery ("auth optional; a client token fills is_favourite"). The contract writes
    # /doctors/; the app serves it with and without the slash, both listed.
    ("GET", P + "/doctors/search"): OPTIONAL,
    ("GET", P + "/doctors"): OPTIONAL,
    ("GET", P + "/doctors/"): OPTIONAL,
    ("GET", P + "/doctors/all_doctors_list"): OPTIONAL,
    ("GET", P + "/doctors/slug/{slug}"): OPTIONAL,
    ("GET", P + "/doctors/{doctor_id}"): OPTIONAL,
    ("GET", P + "/doctors/{doctor_id}/reviews"): OPTIONAL,
    ("POST", P + "/doctors"): A,
    ("POST", P + "/doctors/"): A,
    ("PATCH", P + "/doctors/{doctor_id}"): A,

    # Doctors: dashboard, presence, settings (doctor); favourites (client)
    ("GET", P + "/doctors/me/overview"): D,
    ("GET", P + "/doctors/me/sessions"): D,
    ("GET", P + "/doctors/me/sessions/recent"): D,
    ("PUT", P + "/doctors/me/online"): D,
    ("PUT", P + "/doctors/me/presence"): D,
    ("PATCH", P + "/doctors/me/availability"): D,
    ("GET", P + "/doctors/me/profile"): D,
    ("PATCH", P + "/doctors/me/profile"): D,
    ("POST", P + "/doctors/me/avatar"): D,
    ("DELETE", P + "/doctors/me/avatar"): D,
    ("GET", P + "/doctors/favourites"): C,
    ("POST", P + "/doctors/{doctor_id}/favourite"): C,

    # Avatar images: not in the contract; the target of the `avatar_url` that UserOut/DoctorOut hand
    # out, shown to the other party and in public listings (a redirect to a signed blob URL).
    ("GET", P + "/avatars/{kind}/{owner_id}/{file}"): PUBLIC,

    # Connect Now: sessions
    ("POST", P + "/connect/sessions"): C,
    ("GET", P + "/connect/sessions/requests"): D,
    ("GET", P + "/connect/sessions/requests/stream"): D,
    ("GET", S): CD,
    ("POST", S + "/accept"): D,
    ("POST", S + "/reject"): D,
    ("POST", S + "/end"): CD,
    ("GET", S + "/token"): CD,

    # Messages and the session websocket (participants)
    ("POST", S + "/messages"): CD,
    ("GET", S + "/messages"): CD,
    ("POST", S + "/messages/delivered"): CD,
    ("POST", S + "/messages/read"): CD,
    ("GET", S + "/ws"): CD,

    # Video permission and call sessions
    ("GET", S + "/video-permission"): CD,
    ("POST", S + "/video-permission/allow"): D,
    ("POST", S + "/video-permission/accept"): C,
    ("POST", S + "/video-permission/decline"): C,
    ("POST", S + "/video-permission/toggle"): C,
    ("POST", S + "/video-permission/revoke"): CD,
    ("POST", P + "/connect/call-sessions"): CD,
    ("GET", P + "/connect/call-sessions/{call_id}"): CD,

    # Files. Session attachments: participants. Reports: the patient uploads (init, complete), both
    # read; DELETE is "uploader only (doctor → 403)", which the contract's conventions present as an
    # ownership rule on an existing report (the one 403 instead of 404), not a role rule: both roles
    # pass the role check, and the ownership test covers the doctor's 403. General attachments:
    # "owner or session participant" (profiles and sessions belong to patients and doctors).
    ("POST", S + "/attachments"): CD,
    ("POST", S + "/attachments/{attachment_id}/complete"): CD,
    ("GET", S + "/attachments"): CD,
    ("POST", S + "/reports/init"): C,
    ("POST", S + "/reports/{report_id}/complete"): C,
    ("GET", S + "/reports"): CD,
    ("GET", S + "/reports/{report_id}"): CD,
    ("DELETE", S + "/reports/{report_id}"): CD,
    ("POST", P + "/attachments/init"): CD,
    ("POST", P + "/attachments/{attachment_id}/upload"): CD,
    ("POST", P + "/attachments/{attachment_id}/complete"): CD,
    ("POST", P + "/attachments"): CD,
    ("GET", P + "/attachments"): CD,
    ("DELETE", P + "/attachments/{attachment_id}"): CD,
    ("POST", S + "/recordings"): CD,
    ("POST", S + "/recordings/{recording_id}/stop"): CD,
    ("GET", S + "/recordings"): CD,
    ("POST", P + "/webhooks/livekit"): SIGNED,
    # Local blob store (BLOB_BACKEND=local): stands in for Azure SAS URLs; HMAC-signed, expiring URLs,
    # wrong signature/expiry/method → 403. No bearer token opens them.
    ("PUT", "/blobs/{container}/{name}"): SIGNED,
    ("GET", "/blobs/{container}/{name}"): SIGNED,

    # Post-session: prescriptions and lab tests (doctor writes, participants read)
    ("POST", S + "/prescription"): D,
    ("GET", S + "/prescription"): CD,
    ("PUT", S + "/prescription"): D,
    ("GET", S + "/prescription/pdf"): CD,
    ("POST", S + "/lab-tests"): D,
    ("GET", S + "/lab-tests"): CD,
    ("PUT", S + "/lab-tests"): D,

    # Devices and push
    ("POST", P + "/devices/tokens"): ANY,
    ("DELETE", P + "/devices/tokens"): ANY,

    # Catalogs (public)
    ("GET", P + "/medicines/search"): PUBLIC,
    ("GET", P + "/medicines/{medicine_id}"): PUBLIC,
    ("GET", P + "/lab-tests/catalog/search"): PUBLIC,
    ("GET", P + "/lab-tests/catalog/{test_id}"): PUBLIC,

    # Categories, wallet
    ("GET", P + "/categories/health"): C,
    ("GET", P + "/wallet"): C,
    ("GET", P + "/wallet/transactions"): C,
    ("GET", P + "/wallet/offers"): PUBLIC,

    # Payments (Cashfree): the webhook is authenticated by Cashfree's signature only. The local
    # checkout (not in the contract; local payment mode only, 404 otherwise) stands in for Cashfree's
    # hosted checkout: its URL carries an HMAC signature of the order id, no bearer token opens it.
    ("POST", P + "/payments/cashfree/orders"): C,
    ("GET", P + "/payments/cashfree/orders/{order_id}/verify"): C,
    ("POST", P + "/payments/cashfree/webhook"): SIGNED,
    ("GET", P + "/payments/local/checkout/{order_id}"): SIGNED,
    ("POST", P + "/payments/local/checkout/{order_id}"): SIGNED,
    ("GET", P + "/analytics/user/orders"): C,
    ("GET", P + "/analytics/user/recharges"): C,

    # Admin
    ("POST", P + "/admin/users/{user_id}/wallet/adjustments"): A,
    ("POST", P + "/admin/categories"): A,
    ("GET", P + "/admin/categories"): A,
    ("GET", P + "/admin/categories/{category_id}"): A,
    ("PATCH", P + "/admin/categories/{category_id}"): A,
    ("DELETE", P + "/admin/categories/{category_id}"): A,
    ("GET", P + "/admin/users"): A,
    ("GET", P + "/admin/users/{user_id}"): A,
    ("PATCH", P + "/admin/users/{user_id}"): A,
    ("PATCH", P + "/admin/users/{user_id}/status"): A,
    ("GET", P + "/admin/audit-log"): A,
    **{(method, P + f"/admin/{kind}s{suffix}"): A
       for kind in ("article", "event")
       for method, suffix in (("POST", ""), ("GET", ""), ("GET", f"/{{{kind}_id}}"), ("PATCH", f"/{{{kind}_id}}"),
                              ("DELETE", f"/{{{kind}_id}}"))},

    # Community (public)
    ("GET", P + "/community/articles"): PUBLIC,
    ("GET", P + "/community/articles/{article_id}"): PUBLIC,
    ("GET", P + "/community/events"): PUBLIC,
    ("GET", P + "/community/events/{event_id}"): PUBLIC,
    ("POST", P + "/admin/wallet-offers"): A,
    ("GET", P + "/admin/wallet-offers"): A,
    ("GET", P + "/admin/wallet-offers/{offer_id}"): A,
    ("PATCH", P + "/admin/wallet-offers/{offer_id}"): A,
    ("DELETE", P + "/admin/wallet-offers/{offer_id}"): A,

    # After the consultation: reviews (patient), the doctor's review dashboard, follow-ups (the
    # reference writes /followups/ as well: both served), analytics (reads), the admin's view of a
    # patient's analytics.
    ("POST", S + "/review"): C,
    ("POST", P + "/reviews"): C,
    ("GET", P + "/doctors/me/reviews"): D,
    ("POST", P + "/doctors/me/reviews/{review_id}/reply"): D,
    ("PUT", P + "/doctors/me/reviews/{review_id}/reply"): D,
    ("DELETE", P + "/doctors/me/reviews/{review_id}/reply"): D,
    ("POST", P + "/doctors/me/sessions/{session_id}/review-reminder"): D,
    ("POST", S + "/followup"): D,
    ("GET", S + "/followup"): CD,
    ("POST", P + "/followups"): D,
    ("POST", P + "/followups/"): D,
    ("GET", P + "/followups"): CD,
    ("GET", P + "/followups/"): CD,
    ("GET", P + "/followups/{followup_id}"): CD,
    ("POST", P + "/followups/{followup_id}/respond"): C,
    ("POST", P + "/followups/{followup_id}/reschedule-response"): D,
    ("POST", P + "/followups/{followup_id}/cancel"): CD,
    ("GET", P + "/analytics/user/overview"): C,
    ("GET", P + "/analytics/user/sessions"): C,
    ("GET", P + "/analytics/doctor/performance"): D,
    ("GET", P + "/analytics/doctor/reviews/metrics"): D,
    ("GET", P + "/analytics/doctor/reviews/trends"): D,
    ("GET", P + "/analytics/doctor/reviews/rating-distribution"): D,
    ("GET", P + "/admin/users/{user_id}/analytics/overview"): A,
    ("GET", P + "/admin/users/{user_id}/analytics/sessions"): A,
}

# Contract endpoints the app does not serve yet, with their contract roles ({} = any parameter
# name). Not a failure here; when one appears in the app, the "missing from EXPECTED" failure quotes
# this entry so moving it into EXPECTED is a copy.
NOT_YET_SERVED: dict[tuple[str, str], frozenset[str] | str] = {}

# Routes whose role depends on the query: "favourites flags need a client token (401 without)".
QUERY_CASES: list[tuple[str, str, str, frozenset[str]]] = [
    ("GET", P + path, query, C)
    for path in ("/doctors", "/doctors/")
    for query in ("favourites_only=true", "favourites_first=true")
]

WEBSOCKETS = {("GET", S + "/ws")}
