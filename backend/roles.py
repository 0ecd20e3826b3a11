"""Which role may call which route: the one table the back end checks every call against.

Every API key belongs to one terminal and one role. A route missing from :data:`ROUTE_ROLES`
is refused to everyone (fail closed); ``tests/test_backend_authz.py`` checks that every route
of the app is listed.
"""

from __future__ import annotations

from typing import Literal

Role = Literal["bike_lock", "kiosk", "operator", "scorer"]
ROLES: tuple[Role, ...] = ("bike_lock", "kiosk", "operator", "scorer")

_ALL: frozenset[Role] = frozenset(ROLES)
_TERMINALS: frozenset[Role] = frozenset({"bike_lock", "kiosk"})

# (method, route path) -> roles allowed to call it. Public routes (health, /docs) are not here.
ROUTE_ROLES: dict[tuple[str, str], frozenset[Role]] = {
    ("GET", "/v1/subjects/{subject_id}/score"): _ALL,
    ("POST", "/v1/events:batch"): frozenset({"bike_lock", "kiosk", "scorer"}),
    ("GET", "/v1/chain-gaps"): frozenset({"operator"}),
    ("POST", "/v1/payment-codes/resolve"): _TERMINALS,
    ("GET", "/v1/payment-codes/keys"): frozenset({"bike_lock", "kiosk", "operator"}),
    ("POST", "/v1/holds"): frozenset({"bike_lock"}),
    ("POST", "/v1/holds/{hold_id}/capture"): frozenset({"bike_lock"}),
    ("POST", "/v1/holds/{hold_id}/release"): frozenset({"bike_lock", "operator"}),
    ("POST", "/v1/charges"): _TERMINALS,
    ("POST", "/v1/refunds"): frozenset({"bike_lock", "kiosk", "operator"}),
    ("POST", "/v1/orders"): frozenset({"kiosk"}),
    ("GET", "/v1/orders/{reference}"): frozenset({"kiosk"}),
    ("POST", "/v1/orders/{reference}/cancel"): frozenset({"kiosk"}),
    ("POST", "/v1/face/enrollments"): frozenset({"kiosk"}),
    ("POST", "/v1/face/verifications"): frozenset({"kiosk"}),
    ("POST", "/v1/face/candidates"): frozenset({"kiosk"}),
    ("POST", "/v1/face/enrollments:delete"): frozenset({"kiosk", "operator"}),
    # Emulator-only routes exist only in dev mode; any role may play the wallet app there.
    ("GET", "/v1/dev/subjects"): _ALL,
    ("POST", "/v1/dev/subjects"): _ALL,
    ("POST", "/v1/dev/payment-codes"): _ALL,
    ("POST", "/v1/dev/orders/{reference}/pay"): _ALL,
    # The person's side: a terminal links its decision screen to the person's report; operators
    # review disputes.
    ("POST", "/v1/person/report-links"): _TERMINALS,
    ("GET", "/v1/disputes"): frozenset({"operator"}),
    ("GET", "/v1/disputes/{dispute_id}"): frozenset({"operator"}),
    ("POST", "/v1/disputes/{dispute_id}/decision"): frozenset({"operator"}),
    ("GET", "/v1/disputes/{dispute_id}/audit"): frozenset({"operator"}),
    # The fleet (docs/api.md, "Fleet"): operators see vehicles and send remote commands.
    ("GET", "/v1/fleet/vehicles"): frozenset({"operator"}),
    ("GET", "/v1/fleet/vehicles/{device_id}"): frozenset({"operator"}),
    ("POST", "/v1/fleet/vehicles/{device_id}/commands"): frozenset({"operator"}),
    ("POST", "/v1/fleet/vehicles/{device_id}/alarms/{code}/clear"): frozenset({"operator"}),
    ("GET", "/v1/fleet/commands/{command_id}"): frozenset({"operator"}),
    ("GET", "/v1/fleet/dead-letters"): frozenset({"operator"}),
}

# Routes a person calls with their own report token (or, to get one, their payment code),
# never with an API key: the request guard leaves them to the route (backend/routes_person.py).
PERSON_PATHS: frozenset[str] = frozenset({"/v1/person/sessions", "/v1/person/report",
                                          "/v1/person/disputes"})
PERSON_ROUTES: frozenset[tuple[str, str]] = frozenset({
    ("POST", "/v1/person/sessions"), ("GET", "/v1/person/report"),
    ("POST", "/v1/person/disputes"), ("GET", "/v1/person/disputes"),
})

# Roles that act on any terminal's holds and charges (staff), not only their own.
ACTS_FOR_ALL: frozenset[Role] = frozenset({"operator"})


def allowed(role: str, method: str, route_path: str) -> bool:
    """Whether ``role`` may call ``method route_path`` (False for unlisted routes)."""
    return role in ROUTE_ROLES.get((method.upper(), route_path), frozenset())


def dev_role(terminal_id: str) -> Role:
    """The role a development key gets from its terminal id ('kiosk', 'operator', 'scorer'
    in the id; a bike lock otherwise)."""
    lowered = terminal_id.lower()
    for role, word in (("kiosk", "kiosk"), ("operator", "operator"), ("scorer", "scorer")):
        if word in lowered:
            return role  # type: ignore[return-value]
    return "bike_lock"


def parse_role(text: str) -> Role:
    """``text`` as a role; ValueError naming the valid ones."""
    cleaned = text.strip().lower().replace("-", "_")
    if cleaned not in ROLES:
        raise ValueError(f"unknown role {text!r}; choose one of {', '.join(ROLES)}")
    return cleaned  # type: ignore[return-value]
