"""`scanpay doctor` finds each injected fault and says how to fix it.

The back end is the real reference server on loopback; clocks, disk usage and clock sync are
injected through :class:`terminal.doctor.Probes`.
"""

from __future__ import annotations

import hashlib
import json
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware import factory
from terminal.cli.main import main
from terminal.config import default_config_path, load_config
from terminal.config.schema import Config
from terminal.doctor import DiskUsage, Probes, Report, run_checks
from terminal.emulator.session import Emulator

GB = 1024 ** 3
PLENTY = DiskUsage(total=32 * GB, used=8 * GB, free=24 * GB)


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    config = load_config(default_config_path("emulator"))
    with Emulator(config, state_dir=tmp_path_factory.mktemp("backend")) as emulator:
        yield emulator


def _config(tmp_path: Path, *, url: str, key: str, camera: str = 'kind = "synthetic"\nfps = 15.0',
            extra: str = "", role: str = "bike-lock", terminal_id: str = "emu-bike-0001"
            ) -> Config:
    state = tmp_path / "state"
    text = f"""
[terminal]
id = "{terminal_id}"
role = "{role}"
state_dir = "{state}"

[score_service]
url = "{url}"
api_key = "{key}"
connect_timeout_s = 1.0
read_timeout_s = 2.0

[gateway]
url = "{url}"
api_key = "{key}"
connect_timeout_s = 1.0
read_timeout_s = 2.0

[camera]
{camera}

[lock]
kind = "emulated"
{extra}
"""
    path = tmp_path / "unit.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def _probes(**overrides: object) -> Probes:
    values: dict[str, object] = {"disk_usage": lambda path: PLENTY,
                                 "clock_synced": lambda: True, "camera_probe_s": 0.3}
    values.update(overrides)
    return Probes(**values)  # type: ignore[arg-type]


def _check(report: Report, name: str) -> dict[str, object]:
    found = [c for c in report.as_dict()["checks"] if c["name"] == name]
    assert found, f"no check named {name!r} in {[c.name for c in report.checks]}"
    return found[0]


def _failed_names(report: Report) -> list[str]:
    return [c.name for c in report.checks if not c.ok]


def test_a_healthy_unit_passes_every_check(backend: Emulator, tmp_path: Path) -> None:
    config = _config(tmp_path, url=backend.server.url, key=backend.api_key)
    report = run_checks(config, _probes())
    assert _failed_names(report) == []
    assert report.ok
    names = [c.name for c in report.checks]
    assert names == ["camera", "lock", "battery", "libzbar", "clock sync", "score service",
                     "clock skew", "score service key", "gateway", "gateway key", "disk", "outbox"]
    assert "640x480" in str(_check(report, "camera")["detail"])


def test_a_missing_camera_fails_with_what_to_do(backend: Emulator, tmp_path: Path) -> None:
    config = _config(tmp_path, url=backend.server.url, key=backend.api_key,
                     camera=f'kind = "file"\npath = "{tmp_path / "no-such-video.mp4"}"')
    report = run_checks(config, _probes())
    assert not report.ok
    camera = _check(report, "camera")
    assert camera["ok"] is False
    assert "not found" in str(camera["detail"])
    assert "camera.path" in str(camera["fix"])
    assert _failed_names(report) == ["camera"]


def test_a_camera_delivering_the_wrong_size_is_reported(backend: Emulator, tmp_path: Path
                                                         ) -> None:
    config = _config(tmp_path, url=backend.server.url, key=backend.api_key)

    def small_camera(section: object) -> object:
        return factory.open_camera("synthetic", size=(320, 240))

    report = run_checks(config, _probes(open_camera=small_camera))
    camera = _check(report, "camera")
    assert camera["ok"] is False and "320x240" in str(camera["detail"])
    assert "camera.width/height" in str(camera["fix"])


def test_a_model_file_with_the_wrong_checksum_fails(backend: Emulator, tmp_path: Path) -> None:
    model = tmp_path / "antispoof.onnx"
    model.write_bytes(b"not the model the operator meant")
    wrong = hashlib.sha256(b"the real model").hexdigest()
    config = _config(tmp_path, url=backend.server.url, key=backend.api_key, role="kiosk",
                     terminal_id="emu-bike-0001",
                     extra=f'\n[face]\nantispoof_model = "{model}"\nantispoof_sha256 = "{wrong}"\n')
    report = run_checks(config, _probes())
    check = _check(report, "antispoof model")
    assert check["ok"] is False
    assert wrong[:12] in str(check["detail"])
    assert hashlib.sha256(model.read_bytes()).hexdigest()[:12] in str(check["detail"])
    assert "antispoof_sha256" in str(check["fix"])
    assert not report.ok


