"""The console's dispute review over real HTTP: list, the disputed record, the audit trail,
uphold / correct with a note, and the person's score afterwards."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests

from backend import disputes
from backend.seed import WRONG_PARKING_EVENT_ID
from backend.server import BackendServer
from backend.settings import BackendSettings
from tests.console_support import csrf_of, sign_in

START = 1_796_200_000.0


@pytest.fixture
def server() -> Iterator[BackendServer]:
    with BackendServer(BackendSettings(clock=lambda: START)) as srv:
        yield srv


def _open(server: BackendServer, event_id: str, reason: str) -> str:
    return str(disputes.open_dispute(server.backend, "rider-low",
                                     {"kind": "event", "id": event_id}, reason)["dispute_id"])


def _other_parking_event(server: BackendServer) -> str:
    with server.backend.store.transaction() as conn:
        rows = conn.execute("SELECT event_id FROM events WHERE subject_id = ? AND type = ?"
                            " ORDER BY event_id", ("rider-low", "parking.reported")).fetchall()
    return next(str(r[0]) for r in rows if r[0] != WRONG_PARKING_EVENT_ID)


def _score_on(page: str) -> int:
    found = re.search(r'<dd id="subject-score">(\d+)</dd>', page)
    assert found, page
    return int(found.group(1))


def test_a_correction_shows_the_new_score_and_a_verified_audit_trail(server) -> None:
    dispute_id = _open(server, WRONG_PARKING_EVENT_ID, "I parked in the marked bike bay <b>")
    http = sign_in(server)
    listing = http.get(f"{server.url}/console/disputes", timeout=5)
    assert f'data-dispute="{dispute_id}"' in listing.text and "rider-low" in listing.text
    page = http.get(f"{server.url}/console/disputes/{dispute_id}", timeout=5)
    assert page.status_code == 200
    assert "I parked in the marked bike bay &lt;b&gt;" in page.text  # escaped, never markup
    assert "parking.reported" in page.text and "under review" in page.text
    assert "The audit trail verifies: 1 row(s)" in page.text
    before = _score_on(page.text)
    csrf = csrf_of(http, server, f"/console/disputes/{dispute_id}")
    url = f"{server.url}/console/disputes/{dispute_id}/decision"
    no_note = http.post(url, data={"csrf": csrf, "outcome": "corrected", "note": " "},
                        allow_redirects=False, timeout=5)
    assert no_note.status_code == 400 and "Write a note of 1 to 2000" in no_note.text
    no_csrf = http.post(url, data={"outcome": "corrected", "note": "wrong"},
                        allow_redirects=False, timeout=5)
    assert no_csrf.status_code == 403
    done = http.post(url, data={"csrf": csrf, "outcome": "corrected",
                                "note": "The report was made at a legal bay."}, timeout=5)
    assert done.status_code == 200 and 'id="decision-result"' in done.text
    assert "Decided: corrected" in done.text
    after = _score_on(done.text)
    record = disputes.get_dispute(server.backend, dispute_id)
    assert record["status"] == "corrected"
    assert after == record["outcome"]["score_after"] and after >= before
    assert f"(was {record['outcome']['score_before']})" in done.text
    assert record["outcome"]["score_after"] > record["outcome"]["score_before"]
    assert "The audit trail verifies: 2 row(s)" in done.text
    assert "operator:emu-operator-0001" in done.text
    again = http.post(url, data={"csrf": csrf, "outcome": "upheld", "note": "again"},
                      allow_redirects=False, timeout=5)
    assert again.status_code == 409 and "was already decided" in again.text
    assert f'data-dispute="{dispute_id}"' not in http.get(f"{server.url}/console/disputes",
                                                          timeout=5).text


def test_an_upheld_record_counts_again(server) -> None:
    event_id = _other_parking_event(server)
    with server.backend.store.transaction() as conn:
        from backend.score_state import scorecard

        original = scorecard(conn, "rider-low")[0]
    dispute_id = _open(server, event_id, "not me")
    http = sign_in(server)
    csrf = csrf_of(http, server, f"/console/disputes/{dispute_id}")
    done = http.post(f"{server.url}/console/disputes/{dispute_id}/decision",
                     data={"csrf": csrf, "outcome": "upheld",
                           "note": "The photo shows the bike on the pavement."}, timeout=5)
    assert "Decided: upheld" in done.text and _score_on(done.text) == original
    upheld = http.get(f"{server.url}/console/disputes?status=upheld", timeout=5).text
    assert f'data-dispute="{dispute_id}"' in upheld


def test_a_tampered_audit_trail_is_shown_as_not_verifying(server) -> None:
    dispute_id = _open(server, WRONG_PARKING_EVENT_ID, "legal bay")
    with server.backend.store.transaction() as conn:
        conn.execute("UPDATE audit_log SET actor = ? WHERE dispute_id = ?", ("someone", dispute_id))
    page = sign_in(server).get(f"{server.url}/console/disputes/{dispute_id}", timeout=5).text
    assert "does NOT verify at row 1" in page


def test_unknown_disputes_are_a_plain_404(server) -> None:
    http = sign_in(server)
    for path in ("dsp_0123456789abcdef01234567", "not-a-dispute"):
        answer = http.get(f"{server.url}/console/disputes/{path}", timeout=5)
        assert answer.status_code == 404, path
    assert requests.get(f"{server.url}/console/disputes", allow_redirects=False,
                        timeout=5).status_code == 303
