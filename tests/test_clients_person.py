"""PersonClient and DisputeReviewClient against scripted loopback servers: who sends which
credentials, what goes over the wire, and strict parsing of what comes back."""

from __future__ import annotations

import random

import pytest

from payments.clients import BadArgument, ProtocolError, ServiceSettings, ServiceUnavailable
from payments.clients.person import DisputeReviewClient, PersonClient
from tests.clients_loopback import LoopbackServer, RecordingSleep, Reply

DISPUTE = {"dispute_id": "dsp_0123456789abcdef01234567", "subject_id": "rider-low",
           "item": {"kind": "event", "id": "evt_1"}, "reason": "wrong place",
           "status": "under_review", "opened_at": "2026-11-30T04:00:00Z",
           "steps": [{"status": "under_review", "time": "2026-11-30T04:00:00Z",
                      "actor": "person", "note": "opened"}]}
REPORT = {"subject_id": "rider-low", "score": 640, "range": [350, 950], "baseline": 600,
          "as_of": "2026-11-30T04:00:00Z", "source": "reference",
          "factors": [{"code": "parking_violations", "text": "4 parking violations",
                       "points": -40, "event_ids": ["evt_1", "evt_2"]},
                      {"code": "on_time_returns", "text": "Returned 16 bikes on time",
                       "points": 80, "event_ids": ["evt_3"]}],
          "events": [{"id": "evt_1", "type": "parking.reported", "time": "2026-01-01T00:00:00Z",
                      "terminal_id": "bike-1", "points": -10, "factor": "parking_violations",
                      "status": "counted"}],
          "restrictions": [{"id": "r1", "code": "court_blacklist", "description": "Listed",
                            "origin": {"source": "Court list", "reference": "(2026) 4417",
                                       "listed_at": "2026-03-01T00:00:00Z"}}],
          "terminal_data": {"face_enrolled": True,
                            "consent": {"text_version": "v2", "given_at": "2026-11-01T00:00:00Z"},
                            "retention_until": "2029-11-01", "tombstone": None},
          "decisions": [{"time": "2026-11-30T03:00:00Z", "terminal_id": "bike-1",
                         "purpose": "deposit_decision", "score": 640}],
          "disputes": [DISPUTE]}


def client(url: str, key: str = "sk_terminal") -> PersonClient:
    return PersonClient(ServiceSettings(url=url, api_key=key, backoff_base_s=0.01),
                        sleep=RecordingSleep(), rng=random.Random(1))


def test_a_session_is_opened_with_the_code_alone_never_the_terminal_key() -> None:
    reply = Reply(201, {"token": "pt_abc", "subject_id": "rider-low",
                        "expires_at": "2026-11-30T04:15:00Z"})
    with LoopbackServer([reply]) as server, client(server.url) as c:
        session = c.open_session("  CODE123  ")
    sent = server.received[0]
    assert (sent.method, sent.path) == ("POST", "/v1/person/sessions")
    assert sent.json() == {"code": "CODE123"}
    assert "authorization" not in {k.lower() for k in sent.headers}
    assert session.token == "pt_abc" and "pt_abc" not in repr(session)


def test_a_lost_session_answer_is_not_retried_the_code_is_single_use() -> None:
    with LoopbackServer([Reply(503, {}), Reply(201, {"token": "t"})]) as server, \
            client(server.url) as c, pytest.raises(ServiceUnavailable):
        c.open_session("CODE")
    assert len(server.received) == 1


def test_the_report_is_read_with_the_person_token_and_parsed() -> None:
    with LoopbackServer([Reply(200, REPORT)]) as server, client(server.url) as c, \
            c.for_token("pt_abc") as person:
        report = person.report()
    assert server.received[0].headers.get("Authorization") == "Bearer pt_abc"
    assert report.score == 640 and report.range == (350, 950)
    assert report.factors[0].event_ids == ("evt_1", "evt_2")
    assert report.restrictions[0].origin is not None
    assert report.restrictions[0].origin.describe() == \
        "Court list, reference (2026) 4417, listed 2026-03-01"
    assert report.terminal_data.face_enrolled and report.terminal_data.consent is not None
    assert str(report.terminal_data.retention_until) == "2029-11-01"
    assert report.decisions[0].purpose == "deposit_decision"
    assert report.open_dispute_for("event", "evt_1") is not None
    assert report.to_json()["disputes"][0]["item"] == {"kind": "event", "id": "evt_1"}


