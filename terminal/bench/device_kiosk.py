"""The kiosk part of `scanpay bench device` that needs the face models: its memory once loaded.

A kiosk loads MediaPipe's tracker and dlib's models on its first face payment (and starts
``embed_workers`` embedding processes, each with its own copy of the models). Here the kiosk is
built as `scanpay run` builds it (same configuration, its back end in another process), its
face sensor is recorded as the kiosk creates it (payments and the enrolment desk share it), it
is started without loading the models, and :meth:`VisionFaceSensor.prepare` — what a running
kiosk loads in the background at start — is called. The whole process
tree is measured after each step: resident memory summed over the processes (RSS, counts
shared libraries once per process) and proportional set size (PSS, shares them out).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any


def kiosk_face_memory(config_path: str, *, settle_s: float = 3.0) -> dict[str, Any]:
    """RSS and PSS of this process and its children: kiosk started, payment sensor loaded,
    enrolment desk's sensor loaded too."""
    from terminal.config import load_config
    from terminal.endpoints import Endpoints
    from terminal.kiosk.app import KioskApp
    from terminal.kiosk.face_sensor import VisionFaceSensor

    config = load_config(Path(config_path))
    if config.face is None:
        return {"skipped": "the kiosk configuration has no [face] section"}
    sensors: list[VisionFaceSensor] = []

    def sensor_factory(face: Any, clock: Any) -> VisionFaceSensor:
        sensor = VisionFaceSensor(face, clock=clock)
        sensors.append(sensor)
        return sensor

    steps: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="scanpay-bench-kiosk-face-") as tmp, KioskApp(
            config, Endpoints.from_config(config), state_dir=Path(tmp), port=0,
            sensor_factory=sensor_factory, preload_face=False):
        time.sleep(settle_s)
        steps["started"] = tree_memory_mb(os.getpid())
        for name, sensor in zip(("payment_sensor_loaded", "enrol_desk_loaded_too"), sensors,
                                strict=False):
            sensor.prepare()
            time.sleep(settle_s)
            steps[name] = tree_memory_mb(os.getpid())
    face = config.face
    return {"embed_workers": face.embed_workers, "mirror_pass": face.mirror_pass,
            "probe_frames": face.probe_frames, "sensors": len(sensors), "steps": steps}


def tree_memory_mb(pid: int) -> dict[str, float]:
    """``{"rss_mb", "pss_mb", "processes"}`` of ``pid`` and its descendants."""
    from terminal.bench.device import _rss_bytes, _tree

    pids = _tree(pid)
    return {"rss_mb": round(_rss_bytes(pids) / 2 ** 20, 1),
            "pss_mb": round(sum(_pss_kb(p) for p in pids) / 1024, 1),
            "processes": len(pids)}


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return 0


def print_kiosk_face(report: dict[str, Any]) -> None:
    """The kiosk-with-face-models lines of the summary."""
    if report.get("skipped"):
        print(f"kiosk with face models: skipped ({report['skipped']})")
        return
    print(f"kiosk with face models (embed_workers {report['embed_workers']}, mirror pass "
          f"{'on' if report['mirror_pass'] else 'off'}): RSS / PSS MB, processes")
    for name, m in report["steps"].items():
        print(f"  {name:<24} {m['rss_mb']:>7.0f} {m['pss_mb']:>7.0f} {m['processes']:>4.0f}")


def measure_kiosk_face(workers: tuple[int, ...] = (0, 1, 2),
                       say: Any = lambda line: None) -> dict[str, Any]:
    """:func:`kiosk_face_memory` in a fresh `scanpay run`-like process per ``embed_workers``
    setting, the back end in this process."""
    import re

    from terminal.bench.device import _child, unit_config, with_separate_back_end
    from terminal.config import load_config
    from terminal.emulator.session import Emulator

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="scanpay-bench-kiosk-face-") as tmp:
        folder = Path(tmp)
        (folder / "state").mkdir()
        text = unit_config("kiosk", folder / "state")
        config = folder / "kiosk.toml"
        config.write_text(text, encoding="utf-8")
        with Emulator(load_config(config), state_dir=folder) as emulator:
            score = emulator.endpoints().score
            separate = with_separate_back_end(text, score.url, score.api_key)
            for n in workers:
                config.write_text(re.sub(r"(?m)^embed_workers = \d+", f"embed_workers = {n}",
                                         separate), encoding="utf-8")
                say(f"  kiosk with face models, embed_workers = {n}")
                out[f"workers_{n}"] = _child("kiosk_face", {"config": str(config)})
    return out
