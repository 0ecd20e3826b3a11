"""The unit's Prometheus metrics: counted where things happen, served over real HTTP."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hardware.emulated import ManualClock
from payments.events import make_event
from payments.outbox import Outbox
from terminal.config import default_config_path
from terminal.metrics import BikeNoticeMeter, UnitMetrics
from terminal.metrics.logs import ErrorCountingHandler
from terminal.metrics.outbox import OutboxCollector
from terminal.metrics.server import MetricsServer, MetricsServerError

REPO = Path(__file__).resolve().parents[1]


def _metrics(clock: ManualClock | None = None) -> UnitMetrics:
    return UnitMetrics(terminal_id="bike-0001", role="bike-lock", clock=clock or ManualClock())


def _event(kind: str, n: int = 0) -> object:
    return make_event(kind, terminal_id="bike-0001", subject_id="sub_1",
                      attributes={"ride_id": f"ride_{n}"},
                      clock=lambda: datetime(2026, 11, 26, tzinfo=UTC))


def _value(metrics: UnitMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels or None)


def test_codes_and_decode_time_are_counted() -> None:
    metrics = _metrics()
    metrics.code_decoded(0.012)
    metrics.code_decoded(0.030)
    assert _value(metrics, "scanpay_codes_decoded_total") == 2
    assert _value(metrics, "scanpay_decode_seconds_count") == 2
    assert _value(metrics, "scanpay_decode_seconds_sum") == pytest.approx(0.042)
    assert _value(metrics, "scanpay_decode_seconds_bucket", le="0.02") == 1


def test_uptime_follows_the_injected_clock() -> None:
    clock = ManualClock(1000.0)
    metrics = _metrics(clock)
    clock.advance(42.0)
    assert _value(metrics, "scanpay_uptime_seconds") == 42.0
    assert b'scanpay_unit_info{role="bike-lock",terminal_id="bike-0001"} 1.0' in metrics.render()


def test_bike_payment_latency_runs_from_code_seen_to_the_outcome() -> None:
    clock = ManualClock()
    metrics = _metrics()
    meter = BikeNoticeMeter(metrics, clock=clock)

    class Notice:
        def __init__(self, state: str) -> None:
            self.state = state

    meter(Notice("code_seen"))
    clock.advance(1.25)
    meter(Notice("score_checked"))
    meter(Notice("unlocked"))
    meter(Notice("riding"))
    meter(Notice("code_seen"))
    clock.advance(0.5)
    meter(Notice("failed"))
    assert _value(metrics, "scanpay_payment_seconds_sum", outcome="unlocked") == 1.25
    assert _value(metrics, "scanpay_payment_seconds_count", outcome="failed") == 1
    assert _value(metrics, "scanpay_errors_total", kind="bikelock.rental", level="error") == 1


def test_outbox_backlog_age_and_new_events_by_type(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path, clock=lambda: 500.0) as outbox:
        outbox.append(_event("ride.started", 1))  # before the unit's metrics started
        metrics = _metrics()
        collector = OutboxCollector(path, metrics, wall_clock=lambda: 800.0)
        metrics.add_collector(collector, refresh=collector.catch_up)
        outbox.append(_event("ride.ended", 2))
        outbox.append(_event("liveness.failed", 3))
        outbox.append(_event("face.verified", 4))
        assert _value(metrics, "scanpay_outbox_pending") == 4
        assert _value(metrics, "scanpay_outbox_oldest_age_seconds") == 300.0
        assert _value(metrics, "scanpay_events_total", type="ride.ended") == 1
        assert _value(metrics, "scanpay_events_total", type="ride.started") is None
        assert _value(metrics, "scanpay_liveness_outcomes_total", outcome="failed") == 1
        assert _value(metrics, "scanpay_liveness_outcomes_total", outcome="passed") == 1
        outbox.mark_delivered([e.event.id for e in outbox.pending()])
        assert _value(metrics, "scanpay_outbox_pending") == 0
        assert _value(metrics, "scanpay_outbox_oldest_age_seconds") == 0
        assert _value(metrics, "scanpay_events_total", type="ride.ended") == 1  # not twice


def test_an_outbox_created_after_start_has_all_its_events_counted(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    metrics = _metrics()
    collector = OutboxCollector(path, metrics)
    metrics.add_collector(collector, refresh=collector.catch_up)
    assert _value(metrics, "scanpay_outbox_pending") == 0
    with Outbox(path) as outbox:
        outbox.append(_event("ride.started"))
    assert _value(metrics, "scanpay_events_total", type="ride.started") == 1


def test_warnings_and_errors_are_counted_by_component() -> None:
    metrics = _metrics()
    logger = logging.getLogger("payments.uploader.detail")
    handler = ErrorCountingHandler(metrics)
    logger.addHandler(handler)
    try:
        logger.warning("upload failed")
        logger.error("upload failed again")
        logger.info("not a problem")
    finally:
        logger.removeHandler(handler)
    assert _value(metrics, "scanpay_errors_total", kind="payments.uploader", level="warning") == 1
    assert _value(metrics, "scanpay_errors_total", kind="payments.uploader", level="error") == 1


def test_metrics_are_served_as_prometheus_text_over_http() -> None:
    metrics = _metrics()
    metrics.code_decoded(0.01)
    with MetricsServer(metrics, host="127.0.0.1", port=0) as server:
        with urllib.request.urlopen(server.url, timeout=10) as response:
            body = response.read().decode()
            content_type = response.headers["Content-Type"]
        server.close()
    assert content_type.startswith("text/plain")
    assert "scanpay_codes_decoded_total 1.0" in body
    assert "# TYPE scanpay_uptime_seconds gauge" in body


def test_a_busy_port_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MetricsServerError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            MetricsServer(_metrics(), host="127.0.0.1", port=port)


def test_scanpay_run_serves_metrics_and_tells_systemd_it_is_ready(tmp_path: Path) -> None:
    config = tmp_path / "bike.toml"
    config.write_text(default_config_path("emulator").read_text(encoding="utf-8")
                      + '\n[metrics]\nenabled = true\nhost = "127.0.0.1"\nport = 0\n',
                      encoding="utf-8")
    notify_path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(notify_path)
        notify.settimeout(60)  # a bound on a broken run, not a timing assertion
        env = {**os.environ, "NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "2000000"}
        proc = subprocess.Popen([sys.executable, "-m", "terminal.cli.main", "run", "--config",
                                 str(config)], cwd=REPO, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert notify.recv(4096).startswith(b"READY=1")
            assert notify.recv(4096) == b"WATCHDOG=1"
            url = ""
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("metrics at "):
                    url = line.split()[-1]
                    break
            with urllib.request.urlopen(url, timeout=10) as response:
                body = response.read().decode()
            assert 'scanpay_unit_info{role="bike-lock",terminal_id="emu-bike-0001"}' in body
            assert "scanpay_outbox_pending" in body
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert err == ""
