"""`scanpay face liveness` reports the kiosk's replay cues (flat face flow, flicker banding,
screen moiré) with the kiosk's [face] limits: a real clip passes them, the same clip replayed
on a monitor (the bench's renderer) does not."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import cv2
import numpy as np
import pytest

from terminal.cli.face import SESSION_CUES, clip_limits
from terminal.cli.main import main
from terminal.config.schema import FaceSection
from tests.face_shared import FACES

REPO = Path(__file__).resolve().parents[1]
CLIP = FACES / "video" / "blink" / "focus-mahie-1_0063-0126.mp4"
needs_clip = pytest.mark.skipif(not CLIP.is_file(), reason=f"shared clip {CLIP.name} not present")
# [face] keys of the replay cues and the name the CLI reports each limit under.
CUE_KEYS = ("flat_motion_min_bend", "flat_motion_max_ratio", "max_banding", "max_screen_moire")


def _kiosk_face() -> dict[str, object]:
    with open(REPO / "configs" / "kiosk.toml", "rb") as fh:
        return tomllib.load(fh)["face"]


def test_without_a_config_the_limits_are_the_kiosks() -> None:
    kiosk, limits = _kiosk_face(), clip_limits(FaceSection(), session_cues=True)
    assert limits.session is not None
    assert (limits.session.flat_min_bend, limits.session.flat_max_ratio,
            limits.session.max_banding, limits.session.max_moire) == tuple(
        kiosk[k] for k in CUE_KEYS)
    assert (limits.max_moire, limits.max_specular) == (kiosk["max_moire"], kiosk["max_specular"])
    assert clip_limits(FaceSection()).session is None  # the clip bench measures none


def test_a_config_moves_the_replay_limits(tmp_path: Path) -> None:
    section = FaceSection(max_banding=9.5, max_screen_moire=3.0)
    session = clip_limits(section, session_cues=True).session
    assert session is not None and (session.max_banding, session.max_moire) == (9.5, 3.0)


def _liveness(capsys: pytest.CaptureFixture[str], path: Path, *extra: str) -> dict:
    assert main(["face", "liveness", "--json", *extra, str(path)]) == 0
    return json.loads(capsys.readouterr().out)


@needs_clip
def test_a_real_clip_passes_the_replay_cues(capsys: pytest.CaptureFixture[str]) -> None:
    record = _liveness(capsys, CLIP)
    kiosk = _kiosk_face()
    assert record["session_cues"] == {
        "measured": True, "passed": True, "failed": [],
        "limits": {k: kiosk[k] for k in CUE_KEYS}}
    for name in SESSION_CUES:
        assert record["checks"][name]["passed"] is True
    banding = record["checks"]["banding"]["observed"]
    assert banding["frames"] > 30 and banding["limit"] == kiosk["max_banding"]
    assert banding["median"] < kiosk["max_banding"]
    assert record["checks"]["flat_motion"]["observed"]["pairs"] > 0
    assert record["live"] is True


@needs_clip
def test_the_same_clip_replayed_on_a_monitor_fails_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from terminal.bench.face_replay import FPS, _read, render_replay

    frames, fps = _read(CLIP)
    shown = render_replay(frames[:45], fps, variant="monitor", seed=1)  # 1.5 s
    path = tmp_path / "replay.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS,
                             (shown[0].shape[1], shown[0].shape[0]))
    for frame in shown:
        writer.write(frame)
    writer.release()
    record = _liveness(capsys, path)
    assert record["session_cues"]["measured"] is True
    assert record["session_cues"]["passed"] is False
    assert "banding" in record["session_cues"]["failed"]
    assert record["checks"]["banding"]["score"] > _kiosk_face()["max_banding"]
    assert record["live"] is False
    # The readable line says so too, with the numbers.
    assert main(["face", "liveness", str(path)]) == 0
    line = capsys.readouterr().out
    assert "NOT live" in line and "replay cues FAILED (banding" in line
    assert "flicker banding" in line and "(limit 2.6)" in line


def test_a_still_image_has_no_replay_cues(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "blank.png"
    cv2.imwrite(str(path), np.full((120, 160, 3), 200, np.uint8))
    record = _liveness(capsys, path)
    assert record["session_cues"]["measured"] is False
    assert record["session_cues"]["passed"] is False
    assert not set(SESSION_CUES) & set(record["checks"])
