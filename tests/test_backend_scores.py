"""Score service over real loopback HTTP: seeded riders, the scoring rule, event ingestion."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from backend import BackendServer, BackendSettings
from backend.scoring import BASE_SCORE, score_events
from hardware.emulated.clock import ManualClock

START = 1_795_689_000.0
TERMINAL = "bike-0042"


@pytest.fixture(scope="module")
def server(backend_store: str) -> Iterator[BackendServer]:
    with BackendServer(BackendSettings(clock=ManualClock(START))) as srv:
        yield srv


@pytest.fixture(scope="module")
def auth(server: BackendServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.api_key_for(TERMINAL)}"}


def _score(server: BackendServer, auth: dict[str, str], subject: str) -> dict[str, Any]:
    resp = requests.get(f"{server.url}/v1/subjects/{subject}/score", headers=auth, timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def _event(subject: str | None, type_: str = "ride.ended", **attributes: Any) -> dict[str, Any]:
    return {"id": f"evt_{uuid.uuid4().hex}", "schema": 1, "type": type_,
            "time": "2026-11-26T10:30:00Z", "terminal_id": TERMINAL, "subject_id": subject,
            "attributes": attributes}


def _upload(server: BackendServer, auth: dict[str, str], events: list[Any]) -> dict[str, Any]:
    resp = requests.post(f"{server.url}/v1/events:batch", json={"events": events}, headers=auth,
                         timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def _serve(server: BackendServer, auth: dict[str, str], subject: str) -> None:
    """Scan the subject's payment code at this terminal: its events may now name them."""
    code = requests.post(f"{server.url}/v1/dev/payment-codes", headers=auth, timeout=5,
                         json={"subject_id": subject}).json()["code"]
    resp = requests.post(f"{server.url}/v1/payment-codes/resolve", json={"code": code},
                         headers={**auth, "Idempotency-Key": uuid.uuid4().hex}, timeout=5)
    assert resp.status_code == 200, resp.text


def _new_subject(server: BackendServer, auth: dict[str, str]) -> str:
    subject = f"sub_{uuid.uuid4().hex[:12]}"
    resp = requests.post(f"{server.url}/v1/dev/subjects", headers=auth, timeout=5,
                         json={"subject_id": subject, "balance_minor": 10_000})
    assert resp.status_code == 201, resp.text
    _serve(server, auth, subject)
    return subject


@pytest.mark.parametrize(("subject", "score", "restrictions"), [
    ("rider-good", 780, []),
    ("rider-low", 640, []),
    ("rider-blacklisted", 660, ["court_blacklist"]),
    ("rider-broke", 750, []),
])
def test_seeded_riders_have_their_documented_standing(
        server: BackendServer, auth: dict[str, str], subject: str, score: int,
        restrictions: list[str]) -> None:
    body = _score(server, auth, subject)
    assert body["subject_id"] == subject
    assert body["score"] == score
    assert [r["code"] for r in body["restrictions"]] == restrictions
    assert body["as_of"] == "2026-11-26T10:30:00Z"
    assert sum(f["points"] for f in body["factors"]) == score - BASE_SCORE
    assert all(f["description"] for f in body["factors"])


def test_unknown_subject_is_404(server: BackendServer, auth: dict[str, str]) -> None:
    resp = requests.get(f"{server.url}/v1/subjects/nobody/score", headers=auth, timeout=5)
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "unknown_subject"


def test_new_subject_starts_at_the_base_score(server: BackendServer,
                                              auth: dict[str, str]) -> None:
    body = _score(server, auth, _new_subject(server, auth))
    assert body["score"] == BASE_SCORE and body["factors"] == []


def test_score_moves_with_ingested_events(server: BackendServer, auth: dict[str, str]) -> None:
    subject = _new_subject(server, auth)
    result = _upload(server, auth, [_event(subject, on_time=True) for _ in range(3)]
                     + [_event(subject, "parking.reported", misparked=True),
                        _event(subject, "parking.reported", misparked=False),
                        _event(subject, "deposit.captured", reason="damage"),
                        _event(subject, "payment.declined"), _event(subject, on_time=False)])
    assert result == {"accepted": 8, "duplicates": 0, "rejected": []}
    body = _score(server, auth, subject)
    assert body["score"] == BASE_SCORE + 15 - 10 - 40 - 15 - 5
    factors = {f["code"]: f for f in body["factors"]}
    on_time = factors["on_time_returns"]
    assert (on_time["code"], on_time["points"], on_time["description"]) == \
        ("on_time_returns", 15, "Returned 3 bikes on time")
    assert on_time["text"] == "Returned 3 bikes on time: added 15 points"
    assert len(on_time["event_ids"]) == 3
    assert factors["deposits_captured"]["points"] == -40
    assert factors["late_returns"]["points"] == -5


def test_being_unrecognised_never_costs_points(server: BackendServer,
                                               auth: dict[str, str]) -> None:
    subject = _new_subject(server, auth)
    kiosk = {"Authorization": f"Bearer {server.api_key_for('kiosk-0042')}"}
    _serve(server, kiosk, subject)
    at_kiosk = [{**_event(subject, kind), "terminal_id": "kiosk-0042"}
                for kind in ("liveness.failed", "face.rejected")]
    assert _upload(server, kiosk, at_kiosk)["accepted"] == 2
    assert _upload(server, auth, [_event(subject, "code.rejected", reason="code_expired"),
                                  _event(subject, "unlock.failed", reason="lock_fault")]
                   )["accepted"] == 2
    body = _score(server, auth, subject)
    assert body["score"] == BASE_SCORE and body["factors"] == []