def test_a_model_file_with_the_right_checksum_passes(backend: Emulator, tmp_path: Path) -> None:
    model = tmp_path / "antispoof.onnx"
    model.write_bytes(b"model bytes")
    right = hashlib.sha256(b"model bytes").hexdigest()
    config = _config(tmp_path, url=backend.server.url, key=backend.api_key, role="kiosk",
                     extra=f'\n[face]\nantispoof_model = "{model}"\nantispoof_sha256 = "{right}"\n')
    report = run_checks(config, _probes())
    assert _check(report, "antispoof model")["ok"] is True


def test_a_skewed_clock_is_caught_against_the_back_ends_time(backend: Emulator, tmp_path: Path
                                                              ) -> None:
    config = _config(tmp_path, url=backend.server.url, key=backend.api_key)
    report = run_checks(config, _probes(wall_clock=lambda: time.time() + 300.0))
    skew = _check(report, "clock skew")
    assert skew["ok"] is False
    assert "ahead of" in str(skew["detail"])
    assert "timedatectl" in str(skew["fix"])
    assert not report.ok


def test_an_unsynchronised_clock_is_reported(backend: Emulator, tmp_path: Path) -> None:
    config = _config(tmp_path, url=backend.server.url, key=backend.api_key)
    report = run_checks(config, _probes(clock_synced=lambda: False))
    assert _failed_names(report) == ["clock sync"]
    assert "set-ntp" in str(_check(report, "clock sync")["fix"])


