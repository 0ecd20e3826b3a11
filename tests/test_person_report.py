"""The person's report over real loopback HTTP: every field, 100% of the points, and what the
terminals hold about the person (enrollment, consent and its text version, retention, deletion)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
import requests

from backend import BackendServer, BackendSettings
from backend.context import rfc3339
from backend.seed import DEMO_SUBJECTS
from hardware.emulated.clock import ManualClock
from payments.paycode import issue_code

START = 1_795_689_000.0  # 2026-11-26T10:30:00Z
KIOSK = "kiosk-0555"
NOTICE = "smile-to-pay-notice/2"


class Api:
    """Loopback calls of a kiosk and of the people it serves."""

    def __init__(self, server: BackendServer, clock: ManualClock) -> None:
        self.server = server
        self.clock = clock
        self.kiosk = {"Authorization": f"Bearer {server.api_key_for(KIOSK)}"}

    def code(self, subject: str) -> str:
        return issue_code(subject, signing_key=self.server.backend.signing_key,
                          now=self.clock(), ttl_s=60)

    def post(self, path: str, body: Any, headers: dict[str, str]) -> requests.Response:
        return requests.post(self.server.url + path, json=body, timeout=5,
                             headers={**headers, "Idempotency-Key": uuid.uuid4().hex})

    def report(self, subject: str) -> dict[str, Any]:
        session = requests.post(self.server.url + "/v1/person/sessions",
                                json={"code": self.code(subject)}, timeout=5)
        assert session.status_code == 201, session.text
        resp = requests.get(self.server.url + "/v1/person/report", timeout=5,
                            headers={"Authorization": f"Bearer {session.json()['token']}"})
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]

    def enroll(self, subject: str, phone: str, seed: int, *, retention_days: int = 3650,
               version: str | None = NOTICE) -> dict[str, Any]:
        face = _unit(seed)
        body: dict[str, Any] = {
            "payment_code": self.code(subject), "phone": phone,
            "embeddings": [_near(face, seed * 10 + i).tolist() for i in range(3)],
            "consent": {"given_by": "Demo Person", "given_at": rfc3339(self.clock() - 60),
                        "purpose": "smile_to_pay", "retention_days": retention_days}}
        if version is not None:
            body["consent_text_version"] = version
        resp = self.post("/v1/face/enrollments", body, self.kiosk)
        assert resp.status_code == 201, resp.text
        return resp.json()  # type: ignore[no-any-return]


def _unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128)
    return v / np.linalg.norm(v)


def _near(v: np.ndarray, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(size=128)
    return v + 0.05 * noise / np.linalg.norm(noise)


@pytest.fixture
def api() -> Iterator[Api]:
    clock = ManualClock(START)
    with BackendServer(BackendSettings(clock=clock, face_retention_days=365)) as server:
        yield Api(server, clock)


def test_the_report_has_every_field_and_lists_every_point(api: Api) -> None:
    report = api.report("rider-low")
    assert set(report) >= {"subject_id", "score", "range", "baseline", "as_of", "source",
                           "factors", "events", "restrictions", "terminal_data", "decisions",
                           "disputes"}
    assert (report["subject_id"], report["score"], report["range"], report["baseline"]) == \
        ("rider-low", 640, [350, 950], 600)
    assert report["as_of"] == "2026-11-26T10:30:00Z" and report["source"]
    assert [(f["code"], f["points"]) for f in report["factors"]] == [
        ("on_time_returns", 110), ("parking_violations", -40), ("payment_declines", -30)]
    assert all(f["text"] for f in report["factors"])
    event = report["events"][0]
    assert set(event) == {"id", "type", "time", "terminal_id", "points", "factor", "status"}
    assert len(report["events"]) == 28
    assert report["terminal_data"] == {"face_enrolled": False, "consent": None,
                                       "retention_until": None, "tombstone": None}
    assert report["decisions"] == [] and report["disputes"] == []
    assert report["deposit_decisions"] == []


@pytest.mark.parametrize("subject", [s.subject_id for s in DEMO_SUBJECTS])
def test_every_seeded_persons_points_are_all_listed(api: Api, subject: str) -> None:
    report = api.report(subject)
    counted = [e for e in report["events"] if e["status"] == "counted"]
    assert sum(e["points"] for e in report["events"]) == \
        report["score"] - report["baseline"] - report["clamp_points"]
    assert sorted(e["id"] for e in counted) == \
        sorted(i for f in report["factors"] for i in f["event_ids"])
    for factor in report["factors"]:
        assert sum(e["points"] for e in counted if e["factor"] == factor["code"]) == \
            factor["points"]


def test_the_blacklisted_person_sees_the_origin_of_the_restriction(api: Api) -> None:
    (restriction,) = api.report("rider-blacklisted")["restrictions"]
    assert restriction["code"] == "court_blacklist" and restriction["status"] == "in_force"
    assert restriction["id"].startswith("rst_")
    assert restriction["origin"]["reference"] == "(2026) Hu 0101 Zhi No. 4417"
    assert restriction["origin"]["listed_at"] == "2026-03-01T00:00:00Z"


def test_enrollment_consent_and_its_text_version_then_deletion_leaves_a_tombstone(
        api: Api) -> None:
    enrolled = api.enroll("rider-good", "13800138000", 7)
    assert enrolled["consent"]["text_version"] == NOTICE
    held = api.report("rider-good")["terminal_data"]
    assert held["face_enrolled"] is True and held["tombstone"] is None
    assert held["consent"]["text_version"] == NOTICE
    assert held["consent"]["given_at"] == "2026-11-26T10:29:00Z"
    # Kept until a year (face_retention_days=365) after its last use: here, the enrollment.
    assert held["retention_until"] == "2027-11-26"

    api.clock.advance(86400)
    deleted = api.post("/v1/face/enrollments:delete", {"payment_code": api.code("rider-good")},
                       api.kiosk)
    assert deleted.status_code == 200, deleted.text
    body = deleted.json()
    assert body["deleted"] is True and body["deleted_at"] == "2026-11-27T10:30:00Z"
    assert "2026-11-27" in body["confirmation"]
    assert body["tombstone"]["deleted_at"] == "2026-11-27T10:30:00Z"
    after = api.report("rider-good")["terminal_data"]
    assert after == {"face_enrolled": False, "consent": None, "retention_until": None,
                     "tombstone": {"deleted_at": "2026-11-27T10:30:00Z",
                                   "reason": f"deleted on request at {KIOSK}"}}


def test_an_enrollment_without_a_text_version_says_so(api: Api) -> None:
    api.enroll("rider-broke", "13900139000", 9, retention_days=30, version=None)
    held = api.report("rider-broke")["terminal_data"]
    assert held["consent"]["text_version"] is None
    assert held["retention_until"] == "2026-12-26"  # the consent's own 30 days come first
    bad = api.post("/v1/face/enrollments", {
        "payment_code": api.code("rider-broke"), "phone": "13900139000",
        "embeddings": [_unit(1).tolist()] * 3, "consent_text_version": "no spaces allowed",
        "consent": {"given_by": "x", "given_at": "2026-11-26T10:29:00Z", "purpose": "p",
                    "retention_days": 30}}, api.kiosk)
    assert bad.status_code == 400


def test_the_kiosk_records_the_version_of_the_notice_it_showed(api: Api) -> None:
    from payments.clients.face import Consent, FaceClient
    from payments.clients.http import ServiceSettings
    from terminal.kiosk.enroll import consent_text, consent_text_version

    version = consent_text_version("smile_to_pay", 30)
    assert version == consent_text_version("smile_to_pay", 30)
    assert version != consent_text_version("smile_to_pay", 31)  # other wording, other version
    assert version != consent_text_version("smile_to_pay", 30, digit_free=True)
    assert "30 days" in consent_text("smile_to_pay", 30)
    face = _unit(5)
    settings = ServiceSettings(url=api.server.url, api_key=api.server.api_key_for(KIOSK),
                               max_retries=0)
    with FaceClient(settings) as client:
        client.enroll(payment_code=api.code("rider-good"), phone="13800138000",
                      embeddings=[_near(face, 50 + i).tolist() for i in range(3)],
                      consent=Consent(given_by="Demo Person", purpose="smile_to_pay",
                                      retention_days=30, text_version=version,
                                      given_at=datetime.fromtimestamp(START - 60, UTC)))
    assert api.report("rider-good")["terminal_data"]["consent"]["text_version"] == version


def test_a_declined_ride_shows_its_reasons_in_the_report_and_costs_nothing(api: Api) -> None:
    bike = {"Authorization": f"Bearer {api.server.api_key_for('bike-0555')}"}
    before = api.report("rider-blacklisted")
    resolved = api.post("/v1/payment-codes/resolve", {"code": api.code("rider-blacklisted")}, bike)
    assert resolved.status_code == 200, resolved.text  # the bike served the person

    def event(type_: str, when: float, codes: str) -> dict[str, Any]:
        return {"id": f"evt_{uuid.uuid4().hex}", "schema": 1, "type": type_,
                "time": rfc3339(when), "terminal_id": "bike-0555",
                "subject_id": "rider-blacklisted",
                "attributes": {"ride_id": "ride-1", "reason_codes": codes}}

    declined = event("deposit.declined", START - 60, "court_blacklist")
    old = event("deposit.waived", START - 91 * 86400, "on_time_returns")  # past 90 days
    upload = requests.post(api.server.url + "/v1/events:batch", json={"events": [declined, old]},
                           headers=bike, timeout=5)
    assert upload.status_code == 200 and upload.json()["accepted"] == 2, upload.text
    after = api.report("rider-blacklisted")
    assert after["score"] == before["score"]  # a refusal never lowers the score
    assert after["deposit_decisions"] == [
        {"id": declined["id"], "type": "deposit.declined", "outcome": "declined",
         "time": declined["time"], "terminal_id": "bike-0555", "reason_codes": ["court_blacklist"]}]
    assert declined["id"] not in {e["id"] for e in after["events"]}  # not a scored event
