"""ScoreClient against scripted loopback servers: parsing, validation, event batches."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from payments.clients import (
    BadArgument,
    NotFoundError,
    ProtocolError,
    ScoreClient,
    ServiceSettings,
    ServiceUnavailable,
)
from payments.events import make_event
from tests.clients_loopback import LoopbackServer, RecordingSleep, Reply, error_body

SCORE_BODY = {
    "subject_id": "sub_42",
    "score": 712,
    "as_of": "2026-11-26T10:30:00Z",
    "factors": [{"code": "on_time_returns", "description": "Returned 12 bikes on time",
                 "points": 24}],
    "restrictions": [{"code": "court_blacklist", "description": "Listed by a court"}],
}


def score_client(url: str, sleep: RecordingSleep | None = None) -> ScoreClient:
    settings = ServiceSettings(url=url, api_key="key_s", max_retries=2, backoff_base_s=0.05)
    return ScoreClient(settings, sleep=sleep or RecordingSleep(), rng=random.Random(3))


def clock() -> datetime:
    return datetime(2026, 11, 26, 10, 30, tzinfo=UTC)


def test_get_score_parses_factors_and_restrictions() -> None:
    with LoopbackServer([Reply(200, SCORE_BODY)]) as server, score_client(server.url) as c:
        report = c.get_score("sub_42")
    assert server.received[0].method == "GET"
    assert server.received[0].path == "/v1/subjects/sub_42/score"
    assert report.score == 712
    assert report.as_of == datetime(2026, 11, 26, 10, 30, tzinfo=UTC)
    assert report.factors[0].points == 24
    assert report.restriction_codes() == {"court_blacklist"}


def test_subject_id_is_escaped_in_the_path() -> None:
    body = dict(SCORE_BODY, subject_id="a/b?c")
    with LoopbackServer([Reply(200, body)]) as server, score_client(server.url) as c:
        c.get_score("a/b?c")
    assert server.received[0].path == "/v1/subjects/a%2Fb%3Fc/score"


@pytest.mark.parametrize("score", [349, 951, "712", 712.0, True, None])
def test_out_of_range_or_mistyped_score_is_a_protocol_error(score: object) -> None:
    with LoopbackServer([Reply(200, dict(SCORE_BODY, score=score))]) as server, \
            score_client(server.url) as c, pytest.raises(ProtocolError, match="score"):
        c.get_score("sub_42")


@pytest.mark.parametrize("score", [350, 950])
def test_scores_at_the_range_ends_are_accepted(score: int) -> None:
    with LoopbackServer([Reply(200, dict(SCORE_BODY, score=score))]) as server, \
            score_client(server.url) as c:
        assert c.get_score("sub_42").score == score


@pytest.mark.parametrize(
    "change",
    [
        {"subject_id": "sub_other"},
        {"as_of": "yesterday"},
        {"as_of": "2026-11-26T10:30:00"},
        {"factors": [{"code": "x", "description": "y", "points": "many"}]},
        {"restrictions": "court_blacklist"},
    ],
)
def test_malformed_score_response_is_a_protocol_error(change: dict[str, object]) -> None:
    with LoopbackServer([Reply(200, dict(SCORE_BODY, **change))]) as server, \
            score_client(server.url) as c, pytest.raises(ProtocolError):
        c.get_score("sub_42")


def test_unknown_subject_is_not_found() -> None:
    with LoopbackServer([Reply(404, error_body("unknown_subject", "No such subject"))]) \
            as server, score_client(server.url) as c, pytest.raises(NotFoundError) as info:
        c.get_score("sub_nobody")
    assert info.value.code == "unknown_subject"


@pytest.mark.parametrize("subject", ["", "has space", "x" * 129, "tab\t"])
def test_bad_subject_id_is_refused_before_sending(subject: str) -> None:
    with (
        LoopbackServer([Reply(200, SCORE_BODY)]) as server,
        score_client(server.url) as c,
        pytest.raises(BadArgument),
    ):
        c.get_score(subject)
    assert server.received == []


def test_upload_events_posts_the_batch_and_counts_results() -> None:
    events = [make_event("ride.started", terminal_id="bike-0001", subject_id="sub_42",
                         attributes={"ride_id": f"ride_{i}"}, clock=clock) for i in range(3)]
    body = {"accepted": 1, "duplicates": [events[1].id],
            "rejected": [{"id": events[2].id, "error": "bad attribute"}]}
    with LoopbackServer([Reply(200, body)]) as server, score_client(server.url) as c:
        result = c.upload_events(events)
    sent = server.received[0].json()
    assert server.received[0].path == "/v1/events:batch"
    assert [e["id"] for e in sent["events"]] == [e.id for e in events]
    assert sent["events"][0]["time"] == "2026-11-26T10:30:00.000Z"
    assert (result.accepted, result.duplicates) == (1, 1)
    assert result.rejected_ids() == {events[2].id}


def test_upload_events_is_retried_as_idempotent_by_design() -> None:
    event = make_event("ride.ended", terminal_id="bike-0001", subject_id=None, clock=clock)
    sleep = RecordingSleep()
    replies = [Reply(503, error_body("overloaded")), Reply(200, {"accepted": 1, "duplicates": 0})]
    with LoopbackServer(replies) as server, score_client(server.url, sleep) as c:
        assert c.upload_events([event]).accepted == 1
    assert len(server.received) == 2
    assert server.received[0].body == server.received[1].body
    assert len(sleep.calls) == 1


def test_upload_events_reports_unavailable_after_retries() -> None:
    event = make_event("ride.ended", terminal_id="bike-0001", subject_id=None, clock=clock)
    with LoopbackServer([Reply(500, error_body("internal"))]) as server, \
            score_client(server.url) as c, pytest.raises(ServiceUnavailable):
        c.upload_events([event])
    assert len(server.received) == 3


def test_upload_of_nothing_sends_nothing_and_too_many_is_refused() -> None:
    event = make_event("ride.ended", terminal_id="bike-0001", subject_id=None, clock=clock)
    with LoopbackServer([Reply(200, {})]) as server, score_client(server.url) as c:
        assert c.upload_events([]).accepted == 0
        with pytest.raises(BadArgument, match="500"):
            c.upload_events([event] * 501)
    assert server.received == []


def test_malformed_batch_response_is_a_protocol_error() -> None:
    event = make_event("ride.ended", terminal_id="bike-0001", subject_id=None, clock=clock)
    with LoopbackServer([Reply(200, {"accepted": "yes", "duplicates": 0})]) as server, \
            score_client(server.url) as c, pytest.raises(ProtocolError, match="accepted"):
        c.upload_events([event])
