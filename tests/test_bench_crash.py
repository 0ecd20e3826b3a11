"""`scanpay bench crash`: a short sample of kill-and-restart cycles, and checks that can fail."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from terminal.bench.crash import _check, run_crash_bench
from terminal.cli.main import main

FAULTS = ("lost_events", "duplicate_events", "double_charges", "orphan_holds", "free_rides",
          "stuck_units")


def test_a_short_crash_sample_leaves_the_books_clean(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Seed 48 kills right after a gateway answer (money moved, never heard), with the latch
    # just opened and nothing journalled, right after an outbox append, and after a delay.
    assert main(["bench", "crash", "--cycles", "4", "--seed", "48", "--json",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    report = json.loads(out[0])
    assert set(report) == {"cycles", *FAULTS}
    assert report["cycles"] == 4
    assert {k: report[k] for k in FAULTS} == dict.fromkeys(FAULTS, 0)
    saved = json.loads((tmp_path / "crash.json").read_text())
    assert saved["points_hit"] == {"money": 1, "unlock": 1, "append": 1}
    assert saved["points_reached"]["unlock"] == 1  # the latch-open crash really happened
    assert saved["rides"] >= 1 and saved["final"]["served"] is True


def test_the_checks_count_what_the_books_show(tmp_path: Path) -> None:
    report, extra = run_crash_bench(1, seed=5, work_dir=tmp_path)
    assert report.clean and extra["rides"] >= 1
    backend, unit = tmp_path / "backend.sqlite3", tmp_path / "unit"
    conn = sqlite3.connect(backend)
    with conn:
        event = conn.execute("SELECT * FROM events WHERE type = 'ride.ended' "
                             "AND terminal_id = 'emu-bike-0001' LIMIT 1").fetchone()
        conn.execute("INSERT INTO events SELECT ?, type, time, terminal_id, subject_id, "
                     "attributes, received_at FROM events WHERE event_id = ?",
                     ("evt_" + "f" * 32, event[0]))  # the same ride end, another id
        charge = conn.execute("SELECT * FROM charges WHERE terminal_id = 'emu-bike-0001' "
                              "LIMIT 1").fetchone()
        conn.execute("INSERT INTO charges SELECT 'ch_again', subject_id, amount_minor, "
                     "currency, refunded_minor, reference, description, hold_id, terminal_id, "
                     "created_at FROM charges WHERE charge_id = ?", (charge[0],))
        conn.execute("INSERT INTO holds VALUES ('hold_left', 'crash-rider-a', 19900, 'CNY', "
                     "'ride_x', 'held', NULL, 'emu-bike-0001', 0)")
        conn.execute("DELETE FROM events WHERE type = 'ride.started' "
                     "AND terminal_id = 'emu-bike-0001'")
    conn.close()
    with open(unit / "latch.log", "a") as fh:
        fh.write("opened\n")  # a bike let out with no ride on record
    checked, _ = _check(backend, unit, cycles=1, stuck=1)
    assert checked.duplicate_events == 1
    assert checked.double_charges == 1
    assert checked.orphan_holds == 1
    assert checked.free_rides == 1
    assert checked.lost_events >= 2 * extra["rides"]  # logged but not stored, and missing
    assert checked.stuck_units == 1
    assert not checked.clean


def test_bad_cycle_counts_are_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "crash", "--cycles", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--cycles" in err[0]
