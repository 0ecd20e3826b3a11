"""`scanpay face enroll --video` on short clips: read more than once, or refused with its length."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from backend.server import BackendServer
from backend.settings import BackendSettings
from terminal.cli.face_enroll import MAX_CLIP_READS, EnrollClip, clip_reads
from terminal.cli.main import main
from tests.face_shared import FACES
from tests.wallet import wallet_code

TERMINAL = "emu-kiosk-0001"
PHONE = "13800001234"
EYEBLINK8 = FACES / "video" / "eyeblink8"


@pytest.fixture(scope="module")
def server():
    with BackendServer(BackendSettings()) as running:
        yield running


@pytest.fixture
def backend_args(server) -> list[str]:
    with server.backend.store.transaction() as conn:
        conn.execute("DELETE FROM face_enrollments")
    return ["--backend", server.url, "--api-key", server.api_key_for(TERMINAL)]


def _enroll_argv(server, video: Path, backend_args: list[str]) -> list[str]:
    return ["face", "enroll", "--consent", "--given-by", "A", "--retention-days", "30",
            "--code", wallet_code(server.backend, "rider-good"), "--phone", PHONE,
            "--video", str(video), "--json", *backend_args]


def _write_video(path: Path, frames: int, fps: float = 30.0) -> Path:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), 40 + 10 * i, dtype=np.uint8))
    writer.release()
    return path


def test_a_long_enough_clip_is_read_once_and_a_short_one_again() -> None:
    assert clip_reads(60, 30.0, 5, 0.15) == 1  # 2 s: kept frames 5 apart, 12 of them
    # 12 frames at 30 fps: frames 0, 5, 10 can be kept in one read; 2 reads give 5, plus one
    # more for a frame the quality gates refuse.
    assert clip_reads(12, 30.0, 5, 0.15) == 3
    assert clip_reads(8, 30.0, 5, 0.15) == 4
    assert clip_reads(5, 30.0, 5, 0.15) == 6  # one frame a read
    assert clip_reads(5, 30.0, 20, 0.15) == MAX_CLIP_READS


def test_each_read_of_a_short_clip_starts_further_in_and_time_runs_on() -> None:
    frames = tuple(np.full((2, 2, 3), i, dtype=np.uint8) for i in range(8))
    played = list(EnrollClip(frames, 30.0, 4).replay())
    assert len(played) == 32
    times = [t for _, t in played]
    assert times == sorted(times) and len(set(times)) == 32
    starts = [int(played[r * 8][0][0, 0, 0]) for r in range(4)]
    assert starts == [0, 2, 4, 6]
    assert EnrollClip(frames, 30.0, 1).describe() == "8 frames (0.27 s at 30 fps)"


def test_a_clip_with_fewer_frames_than_needed_is_refused_with_its_length(
        server, backend_args, capsys, tmp_path) -> None:
    video = _write_video(tmp_path / "short.mp4", 3)
    assert main(_enroll_argv(server, video, backend_args)) == 1
    err = capsys.readouterr().err
    assert "the clip is too short: 3 frames (0.10 s at 30 fps)" in err
    assert "needs at least 5 frames" in err
    assert "clear face" not in err


def test_a_clip_without_a_face_says_so_with_the_clip_length(
        server, backend_args, capsys, tmp_path) -> None:
    video = _write_video(tmp_path / "blank.mp4", 9)
    assert main(_enroll_argv(server, video, backend_args)) == 1
    err = capsys.readouterr().err
    assert "only 0 of 5 frames showed one clear face" in err
    assert "the video has 9 frames (0.30 s at 30 fps), read 4 times" in err


@pytest.mark.shared
def test_an_eyeblink8_length_clip_enrolls_by_reading_it_several_times(
        server, backend_args, capsys) -> None:
    video = EYEBLINK8 / "video2_blink03.mp4"  # 8 frames, 0.27 s
    if not video.is_file():
        pytest.skip(f"shared face clip not found at {video} (set SCANPAY_SHARED)")
    assert main(_enroll_argv(server, video, backend_args)) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["enrolled"] and record["frames"] == 5
    assert record["video"]["frames"] == 8 and record["video"]["reads"] > 1
