"""Disputes over real loopback HTTP: a person contests a record, an operator decides, the score
is recomputed, dependent restrictions are lifted, and the audit trail proves every step."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from backend import BackendServer, BackendSettings
from backend.disputes import verify_audit
from backend.restrictions import add_restriction, restriction_id
from backend.seed import WRONG_PARKING_EVENT_ID, demo_event_id
from hardware.emulated.clock import ManualClock
from payments.paycode import issue_code
from tests.kiosk_support import wait_until

START = 1_795_689_000.0
BIKE, OPERATOR = "bike-0777", "operator-0777"
REASON = "I parked in the Xintiandi station bike bay, which is a legal bay."


class Api:
    """A loopback client of one back end with helpers for each kind of caller."""

    def __init__(self, server: BackendServer, clock: ManualClock) -> None:
        self.server = server
        self.clock = clock
        self.bike = {"Authorization": f"Bearer {server.api_key_for(BIKE)}"}
        self.operator = {"Authorization": f"Bearer {server.api_key_for(OPERATOR)}"}

    def get(self, path: str, headers: dict[str, str]) -> requests.Response:
        return requests.get(self.server.url + path, headers=headers, timeout=5)

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None
             ) -> requests.Response:
        return requests.post(self.server.url + path, json=body, headers=headers or {}, timeout=5)

    def code(self, subject: str, ttl_s: int = 60) -> str:
        return issue_code(subject, signing_key=self.server.backend.signing_key,
                          now=self.clock(), ttl_s=ttl_s)

    def person(self, subject: str) -> dict[str, str]:
        resp = self.post("/v1/person/sessions", {"code": self.code(subject)})
        assert resp.status_code == 201, resp.text
        assert resp.json()["subject_id"] == subject
        return {"Authorization": f"Bearer {resp.json()['token']}"}

    def score(self, subject: str) -> dict[str, Any]:
        resp = self.get(f"/v1/subjects/{subject}/score", self.bike)
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]

    def dispute(self, person: dict[str, str], kind: str, item_id: str,
                reason: str = REASON) -> requests.Response:
        return self.post("/v1/person/disputes", {"item": {"kind": kind, "id": item_id},
                                                 "reason": reason}, person)

    def decide(self, dispute_id: str, outcome: str, note: str = "",
               key: str | None = None) -> requests.Response:
        return self.post(f"/v1/disputes/{dispute_id}/decision", {"outcome": outcome, "note": note},
                         {**self.operator, "Idempotency-Key": key or uuid.uuid4().hex})

    def report(self, person: dict[str, str]) -> dict[str, Any]:
        resp = self.get("/v1/person/report", person)
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]


@pytest.fixture
def api() -> Iterator[Api]:
    clock = ManualClock(START)
    with BackendServer(BackendSettings(clock=clock)) as server:
        yield Api(server, clock)


def _event(report: dict[str, Any], event_id: str) -> dict[str, Any]:
    return next(e for e in report["events"] if e["id"] == event_id)


def test_a_wrong_parking_report_is_disputed_corrected_and_the_score_recomputed(api: Api) -> None:
    assert api.score("rider-low")["score"] == 640
    person = api.person("rider-low")
    before = api.report(person)
    assert sum(e["points"] for e in before["events"]) == before["score"] - before["baseline"]
    assert _event(before, WRONG_PARKING_EVENT_ID)["status"] == "counted"

    opened = api.dispute(person, "event", WRONG_PARKING_EVENT_ID)
    assert opened.status_code == 201, opened.text
    dispute = opened.json()
    assert dispute["dispute_id"].startswith("dsp_") and dispute["status"] == "under_review"
    assert dispute["item"] == {"kind": "event", "id": WRONG_PARKING_EVENT_ID}
    assert dispute["reason"] == REASON and [s["status"] for s in dispute["steps"]] == \
        ["under_review"]
    # Under review it does not count against the person: what a terminal reads now.
    during = api.score("rider-low")
    assert during["score"] == 650
    assert WRONG_PARKING_EVENT_ID not in next(
        f for f in during["factors"] if f["code"] == "parking_violations")["event_ids"]
    assert _event(api.report(person), WRONG_PARKING_EVENT_ID)["status"] == "disputed"

    queue = api.get("/v1/disputes?status=under_review", api.operator).json()["disputes"]
    assert [d["dispute_id"] for d in queue] == [dispute["dispute_id"]]
    assert api.get(f"/v1/disputes/{dispute['dispute_id']}", api.operator).json() == queue[0]
    assert api.get("/v1/disputes/dsp_" + "0" * 24, api.operator).status_code == 404
    decided = api.decide(dispute["dispute_id"], "corrected", "the bay is a legal one")
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["status"] == "corrected"
    assert [s["status"] for s in body["steps"]] == ["under_review", "corrected"]
    assert body["steps"][1]["actor"] == f"operator:{OPERATOR}"
    assert body["outcome"]["score_before"] == 640 and body["outcome"]["score_after"] == 650

    after = api.report(person)
    assert after["score"] == api.score("rider-low")["score"] == 650
    assert sum(e["points"] for e in after["events"]) == after["score"] - after["baseline"]
    assert _event(after, WRONG_PARKING_EVENT_ID) | {"points": 0, "status": "corrected"} == \
        _event(after, WRONG_PARKING_EVENT_ID)
    assert [d["status"] for d in after["disputes"]] == ["corrected"]
    mine = api.get("/v1/person/disputes", person).json()["disputes"]
    assert [s["status"] for s in mine[0]["steps"]] == ["under_review", "corrected"]

    trail = api.get(f"/v1/disputes/{dispute['dispute_id']}/audit", api.operator).json()
    assert [r["action"] for r in trail["rows"]] == ["opened", "corrected"]
    assert trail["verification"]["ok"] is True
    assert [r["hash"] for r in trail["rows"]] == [s["hash"] for s in body["steps"]]
    # A corrected record cannot be disputed again, nor the decision taken twice.
    assert api.dispute(person, "event", WRONG_PARKING_EVENT_ID).json()["error"]["code"] == \
        "already_corrected"
    again = api.decide(dispute["dispute_id"], "upheld")
    assert again.status_code == 409 and again.json()["error"]["code"] == "dispute_decided"


def test_an_upheld_dispute_puts_the_record_back(api: Api) -> None:
    person = api.person("rider-low")
    right = demo_event_id("rider-low", 24)  # a real misparking
    dispute = api.dispute(person, "event", right).json()
    assert api.score("rider-low")["score"] == 650
    second = api.dispute(person, "event", right)
    assert second.status_code == 409 and second.json()["error"]["code"] == "dispute_open"
    key = uuid.uuid4().hex
    upheld = api.decide(dispute["dispute_id"], "upheld", "photo shows the pavement", key=key)
    assert upheld.status_code == 200 and upheld.json()["status"] == "upheld"
    replay = api.decide(dispute["dispute_id"], "upheld", "photo shows the pavement", key=key)
    assert replay.json() == upheld.json() and replay.headers["Idempotent-Replayed"] == "true"
    assert api.score("rider-low")["score"] == 640
    report = api.report(person)
    assert _event(report, right)["status"] == "counted" and _event(report, right)["points"] == -10
    assert report["disputes"][0]["outcome"]["score_after"] == 640


def test_correcting_a_restriction_lifts_it_and_those_resting_on_it(api: Api) -> None:
    court = restriction_id("rider-blacklisted", "court_blacklist")
    with api.server.backend.store.transaction() as conn:
        ban = add_restriction(conn, "rider-blacklisted", "deposit_ban",
                              "No rides without a deposit while listed by a court",
                              source="ScanPay risk rule", reference="follows the court listing",
                              listed_at=START - 86400, depends_on=court)
    read = api.score("rider-blacklisted")["restrictions"]
    assert [(r["id"], r["code"]) for r in read] == [(court, "court_blacklist"),
                                                    (ban, "deposit_ban")]
    assert read[0]["origin"] == {
        "source": "Court list of judgment defaulters (Huangpu District People's Court, "
                  "Shanghai)", "reference": "(2026) Hu 0101 Zhi No. 4417",
        "listed_at": "2026-03-01T00:00:00Z"}
    person = api.person("rider-blacklisted")
    dispute = api.dispute(person, "restriction", court,
                          "I paid the judgment debt on 2026-04-02; the court removed me.").json()
    assert api.score("rider-blacklisted")["restrictions"] == []  # suspended, with its dependant
    assert {r["status"] for r in api.report(person)["restrictions"]} == {"disputed"}
    body = api.decide(dispute["dispute_id"], "corrected", "court confirms removal").json()
    assert sorted(body["outcome"]["restrictions_lifted"]) == sorted([court, ban])
    assert api.score("rider-blacklisted")["restrictions"] == []
    assert api.report(person)["restrictions"] == []
    assert verify_audit(api.server.backend).ok


def test_correcting_an_event_lifts_the_restrictions_resting_on_it(api: Api) -> None:
    wrong = WRONG_PARKING_EVENT_ID
    with api.server.backend.store.transaction() as conn:
        add_restriction(conn, "rider-low", "parking_watch", "Parking checked at every return",
                        source="ScanPay parking rule", reference=wrong, listed_at=START,
                        depends_on=wrong)
    assert [r["code"] for r in api.score("rider-low")["restrictions"]] == ["parking_watch"]
    person = api.person("rider-low")
    dispute = api.dispute(person, "event", wrong).json()
    assert api.score("rider-low")["restrictions"] == []
    upheld = api.decide(dispute["dispute_id"], "upheld").json()
    assert upheld["outcome"]["restrictions_lifted"] == []
    assert [r["code"] for r in api.score("rider-low")["restrictions"]] == ["parking_watch"]
    again = api.dispute(person, "event", wrong).json()
    lifted = api.decide(again["dispute_id"], "corrected").json()["outcome"]
    assert lifted["restrictions_lifted"] == [restriction_id("rider-low", "parking_watch")]
    assert api.score("rider-low")["restrictions"] == []


def test_a_person_disputes_only_their_own_records(api: Api) -> None:
    low = api.person("rider-low")
    good_event = demo_event_id("rider-good", 0)
    for kind, item in (("event", good_event), ("event", "evt_" + "0" * 32),
                       ("restriction", restriction_id("rider-blacklisted", "court_blacklist"))):
        resp = api.dispute(low, kind, item)
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "unknown_item"
    assert api.get("/v1/disputes", api.operator).json()["disputes"] == []
    assert api.score("rider-good")["score"] == 780
    # An event that never moves a score is not disputable; bad input is refused plainly.
    with api.server.backend.store.transaction() as conn:
        conn.execute("INSERT INTO events(event_id, type, time, terminal_id, subject_id,"
                     " attributes, received_at) VALUES (?, 'ride.started',"
                     " '2026-02-01T00:00:00Z', 'bike-1', 'rider-low', '{}', 0)",
                     ("evt_" + "1" * 32,))
    neutral = api.dispute(low, "event", "evt_" + "1" * 32)
    assert neutral.status_code == 422 and neutral.json()["error"]["code"] == "not_disputable"
    for body in ({"item": {"kind": "event", "id": WRONG_PARKING_EVENT_ID}, "reason": ""},
                 {"item": {"kind": "event", "id": WRONG_PARKING_EVENT_ID}, "reason": "x" * 2001},
                 {"item": {"kind": "ride", "id": WRONG_PARKING_EVENT_ID}, "reason": "wrong"}):
        assert api.post("/v1/person/disputes", body, low).status_code == 400
    # The operator's routes need an operator key; the person's token is no API key.
    assert api.get("/v1/disputes", low).status_code == 401
    assert api.get("/v1/disputes", api.bike).status_code == 403


def test_report_tokens_expire_and_payment_codes_are_single_use(api: Api) -> None:
    code = api.code("rider-low")
    first = api.post("/v1/person/sessions", {"code": code})
    assert first.status_code == 201
    assert first.json()["expires_at"] == "2026-11-26T10:45:00Z"  # 15 minutes
    reused = api.post("/v1/person/sessions", {"code": code})
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "code_already_used"
    tampered = code[:-3] + ("AAA" if code[-3:] != "AAA" else "BBB")
    assert api.post("/v1/person/sessions", {"code": tampered}).status_code in (400, 401)
    old = api.code("rider-low", ttl_s=30)
    token = {"Authorization": f"Bearer {first.json()['token']}"}
    api.clock.advance(60)
    expired = api.post("/v1/person/sessions", {"code": old})
    assert expired.status_code == 410 and expired.json()["error"]["code"] == "code_expired"
    assert api.get("/v1/person/report", token).status_code == 200
    api.clock.advance(15 * 60)
    gone = api.get("/v1/person/report", token)
    assert gone.status_code == 401 and gone.json()["error"]["code"] == "unauthenticated"
    for header in ({}, {"Authorization": "Bearer pt_" + "x" * 43},
                   {"Authorization": f"Bearer {api.server.api_key_for(BIKE)}"}):
        assert api.get("/v1/person/report", header).status_code == 401
        assert api.post("/v1/person/disputes", {"item": {"kind": "event", "id": "x"},
                                                "reason": "r"}, header).status_code == 401


def test_a_terminal_links_only_people_it_served(api: Api) -> None:
    refused = api.post("/v1/person/report-links", {"subject_id": "rider-low"}, api.bike)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_served"
    resolved = api.post("/v1/payment-codes/resolve", {"code": api.code("rider-low")},
                        {**api.bike, "Idempotency-Key": uuid.uuid4().hex})
    assert resolved.status_code == 200
    link = api.post("/v1/person/report-links", {"subject_id": "rider-low"}, api.bike)
    assert link.status_code == 201 and set(link.json()) == {"token", "expires_at"}
    person = {"Authorization": f"Bearer {link.json()['token']}"}
    assert api.report(person)["subject_id"] == "rider-low"
    assert api.post("/v1/person/report-links", {"subject_id": "rider-low"},
                    api.operator).status_code == 403


def test_score_reads_by_terminals_appear_in_the_report(api: Api) -> None:
    resp = api.get("/v1/subjects/rider-low/score?purpose=deposit_decision", api.bike)
    assert resp.status_code == 200
    api.get("/v1/subjects/rider-low/score", api.operator)  # an operator's look is no decision
    bad = api.get("/v1/subjects/rider-low/score?purpose=Not%20A%20Purpose", api.bike)
    assert bad.status_code == 400
    person = api.person("rider-low")
    # The read is recorded just after its answer went out.
    wait_until(lambda: bool(api.report(person)["decisions"]), timeout_s=5)
    decisions = api.report(person)["decisions"]
    assert decisions == [{"time": "2026-11-26T10:30:00Z", "terminal_id": BIKE,
                          "purpose": "deposit_decision", "score": 640}]
    # Reads answered at the same time are all recorded (written together, after the answers).
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(lambda _: api.get("/v1/subjects/rider-low/score?purpose=smile_to_pay",
                                                api.bike).status_code, range(24)))
    assert codes == [200] * 24
    wait_until(lambda: len(api.report(person)["decisions"]) == 25, timeout_s=5)
    api.clock.advance(91 * 86400)
    assert api.report(api.person("rider-low"))["decisions"] == []


def test_a_tampered_audit_row_fails_verification(api: Api) -> None:
    person = api.person("rider-low")
    dispute = api.dispute(person, "event", WRONG_PARKING_EVENT_ID).json()
    api.decide(dispute["dispute_id"], "corrected", "legal bay")
    backend = api.server.backend
    assert verify_audit(backend).ok and verify_audit(backend).rows == 2
    with backend.store.transaction() as conn:
        conn.execute("UPDATE audit_log SET detail = replace(detail, 'legal bay', 'not legal')"
                     " WHERE seq = 2")
    check = verify_audit(backend)
    assert not check.ok and check.bad_seq == 2 and "hash" in (check.problem or "")
    trail = api.get(f"/v1/disputes/{dispute['dispute_id']}/audit", api.operator).json()
    assert trail["verification"]["ok"] is False
    with backend.store.transaction() as conn:
        conn.execute("UPDATE audit_log SET detail = replace(detail, 'not legal', 'legal bay')"
                     " WHERE seq = 2")
        conn.execute("DELETE FROM audit_log WHERE seq = 1")
    assert verify_audit(backend).bad_seq == 2
    with backend.store.transaction() as conn:
        conn.execute("DELETE FROM audit_log")
    assert verify_audit(backend).ok is False  # cut off at the end: the head remembers
    assert "head" in (verify_audit(backend).problem or "")


def test_disputed_items_can_keep_counting_when_so_configured() -> None:
    clock = ManualClock(START)
    with BackendServer(BackendSettings(clock=clock, suspend_disputed_items=False)) as server:
        api = Api(server, clock)
        person = api.person("rider-low")
        assert api.dispute(person, "event", WRONG_PARKING_EVENT_ID).status_code == 201
        assert api.score("rider-low")["score"] == 640
        report = api.report(person)
        assert _event(report, WRONG_PARKING_EVENT_ID)["status"] == "disputed"
        assert sum(e["points"] for e in report["events"]) == report["score"] - 600


def test_decisions_taken_at_the_same_time_keep_one_unbroken_trail(api: Api) -> None:
    person = api.person("rider-low")
    ids = [api.dispute(person, "event", demo_event_id("rider-low", n)).json()["dispute_id"]
           for n in range(22, 28)]  # the declines and the misparkings
    assert api.score("rider-low")["score"] == 640 + 30 + 40
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda d: api.decide(d, "upheld", "checked"), ids))
    assert [a.status_code for a in answers] == [200] * 6
    check = verify_audit(api.server.backend)
    assert check.ok and check.rows == 12
    assert api.score("rider-low")["score"] == 640
