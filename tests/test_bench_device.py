"""`scanpay bench device` on a short soak, and the bike unit's import budget."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

from terminal.bench.device import measure_unit, unit_config
from terminal.cli.main import main
from terminal.config import load_config

REPO = Path(__file__).resolve().parents[1]
# Modules a bike-lock unit never needs: the face pipeline, its models, plotting, the kiosk.
FACE_STACK = re.compile(r"^(mediapipe|dlib|_dlib_pybind11|face_recognition|"
                        r"face_recognition_models|onnxruntime|matplotlib|"
                        r"vision\.face\.(embedding|liveness|probe|antispoof|passive|clip)|"
                        r"terminal\.kiosk|terminal\.bench|terminal\.emulator\.customer)(\.|$)")


def test_a_bike_lock_unit_never_imports_the_face_stack(tmp_path: Path) -> None:
    config = tmp_path / "bike.toml"
    (tmp_path / "state").mkdir()
    config.write_text(unit_config("bike-lock", tmp_path / "state"), encoding="utf-8")
    notify_path = str(tmp_path / "notify.sock")
    # -X importtime writes a line per module to stderr: into a file, since a pipe nobody reads
    # until the end fills up (64 KiB) and stops the unit before it is ready.
    err_path = tmp_path / "importtime.txt"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify, \
            err_path.open("w", encoding="utf-8") as err_file:
        notify.bind(notify_path)
        notify.settimeout(120)  # a bound on a broken run, not a timing assertion
        proc = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-m", "terminal.cli.main", "run", "--config",
             str(config)], cwd=REPO, env={**os.environ, "NOTIFY_SOCKET": notify_path},
            stdout=subprocess.DEVNULL, stderr=err_file, text=True)
        try:
            assert notify.recv(4096).startswith(b"READY=1")
            assert notify.recv(4096) == b"WATCHDOG=1"  # the scan loop is running
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
    err = err_path.read_text(encoding="utf-8")
    assert proc.returncode == 0, err[-500:]
    imported = {line.rsplit("|", 1)[1].strip() for line in err.splitlines()
                if line.startswith("import time:") and "|" in line}
    assert "terminal.bikelock.service" in imported and "vision.qr" in imported
    assert sorted(m for m in imported if FACE_STACK.match(m)) == []


def test_unit_configs_are_the_emulated_ones_with_a_state_folder(tmp_path: Path) -> None:
    for unit in ("bike-lock", "kiosk"):
        path = tmp_path / f"{unit}.toml"
        path.write_text(unit_config(unit, tmp_path / unit), encoding="utf-8")
        config = load_config(path)
        assert config.terminal.role == unit
        assert config.terminal.state_dir == str(tmp_path / unit)
        assert config.emulator is not None and config.emulator.enabled
        assert config.camera.fps == 15.0


def test_measure_unit_reports_ready_time_memory_and_idle_cpu() -> None:
    result = measure_unit("bike-lock", soak_s=2.0, idle_s=1.0, say=lambda _m: None)
    assert result["ready_s"] > 0
    assert result["rss_mb_end"] > 10
    assert len(result["rss_series"]) >= 2
    assert result["idle_cpu_share"] >= 0
    assert result["processes"] >= 1


def test_bench_device_writes_json_and_plots(tmp_path: Path) -> None:
    status = main(["bench", "device", "--soak-s", "2", "--idle-s", "1", "--frames", "30",
                   "--units", "bike-lock", "--skip-face", "--out", str(tmp_path)])
    assert status == 0
    report = json.loads((tmp_path / "device.json").read_text(encoding="utf-8"))
    assert set(report["units"]) == {"bike-lock"}
    assert report["frames"]["frames"] == 30
    assert report["frames"]["rss_series"][-1][0] >= 30
    assert (tmp_path / "rss_over_time.png").stat().st_size > 0
    assert (tmp_path / "rss_over_frames.png").stat().st_size > 0


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    assert main(["bench", "device", "--soak-s", "2", "--idle-s", "5", "--out",
                 str(tmp_path)]) == 2
    assert main(["bench", "device", "--units", "toaster", "--out", str(tmp_path)]) == 2


def test_units_are_measured_against_a_separate_back_end(tmp_path: Path) -> None:
    from terminal.bench.device import with_separate_back_end

    for unit in ("bike-lock", "kiosk"):
        path = tmp_path / f"{unit}.toml"
        path.write_text(with_separate_back_end(unit_config(unit, tmp_path / unit),
                                               "http://127.0.0.1:8750", "key-1"),
                        encoding="utf-8")
        config = load_config(path)
        assert config.emulator is None
        assert config.score_service.url == config.gateway.url == "http://127.0.0.1:8750"
        assert config.gateway.api_key == "key-1"


def test_tree_memory_counts_the_children_of_a_process() -> None:
    from terminal.bench.device_kiosk import tree_memory_mb

    alone = tree_memory_mb(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    try:
        with_child = tree_memory_mb(os.getpid())
    finally:
        child.communicate(b"")
    assert with_child["processes"] == alone["processes"] + 1
    assert with_child["rss_mb"] > alone["rss_mb"] and with_child["pss_mb"] > 0


def test_the_kiosks_memory_grows_once_its_face_models_are_loaded() -> None:
    from terminal.bench.device_kiosk import measure_kiosk_face

    report = measure_kiosk_face(workers=(0,))["workers_0"]
    steps = report["steps"]
    assert report["embed_workers"] == 0 and report["sensors"] == len(steps) - 1
    assert steps["payment_sensor_loaded"]["rss_mb"] > steps["started"]["rss_mb"] + 50
