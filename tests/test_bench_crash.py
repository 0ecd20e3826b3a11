"""`scanpay bench crash`: a short sample of kill-and-restart cycles, and checks that can fail."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from terminal.bench.crash import _check, run_crash_bench
from terminal.bench.fault_proxy import FAULT_KINDS, FaultProxy
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


def test_a_short_backend_kill_sample_leaves_the_books_clean(tmp_path: Path) -> None:
    # The back end is SIGKILLed while the unit rents, and restarted on the same port and file.
    report, extra = run_crash_bench(3, seed=2, work_dir=tmp_path, mode="backend")
    assert {k: getattr(report, k) for k in FAULTS} == dict.fromkeys(FAULTS, 0)
    assert extra["backend_kills"] == 3
    assert extra["backend_kills_mid_life"] >= 2  # the kills struck during rentals
    assert extra["final"] == {"served": True, "unfinished": 0, "money_open": 0,
                              "outbox_pending": 0}
    # A rider whose code could not be checked while the back end was down longer than the
    # unit's budget is told to try again ("failed", nothing charged); every other rental
    # settles.
    assert extra["rides"] >= 3 and set(extra["states"]) <= {"settled", "failed"}
    assert extra["states"]["settled"] >= extra["rentals"] - 1
    assert extra["events_stored"] == extra["events_logged"]  # kept across the restarts


def test_a_short_sample_through_a_faulty_network_leaves_the_books_clean(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "crash", "--cycles", "4", "--faults", "--seed", "1", "--json",
                 "--out", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {k: report[k] for k in FAULTS} == dict.fromkeys(FAULTS, 0)
    saved = json.loads((tmp_path / "crash.json").read_text())
    assert saved["faults"] is True and saved["final"]["served"] is True
    injected = saved["faults_injected"]
    assert set(injected) <= set(FAULT_KINDS) and len(injected) >= 3


def test_an_unknown_mode_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "crash", "--mode", "kiosk"])
    assert "--mode" in capsys.readouterr().err


class _Upstream:
    """A tiny real HTTP server that answers JSON and counts what reached it."""

    def __init__(self) -> None:
        outer = self
        self.hits = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.hits += 1
                body = json.dumps({"ok": True, "pad": "x" * 40}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream() -> Iterator[_Upstream]:
    server = _Upstream()
    yield server
    server.close()


@pytest.mark.parametrize(("fault", "reached", "seen"), [
    ("refused", 0, requests.ConnectionError),
    ("timeout", 0, requests.Timeout),
    ("drip", 1, 200),
    ("error_5xx", 0, 503),
    ("malformed", 1, ValueError),
    ("truncated", 1, requests.RequestException),
    ("lost", 1, requests.ConnectionError),
])
def test_the_fault_proxy_breaks_each_request_the_way_it_is_told(
        upstream: _Upstream, fault: str, reached: int, seen: object) -> None:
    with FaultProxy(upstream.url, fault_rate=1.0, faults=(fault,), hold_s=2.0,
                    drip_s=0.05) as proxy:
        session = requests.Session()
        session.trust_env = False

        def ask() -> int:
            response = session.post(f"{proxy.url}/v1/x", json={"a": 1}, timeout=(1.0, 0.3))
            if response.status_code == 200:
                assert response.json()["ok"] is True
            return response.status_code

        if isinstance(seen, int):
            assert ask() == seen
        else:
            assert isinstance(seen, type)
            with pytest.raises(seen):
                ask()
        session.close()
    assert upstream.hits == reached
    assert proxy.injected == {fault: 1}


def test_the_fault_proxy_forwards_untouched_without_faults_or_after_heal(
        upstream: _Upstream) -> None:
    with FaultProxy(upstream.url, fault_rate=1.0, faults=("error_5xx",)) as proxy:
        assert requests.post(f"{proxy.url}/v1/x", json={}, timeout=2).status_code == 503
        proxy.heal()
        answer = requests.post(f"{proxy.url}/v1/x", json={}, timeout=2)
        assert answer.status_code == 200 and answer.json()["ok"] is True
    assert upstream.hits == 1 and proxy.forwarded == ["POST /v1/x"]
