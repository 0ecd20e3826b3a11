"""Authorisation over real loopback HTTP: roles per key, own holds and charges, proof of payer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from backend import BackendServer, BackendSettings
from backend.errors import BackendError
from backend.guard import is_public
from backend.keyring import new_keyring
from backend.proofs import PROOF_TTL_S
from backend.roles import PERSON_ROUTES, ROUTE_ROLES, dev_role
from hardware.emulated.clock import ManualClock

START = 1_795_689_000.0
CLOCK = ManualClock(START)


@pytest.fixture(scope="module")
def server(backend_store: str) -> Iterator[BackendServer]:
    with BackendServer(BackendSettings(clock=CLOCK)) as srv:
        yield srv


class Terminal:
    """One terminal's key on the server."""

    def __init__(self, server: BackendServer, terminal_id: str) -> None:
        self.url = server.url
        self.auth = {"Authorization": f"Bearer {server.api_key_for(terminal_id)}"}

    def post(self, path: str, body: Any = None) -> requests.Response:
        return requests.post(f"{self.url}{path}", json=body or {}, timeout=5,
                             headers={**self.auth, "Idempotency-Key": uuid.uuid4().hex})

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.url}{path}", headers=self.auth, timeout=5)

    def prove(self, subject: str) -> None:
        code = self.post("/v1/dev/payment-codes", {"subject_id": subject}).json()["code"]
        assert self.post("/v1/payment-codes/resolve", {"code": code}).status_code == 200

    def hold(self, subject: str, amount: int = 1000) -> requests.Response:
        return self.post("/v1/holds", {"subject_id": subject, "reference": "ride-1",
                                       "amount": {"amount_minor": amount, "currency": "CNY"}})

    def charge(self, subject: str, amount: int = 100,
               reference: str = "ord-1") -> requests.Response:
        return self.post("/v1/charges", {
            "subject_id": subject, "reference": reference, "description": "test",
            "amount": {"amount_minor": amount, "currency": "CNY"}})

    def new_subject(self) -> str:
        subject = f"sub_{uuid.uuid4().hex[:10]}"
        assert self.post("/v1/dev/subjects", {"subject_id": subject,
                                              "balance_minor": 10_000}).status_code == 201
        return subject


def _code(resp: requests.Response) -> str:
    return str(resp.json()["error"]["code"])


def test_every_route_of_the_app_is_in_the_role_table(server: BackendServer) -> None:
    paths = requests.get(f"{server.url}/openapi.json", timeout=5).json()["paths"]
    routes = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    assert len(routes) >= 19
    public = {("GET", "/v1/health"), ("GET", "/gbfs/vehicle_status.json")}
    assert all(is_public(p) for _, p in public)
    assert all(not is_public(p) for _, p in routes - public)
    # A person's routes take the person's report token, never an API key.
    assert routes - public - PERSON_ROUTES == set(ROUTE_ROLES)
    assert routes >= PERSON_ROUTES


def test_roles_follow_the_terminal_id_in_dev_mode() -> None:
    assert [dev_role(t) for t in ("emu-kiosk-0001", "bike-7", "ops-operator", "scorer-1")] == \
        ["kiosk", "bike_lock", "operator", "scorer"]


def test_a_bike_lock_cannot_enroll_faces_and_a_kiosk_cannot_place_holds(server) -> None:
    bike, kiosk = Terminal(server, "bike-a"), Terminal(server, "kiosk-a")
    enroll = bike.post("/v1/face/enrollments", {"payment_code": "x", "phone": "13800138000",
                                                "embeddings": [], "consent": {}})
    assert enroll.status_code == 403 and _code(enroll) == "forbidden"
    kiosk.prove("rider-good")
    held = kiosk.hold("rider-good")
    assert held.status_code == 403 and _code(held) == "forbidden"
    assert kiosk.post("/v1/orders", {"amount": {"amount_minor": 100, "currency": "CNY"},
                                     "reference": "A1"}).status_code == 201
    assert bike.get("/v1/orders/A1").status_code == 403


def test_a_scorer_reads_scores_but_moves_no_money(server) -> None:
    scorer = Terminal(server, "scorer-1")
    assert scorer.get("/v1/subjects/rider-good/score").status_code == 200
    assert scorer.charge("rider-good").status_code == 403
    assert scorer.post("/v1/payment-codes/resolve", {"code": "x"}).status_code == 403


def test_holding_or_charging_needs_the_payer_proved_at_this_terminal(server) -> None:
    a, b = Terminal(server, "bike-a"), Terminal(server, "bike-b")
    subject = a.new_subject()
    refused = a.hold(subject)
    assert refused.status_code == 403 and _code(refused) == "payer_not_proved"
    assert _code(a.charge(subject)) == "payer_not_proved"
    b.prove(subject)  # another terminal's scan proves nothing here
    assert _code(a.hold(subject)) == "payer_not_proved"
    a.prove(subject)
    assert a.hold(subject).status_code == 201
    assert a.charge(subject).status_code == 201


def test_an_unknown_subject_without_proof_looks_like_any_unproved_one(server) -> None:
    a = Terminal(server, "bike-a")
    assert _code(a.hold("nobody-at-all")) == _code(a.hold(a.new_subject())) == "payer_not_proved"


