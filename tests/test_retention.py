"""Face-data retention: templates unused for the period are deleted with a tombstone; a use
postpones it; a dry run deletes nothing; the CLI runs it on a back end's database."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from backend import BackendServer, BackendSettings
from backend.retention import run
from hardware.emulated.clock import ManualClock
from terminal.cli.main import main
from tests.test_person_report import Api, _near, _unit

DAY = 86400.0
START = 1_795_689_000.0


def _verify(api: Api, phone: str, seed: int) -> dict[str, Any]:
    resp = requests.post(api.server.url + "/v1/face/verifications", timeout=5,
                         json={"phone_digits": phone, "probe": _near(_unit(seed), 99).tolist()},
                         headers=api.kiosk)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def _tombstones(api: Api) -> list[tuple[str, str]]:
    with api.server.backend.store.transaction() as conn:
        return [(r["subject_id"], r["reason"]) for r in conn.execute(
            "SELECT subject_id, reason FROM face_tombstones ORDER BY subject_id").fetchall()]


def test_templates_unused_for_the_period_go_and_leave_a_tombstone() -> None:
    clock = ManualClock(START)
    with BackendServer(BackendSettings(clock=clock)) as server:
        api = Api(server, clock)
        api.enroll("rider-good", "13800138000", 1)      # never used again
        api.enroll("rider-low", "13700137000", 2)       # used 20 days later
        api.enroll("rider-broke", "13600136000", 3)
        clock.advance(20 * DAY)
        assert _verify(api, "13700137000", 2)["reason"] == "matched"
        api.enroll("rider-blacklisted", "13500135000", 4)  # enrolled 20 days later
        clock.advance(11 * DAY)  # 31 days after the first enrollments
        backend = server.backend
        with backend.store.transaction() as conn:
            dry = run(conn, now=clock(), retention_days=30, dry_run=True)
        assert dry.dry_run and dry.checked == 4
        assert sorted(s for s, _ in dry.deleted) == ["rider-broke", "rider-good"]
        assert _tombstones(api) == []  # a dry run deletes nothing
        with backend.store.transaction() as conn:
            done = run(conn, now=clock(), retention_days=30)
        assert sorted(s for s, _ in done.deleted) == ["rider-broke", "rider-good"]
        assert done.to_json()["deleted"][0]["last_used_at"] == "2026-11-26T10:30:00Z"
        assert _tombstones(api) == [("rider-broke", "unused for 30 days"),
                                    ("rider-good", "unused for 30 days")]
        # Gone: no match any more, and the person's report shows only the tombstone.
        assert _verify(api, "13800138000", 1)["reason"] == "no_match"
        held = api.report("rider-good")["terminal_data"]
        assert held["face_enrolled"] is False
        assert held["tombstone"] == {"deleted_at": "2026-12-27T10:30:00Z",
                                     "reason": "unused for 30 days"}
        kept = api.report("rider-low")["terminal_data"]
        assert kept["face_enrolled"] is True
        assert kept["retention_until"] == "2029-12-15"  # 1095 days after the match
        with backend.store.transaction() as conn:
            assert run(conn, now=clock(), retention_days=30).deleted == ()  # nothing twice
            with pytest.raises(ValueError, match=r"1\.\.3650"):
                run(conn, now=clock(), retention_days=0)


def test_a_template_past_its_consented_period_leaves_a_tombstone_too() -> None:
    clock = ManualClock(START)
    with BackendServer(BackendSettings(clock=clock)) as server:
        api = Api(server, clock)
        api.enroll("rider-good", "13800138000", 1, retention_days=5)
        clock.advance(6 * DAY)
        assert _verify(api, "13800138000", 1)["reason"] == "no_match"
        assert _tombstones(api) == [("rider-good", "retention period ended")]


def test_the_cli_runs_retention_on_a_database(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "backend.sqlite"
    clock = ManualClock(time.time() - 40 * DAY)
    with BackendServer(BackendSettings(database=str(db), clock=clock)) as server:
        Api(server, clock).enroll("rider-good", "13800138000", 1)
    assert main(["backend", "retention", "run", "--db", str(db), "--days", "30", "--dry-run",
                 "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] is True and [d["subject_id"] for d in dry["deleted"]] == ["rider-good"]
    assert main(["backend", "retention", "run", "--db", str(db), "--days", "60"]) == 0
    assert "deleted 0" in capsys.readouterr().out
    assert main(["backend", "retention", "run", "--db", str(db), "--days", "30"]) == 0
    out = capsys.readouterr().out
    assert "deleted 1" in out and "rider-good" in out
    assert main(["backend", "retention", "run", "--db", str(tmp_path / "missing.sqlite")]) != 0
    assert "no back-end database" in capsys.readouterr().err