def test_a_back_end_that_is_down_is_unreachable(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = _config(tmp_path, url=f"http://127.0.0.1:{port}", key="k")
    report = run_checks(config, _probes())
    assert _failed_names(report) == ["score service", "gateway"]
    check = _check(report, "score service")
    assert "unreachable" in str(check["detail"])
    assert "score_service.url" in str(check["fix"])
    assert not report.ok


def test_a_wrong_key_is_refused_by_the_back_end(backend: Emulator, tmp_path: Path) -> None:
    config = _config(tmp_path, url=backend.server.url, key="not-this-terminals-key")
    report = run_checks(config, _probes())
    assert _failed_names(report) == ["score service key", "gateway key"]
    check = _check(report, "score service key")
    assert "401" in str(check["detail"])
    assert "score_service.api_key" in str(check["fix"])


def test_a_nearly_full_disk_fails(backend: Emulator, tmp_path: Path) -> None:
    config = _config(tmp_path, url=backend.server.url, key=backend.api_key)
    nearly_full = DiskUsage(total=32 * GB, used=32 * GB - 50 * 1024 * 1024,
                            free=50 * 1024 * 1024)
    seen: list[str] = []

    def disk_usage(path: str) -> DiskUsage:
        seen.append(path)
        return nearly_full

    report = run_checks(config, _probes(disk_usage=disk_usage))
    assert _failed_names(report) == ["disk"]
    assert "50 MB free" in str(_check(report, "disk")["detail"])
    assert seen and Path(seen[0]) in (tmp_path / "state", tmp_path)


def test_the_outbox_backlog_and_its_oldest_event_are_reported(backend: Emulator,
                                                              tmp_path: Path) -> None:
    from payments.events import make_event
    from payments.outbox import Outbox

    config = _config(tmp_path, url=backend.server.url, key=backend.api_key)
    with Outbox(tmp_path / "state" / "outbox.sqlite3", clock=lambda: 1_000.0) as outbox:
        for i in range(3):
            outbox.append(make_event("ride.ended", terminal_id="emu-bike-0001",
                                     subject_id="sub_1", attributes={"ride_id": f"ride_{i}"}))
    report = run_checks(config, _probes(wall_clock=lambda: 1_000.0 + 2 * 3600))
    outbox_check = _check(report, "outbox")
    assert "3 event(s) waiting" in str(outbox_check["detail"])
    assert "2.0 h old" in str(outbox_check["detail"])
    assert outbox_check["ok"] is False  # stale uploads: a warning ...
    assert any(c.name == "outbox" and not c.needed for c in report.checks)
    with sqlite3.connect(tmp_path / "state" / "outbox.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 3  # read only


def test_gpio_lock_pins_and_latch_are_read(backend: Emulator, tmp_path: Path) -> None:
    from gpiozero.pins.mock import MockFactory

    config = _config(tmp_path, url=backend.server.url, key=backend.api_key)
    pins = MockFactory()

    def open_lock(section: object) -> object:
        return factory.open_lock("gpio", relay_pin=17, latch_pin=27, pin_factory=pins)

    report = run_checks(config, _probes(open_lock=open_lock))
    lock = _check(report, "lock")
    assert lock["ok"] is True and "latch reads" in str(lock["detail"])


def test_a_low_battery_is_reported_with_what_to_do(backend: Emulator, tmp_path: Path) -> None:
    from hardware.emulated.lock import EmulatedLock

    config = _config(tmp_path, url=backend.server.url, key=backend.api_key,
                     extra="low_battery_pct = 20")
    report = run_checks(config, _probes(open_lock=lambda section: EmulatedLock(battery=9)))
    assert _failed_names(report) == ["battery"] and not report.ok
    battery = _check(report, "battery")
    assert "9% charged (no new ride below 20%)" in str(battery["detail"])
    assert "charge or replace the battery" in str(battery["fix"])


def test_the_gpio_locks_fuel_gauge_is_read_and_an_unreadable_one_is_a_warning(
        backend: Emulator, tmp_path: Path) -> None:
    from gpiozero.pins.mock import MockFactory

    gauge = tmp_path / "capacity"
    gauge.write_text("73\n", encoding="ascii")
    config = _config(tmp_path, url=backend.server.url, key=backend.api_key,
                     extra=f'battery_path = "{gauge}"')
    pins = MockFactory()

    def open_lock(section: object) -> object:
        return factory.open_lock("gpio", relay_pin=17, latch_pin=27, pin_factory=pins,
                                 battery_path=str(gauge))

    report = run_checks(config, _probes(open_lock=open_lock))
    assert _check(report, "battery") == {"name": "battery", "ok": True, "fix": "",
                                         "detail": "73% charged (no new ride below 15%)"}
    gauge.unlink()
    report = run_checks(config, _probes(open_lock=open_lock))
    assert _failed_names(report) == ["battery"] and report.ok  # a warning only
    assert "cannot be read" in str(_check(report, "battery")["detail"])


def test_a_missing_libzbar_is_reported(backend: Emulator, tmp_path: Path) -> None:
    config = _config(tmp_path, url=backend.server.url, key=backend.api_key)
    report = run_checks(config, _probes(find_library=lambda name: None))
    assert _failed_names(report) == ["libzbar"]
    assert "libzbar0" in str(_check(report, "libzbar")["fix"])


def test_cli_json_is_one_object_and_exit_status_one_on_failure(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "emu.toml"
    path.write_text(default_config_path("emulator").read_text(encoding="utf-8").replace(
        'kind = "synthetic"', f'kind = "file"\npath = "{tmp_path / "missing.png"}"'),
        encoding="utf-8")
    status = main(["doctor", "--config", str(path), "--json"])
    out = capsys.readouterr().out
    assert status == 1
    body = json.loads(out)
    assert out.count("\n") == 1
    assert body["ok"] is False
    assert all(set(c) == {"name", "ok", "detail", "fix"} for c in body["checks"])
    assert [c["name"] for c in body["checks"] if not c["ok"] and c["name"] != "clock sync"] == [
        "camera"]


def test_cli_text_prints_one_line_per_check(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["doctor", "--config", str(default_config_path("emulator"))])
    lines = capsys.readouterr().out.splitlines()
    assert status == 0  # the emulator's clock sync is only a warning
    assert lines[0].startswith("ok    camera")
    assert lines[-1] == "all needed checks passed"
    assert any(line.split()[1:3] == ["back", "end"] for line in lines)


def test_cli_without_a_configuration_is_one_error_line(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    from terminal.cli import doctor

    monkeypatch.setattr(doctor, "DEFAULT_CONFIGS", (str(tmp_path / "bike-lock.toml"),))
    assert main(["doctor"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pass --config FILE" in err