@pytest.mark.parametrize(("field", "value"), [
    ("score", "640"), ("range", [350]), ("factors", [{"code": "x", "points": 1}]),
    ("disputes", [{**DISPUTE, "status": "maybe"}]), ("terminal_data", "yes"),
    ("restrictions", [{"code": "c", "description": "d", "origin": {"source": "s"}}])])
def test_a_report_that_breaks_the_contract_is_a_protocol_error(field: str, value: object) -> None:
    with LoopbackServer([Reply(200, {**REPORT, field: value})]) as server, \
            client(server.url) as c, c.for_token("pt_abc") as person, \
            pytest.raises(ProtocolError, match=field):
        person.report()


def test_a_dispute_is_sent_with_an_idempotency_key_and_checked_first() -> None:
    with LoopbackServer([Reply(201, DISPUTE)]) as server, client(server.url) as c, \
            c.for_token("pt_abc") as person:
        with pytest.raises(BadArgument, match="reason"):
            person.open_dispute("event", "evt_1", "   ")
        with pytest.raises(BadArgument, match="2000"):
            person.open_dispute("event", "evt_1", "x" * 2001)
        with pytest.raises(BadArgument, match="event or a restriction"):
            person.open_dispute("order", "evt_1", "wrong")  # type: ignore[arg-type]
        assert server.received == []  # nothing was sent for bad input
        dispute = person.open_dispute("event", "evt_1", " wrong place ")
    sent = server.received[0]
    assert sent.json() == {"item": {"kind": "event", "id": "evt_1"}, "reason": "wrong place"}
    assert sent.headers.get("Idempotency-Key")
    assert dispute.status == "under_review" and dispute.steps[0].actor == "person"


def test_a_bad_token_is_refused_before_anything_is_sent() -> None:
    with LoopbackServer([]) as server, client(server.url) as c:
        for token in ("", "has space", "x" * 513, "ünïcode"):
            with pytest.raises(BadArgument):
                c.for_token(token)
    assert server.received == []


def test_the_operator_lists_decides_and_reads_the_audit() -> None:
    decided = {**DISPUTE, "status": "corrected"}
    audit = {"dispute_id": DISPUTE["dispute_id"],
             "rows": [{"seq": 1, "action": "opened", "actor": "person",
                       "time": "2026-11-30T04:00:00Z", "hash": "ab" * 32}]}
    replies = [Reply(200, {"disputes": [DISPUTE]}), Reply(200, decided), Reply(200, audit)]
    with LoopbackServer(replies) as server:
        settings = ServiceSettings(url=server.url, api_key="sk_operator")
        with DisputeReviewClient(settings) as review:
            with pytest.raises(BadArgument):
                review.list("pending")
            with pytest.raises(BadArgument):
                review.decide(DISPUTE["dispute_id"], "deleted", "note")
            listed = review.list("under_review")
            result = review.decide(DISPUTE["dispute_id"], "corrected", "legal bay",
                                   idempotency_key="decide-key-1")
            rows = review.audit(DISPUTE["dispute_id"])
    paths = [r.path for r in server.received]
    assert paths == ["/v1/disputes?status=under_review",
                     f"/v1/disputes/{DISPUTE['dispute_id']}/decision",
                     f"/v1/disputes/{DISPUTE['dispute_id']}/audit"]
    assert server.received[1].headers.get("Idempotency-Key") == "decide-key-1"
    assert server.received[1].json() == {"outcome": "corrected", "note": "legal bay"}
    assert listed[0].dispute_id == DISPUTE["dispute_id"] and result.status == "corrected"
    assert rows[0].action == "opened" and rows[0].hash == "ab" * 32