def test_a_kiosk_proof_pays_for_one_charge_and_a_declined_one_keeps_it(server) -> None:
    kiosk = Terminal(server, "kiosk-once")
    subject = kiosk.new_subject()
    kiosk.prove(subject)
    assert kiosk.charge(subject, amount=10**6).status_code == 402  # declined: proof kept
    assert kiosk.charge(subject).status_code == 201
    assert _code(kiosk.charge(subject)) == "payer_not_proved"


def test_a_proof_expires_with_the_roles_window(server) -> None:
    kiosk = Terminal(server, "kiosk-exp")
    subject = kiosk.new_subject()
    kiosk.prove(subject)
    CLOCK.advance(PROOF_TTL_S["kiosk"] + 1)
    assert _code(kiosk.charge(subject)) == "payer_not_proved"


def test_a_ride_fare_is_charged_against_the_rides_hold_without_a_new_scan(server) -> None:
    bike = Terminal(server, "bike-fare")
    subject = bike.new_subject()
    bike.prove(subject)
    assert bike.hold(subject).status_code == 201
    CLOCK.advance(PROOF_TTL_S["bike_lock"] + 1)  # a very long ride
    assert bike.charge(subject, reference="ride-1").status_code == 201
    assert _code(bike.charge(subject, reference="other")) == "payer_not_proved"


def test_another_terminals_hold_and_charge_are_404(server) -> None:
    a, b = Terminal(server, "bike-a"), Terminal(server, "bike-b")
    subject = a.new_subject()
    a.prove(subject)
    hold_id = a.hold(subject).json()["hold_id"]
    charge_id = a.charge(subject).json()["charge_id"]
    for resp, code in ((b.post(f"/v1/holds/{hold_id}/release"), "unknown_hold"),
                       (b.post(f"/v1/holds/{hold_id}/capture",
                               {"amount": {"amount_minor": 1, "currency": "CNY"}}),
                        "unknown_hold"),
                       (b.post("/v1/refunds", {"charge_id": charge_id,
                                               "amount": {"amount_minor": 1, "currency": "CNY"}}),
                        "unknown_charge")):
        assert resp.status_code == 404 and _code(resp) == code
    operator = Terminal(server, "operator-1")  # staff act on any terminal's records
    assert operator.post(f"/v1/holds/{hold_id}/release").status_code == 200
    assert operator.post("/v1/refunds", {"charge_id": charge_id, "amount": {
        "amount_minor": 1, "currency": "CNY"}}).status_code == 201


def test_a_matched_face_proves_the_payer_for_a_kiosk_charge(server) -> None:
    import numpy as np

    from tests.wallet import wallet_code

    kiosk = Terminal(server, "kiosk-face")
    face = np.random.default_rng(3).normal(size=128)
    face /= np.linalg.norm(face)
    enroll = kiosk.post("/v1/face/enrollments", {
        "payment_code": wallet_code(server.backend, "rider-low"), "phone": "13811112222",
        "embeddings": [(face + 0.01 * i).tolist() for i in range(3)],
        "consent": {"given_by": "Lo", "given_at": "2026-11-26T10:00:00Z",
                    "purpose": "smile_to_pay", "retention_days": 30}})
    assert enroll.status_code == 201, enroll.text
    assert _code(kiosk.charge("rider-low")) == "payer_not_proved"  # enrolling is no payment
    match = kiosk.post("/v1/face/verifications", {"phone_digits": "13811112222",
                                                  "probe": face.tolist()})
    assert match.json()["match"] is True
    assert kiosk.charge("rider-low").status_code == 201


def test_dev_routes_and_dev_keys_exist_only_in_dev_mode() -> None:
    keyring, key = new_keyring(START).with_api_key("kiosk-9", "kiosk", START)
    settings = BackendSettings(dev=False, keyring=keyring, seed_demo=False, clock=CLOCK)
    with BackendServer(settings) as srv:
        auth = {"Authorization": f"Bearer {key}"}
        assert requests.get(f"{srv.url}/v1/dev/subjects", headers=auth,
                            timeout=5).status_code == 404
        assert requests.get(f"{srv.url}/v1/payment-codes/keys", headers=auth,
                            timeout=5).status_code == 200
        dev_key = "sk_" + "0" * 40
        assert requests.get(f"{srv.url}/v1/payment-codes/keys", timeout=5, headers={
            "Authorization": f"Bearer {dev_key}"}).status_code == 401
        with pytest.raises(BackendError, match="keyring"):
            srv.api_key_for("emu-kiosk-0001")


def test_the_development_key_of_a_terminal_is_refused_outside_dev_mode() -> None:
    with BackendServer(BackendSettings(clock=CLOCK)) as dev_srv:
        dev_key = dev_srv.api_key_for("emu-kiosk-0001")
    settings = BackendSettings(dev=False, keyring=new_keyring(START), clock=CLOCK)
    with BackendServer(settings) as srv:
        resp = requests.get(f"{srv.url}/v1/payment-codes/keys", timeout=5,
                            headers={"Authorization": f"Bearer {dev_key}"})
        assert resp.status_code == 401


def test_a_dev_mode_back_end_binds_loopback_only() -> None:
    with pytest.raises(BackendError, match="loopback"):
        BackendServer(BackendSettings(), host="0.0.0.0").start()
