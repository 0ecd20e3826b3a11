"""Events with provenance: a terminal moves only the scores of riders it served, only with the
kinds of event its role sends, and its hash chain shows lost or withheld events."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from backend import BackendServer, BackendSettings
from payments.clients import ScoreClient, ServiceSettings
from payments.event_chain import chain_hash
from payments.events import make_event
from payments.outbox import Outbox
from payments.uploader import Uploader
from tests.clients_loopback import RecordingSleep

BIKE, KIOSK, OPERATOR, SCORER = "bike-0101", "kiosk-0101", "operator-0101", "scorer-0101"


@pytest.fixture(scope="module")
def server(backend_store: str) -> Iterator[BackendServer]:
    with BackendServer(BackendSettings()) as srv:
        yield srv


def _auth(server: BackendServer, terminal: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.api_key_for(terminal)}"}


def _score(server: BackendServer, subject: str) -> int:
    resp = requests.get(f"{server.url}/v1/subjects/{subject}/score",
                        headers=_auth(server, BIKE), timeout=5)
    assert resp.status_code == 200, resp.text
    return int(resp.json()["score"])


def _event(terminal: str, subject: str | None, type_: str = "ride.ended",
           **attributes: Any) -> dict[str, Any]:
    return {"id": f"evt_{uuid.uuid4().hex}", "schema": 1, "type": type_,
            "time": "2026-11-26T10:30:00Z", "terminal_id": terminal, "subject_id": subject,
            "attributes": attributes}


def _upload(server: BackendServer, terminal: str, events: list[Any]) -> dict[str, Any]:
    resp = requests.post(f"{server.url}/v1/events:batch", json={"events": events},
                         headers=_auth(server, terminal), timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def _serve(server: BackendServer, terminal: str, subject: str) -> None:
    auth = _auth(server, terminal)
    code = requests.post(f"{server.url}/v1/dev/payment-codes", headers=auth, timeout=5,
                         json={"subject_id": subject}).json()["code"]
    resp = requests.post(f"{server.url}/v1/payment-codes/resolve", json={"code": code},
                         headers={**auth, "Idempotency-Key": uuid.uuid4().hex}, timeout=5)
    assert resp.status_code == 200, resp.text


def _new_subject(server: BackendServer) -> str:
    subject = f"sub_{uuid.uuid4().hex[:12]}"
    resp = requests.post(f"{server.url}/v1/dev/subjects", headers=_auth(server, BIKE),
                         json={"subject_id": subject, "balance_minor": 10_000}, timeout=5)
    assert resp.status_code == 201, resp.text
    return subject


def _gaps(server: BackendServer, terminal: str) -> list[dict[str, Any]]:
    resp = requests.get(f"{server.url}/v1/chain-gaps", params={"terminal_id": terminal},
                        headers=_auth(server, OPERATOR), timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.json()["gaps"]  # type: ignore[no-any-return]


def test_the_75_fabricated_events_of_the_issue_move_no_score(server: BackendServer) -> None:
    boost = [_event(BIKE, "rider-low", on_time=True) for _ in range(40)]
    smear = ([_event(KIOSK, "rider-good", "payment.declined") for _ in range(20)]
             + [_event(BIKE, "rider-good", "parking.reported", misparked=True)
                for _ in range(15)])
    results = [_upload(server, BIKE, boost),
               _upload(server, KIOSK, smear[:20]), _upload(server, BIKE, smear[20:])]
    assert sum(r["accepted"] for r in results) == 0
    assert sum(len(r["rejected"]) for r in results) == 75
    assert {r["error"].split(":")[0] for res in results for r in res["rejected"]} \
        == {"not_served"}
    assert _score(server, "rider-low") == 640
    assert _score(server, "rider-good") == 780


def test_a_served_rider_is_scored_by_the_terminal_that_served_them(
        server: BackendServer) -> None:
    subject = _new_subject(server)
    _serve(server, BIKE, subject)
    assert _upload(server, BIKE, [_event(BIKE, subject, on_time=True)])["accepted"] == 1
    other = "bike-0102"
    refused = _upload(server, other, [_event(other, subject, on_time=False)])
    assert refused["accepted"] == 0 and refused["rejected"][0]["error"].startswith("not_served")
    assert _score(server, subject) == 605


@pytest.mark.parametrize(("terminal", "kind"), [
    (KIOSK, "ride.ended"), (KIOSK, "deposit.captured"), (BIKE, "face.enrolled"),
    (BIKE, "order.paid"), (SCORER, "payment.declined"), (BIKE, "made.up"),
])
def test_a_role_sends_only_the_kinds_of_event_its_work_produces(
        server: BackendServer, terminal: str, kind: str) -> None:
    subject = _new_subject(server)
    if terminal != SCORER:
        _serve(server, terminal, subject)
    result = _upload(server, terminal, [_event(terminal, subject, kind)])
    assert result["accepted"] == 0
    assert result["rejected"][0]["error"].startswith("kind_not_allowed")
    assert _score(server, subject) == 600


def test_a_scorer_reports_parking_of_known_subjects_only(server: BackendServer) -> None:
    subject = _new_subject(server)
    result = _upload(server, SCORER, [_event(SCORER, subject, "parking.reported",
                                             misparked=True),
                                      _event(SCORER, "nobody-here", "parking.reported")])
    assert result["accepted"] == 1
    assert result["rejected"][0]["error"].startswith("unknown_subject")
    assert _score(server, subject) == 590


def test_events_without_a_subject_need_no_service(server: BackendServer) -> None:
    result = _upload(server, KIOSK, [_event(KIOSK, None, "terminal.started"),
                                     _event(KIOSK, None, "order.cancelled")])
    assert result == {"accepted": 2, "duplicates": 0, "rejected": []}


def test_a_duplicate_of_an_accepted_event_is_a_duplicate_not_a_refusal(
        server: BackendServer) -> None:
    subject = _new_subject(server)
    _serve(server, BIKE, subject)
    event = _event(BIKE, subject, on_time=True)
    assert _upload(server, BIKE, [event])["accepted"] == 1
    assert _upload(server, BIKE, [event, event]) == {"accepted": 0, "duplicates": 2,
                                                     "rejected": []}
    assert _score(server, subject) == 605


def _chained(terminal: str, n: int) -> list[dict[str, Any]]:
    events, prev = [], None
    for _ in range(n):
        event = {**_event(terminal, None, "terminal.started"), "prev_hash": prev}
        prev = chain_hash(event, prev)
        events.append(event)
    return events


def test_a_withheld_event_is_flagged_and_its_late_arrival_closes_the_gap(
        server: BackendServer) -> None:
    terminal = "bike-0103"
    first, withheld, third, fourth = _chained(terminal, 4)
    assert _upload(server, terminal, [first, third, fourth])["accepted"] == 3
    (gap,) = _gaps(server, terminal)
    assert gap["kind"] == "gap" and gap["event_id"] == third["id"]
    assert gap["missing_hash"] == third["prev_hash"]
    assert _upload(server, terminal, [withheld])["accepted"] == 1  # late, never refused
    assert _gaps(server, terminal) == []


def test_two_events_naming_one_predecessor_are_a_fork(server: BackendServer) -> None:
    terminal = "bike-0104"
    first, second = _chained(terminal, 2)
    rewritten = {**_event(terminal, None, "terminal.started"), "prev_hash": second["prev_hash"]}
    assert _upload(server, terminal, [first, second, rewritten])["accepted"] == 3
    assert [(g["kind"], g["event_id"]) for g in _gaps(server, terminal)] \
        == [("fork", rewritten["id"])]


def test_only_operators_read_the_chain_gaps(server: BackendServer) -> None:
    resp = requests.get(f"{server.url}/v1/chain-gaps", headers=_auth(server, BIKE), timeout=5)
    assert resp.status_code == 403


def test_the_uploader_drops_refused_events_once_and_the_chain_stays_whole(
        server: BackendServer, tmp_path: Path) -> None:
    terminal = "bike-0105"
    served, stranger = _new_subject(server), _new_subject(server)
    _serve(server, terminal, served)
    settings = ServiceSettings(url=server.url, api_key=server.api_key_for(terminal))
    events = [make_event("ride.started", terminal_id=terminal, subject_id=served),
              make_event("ride.ended", terminal_id=terminal, subject_id=stranger),
              make_event("ride.ended", terminal_id=terminal, subject_id=served,
                         attributes={"on_time": True})]
    with (Outbox(tmp_path / "o.db") as box,
          ScoreClient(settings, sleep=RecordingSleep(), rng=random.Random(1)) as client):
        for event in events:
            box.append(event)
        report = Uploader(box, client).run_once()
        assert (report.rejected, box.counts().pending, box.counts().dropped) == (1, 0, 1)
        assert Uploader(box, client).run_once().sent == 0  # nothing left to retry
    assert _score(server, served) == 605 and _score(server, stranger) == 600
    assert _gaps(server, terminal) == []  # the refused event still links the chain