def test_factor_points_are_capped_and_the_score_clamped() -> None:
    score, factors = score_events([("ride.ended", {})] * 1000)
    assert factors[0].points == 200 and score == BASE_SCORE + 200
    worst = ([("deposit.captured", {})] * 50 + [("payment.declined", {})] * 50
             + [("parking.reported", {"misparked": True})] * 50
             + [("ride.ended", {"on_time": False})] * 50)
    score, _ = score_events(worst)
    assert score == 350


def test_deposit_taken_for_a_declined_fare_is_not_counted_twice(
        server: BackendServer, auth: dict[str, str]) -> None:
    subject = _new_subject(server, auth)
    _upload(server, auth, [_event(subject, "payment.declined", amount_minor=150),
                           _event(subject, "deposit.captured", reason="fare_declined")])
    body = _score(server, auth, subject)
    assert body["score"] == BASE_SCORE - 15
    assert [f["code"] for f in body["factors"]] == ["payment_declines"]


def test_events_made_by_the_terminal_library_are_accepted(
        server: BackendServer, auth: dict[str, str]) -> None:
    events = pytest.importorskip("payments.events")
    subject = _new_subject(server, auth)
    made = [events.make_event("ride.ended", terminal_id=TERMINAL, subject_id=subject,
                              attributes={"duration_s": 900, "blocks": 1, "fare_minor": 150,
                                          "currency": "CNY"}, clock=lambda: START),
            events.make_event("deposit.waived", terminal_id=TERMINAL, subject_id=subject,
                              clock=lambda: START)]
    result = _upload(server, auth, [e.to_dict() for e in made])
    assert result == {"accepted": 2, "duplicates": 0, "rejected": []}
    assert _score(server, auth, subject)["score"] == BASE_SCORE + 5


def test_duplicate_upload_is_stored_once(server: BackendServer, auth: dict[str, str]) -> None:
    subject = _new_subject(server, auth)
    events = [_event(subject, on_time=True) for _ in range(4)]
    assert _upload(server, auth, events)["accepted"] == 4
    again = _upload(server, auth, [*events, events[0]])
    assert again == {"accepted": 0, "duplicates": 5, "rejected": []}
    assert _score(server, auth, subject)["score"] == BASE_SCORE + 20


def test_malformed_events_are_rejected_individually(server: BackendServer,
                                                    auth: dict[str, str]) -> None:
    good = _event(None, "ride.started", ride_id="r1")
    bad_id = {**_event(None), "id": "not-an-id"}
    bad_time = {**_event(None), "time": "yesterday"}
    bad_schema = {**_event(None), "schema": 2}
    extra = {**_event(None), "color": "red"}
    nested = _event(None)
    nested["attributes"] = {"deep": {"x": 1}}
    floaty = _event(None, amount=1.5)
    other_terminal = {**_event(None), "terminal_id": "someone-else"}
    result = _upload(server, auth, [good, bad_id, bad_time, bad_schema, extra, nested, floaty,
                                    other_terminal, "just a string"])
    assert result["accepted"] == 1
    reasons = [r["error"].split(":")[0] for r in result["rejected"]]
    assert reasons == ["malformed", "malformed", "unsupported_schema", "malformed", "malformed",
                       "malformed", "terminal_mismatch", "malformed"]
    assert result["rejected"][0]["id"] == "not-an-id"
    assert result["rejected"][-1]["id"] is None


@pytest.mark.parametrize("attributes", [
    {"phone": "13800138000"}, {"rider_mobile": "x"}, {"face_embedding": "AAAA"},
    {"selfie_b64": "x"}, {"note": "+86 138 0013 8000"}, {"contact": 13800138000},
    {"blob": "A" * 5000}, {"img": "x"}, {"email_address": "a@b.c"}, {"ref": "call 1380013800"},
    {"face_distance": 5},
])
def test_events_with_personal_or_biometric_attributes_are_rejected(
        server: BackendServer, auth: dict[str, str], attributes: dict[str, Any]) -> None:
    result = _upload(server, auth, [_event(None, "kiosk.order_paid", **attributes)])
    assert result["accepted"] == 0
    assert result["rejected"][0]["error"].startswith("forbidden_attribute")


def test_ordinary_attributes_are_not_mistaken_for_personal_data(
        server: BackendServer, auth: dict[str, str]) -> None:
    attrs = {"ride_id": "ride_7f3a9c2e", "amount_minor": 150, "duration_s": 1800,
             "on_time": True, "method": "qr", "order_no": "A-1024", "day": "2026-11-26"}
    assert _upload(server, auth, [_event(None, "ride.ended", **attrs)])["accepted"] == 1


def test_oversized_batch_is_refused(server: BackendServer, auth: dict[str, str]) -> None:
    resp = requests.post(f"{server.url}/v1/events:batch", headers=auth, timeout=10,
                         json={"events": [_event(None) for _ in range(501)]})
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "batch_too_large"


def test_batch_body_must_hold_an_events_list(server: BackendServer,
                                             auth: dict[str, str]) -> None:
    resp = requests.post(f"{server.url}/v1/events:batch", headers=auth, timeout=5,
                         json={"events": "nope"})
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "invalid_request"
