"""`scanpay face verify|liveness`: JSON lines, clear reasons for unusable inputs, no tracebacks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from terminal.cli.main import main
from tests.face_shared import FACES, needs_faces


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_verify_reports_unreadable_images_as_non_matches_with_a_reason(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((120, 160, 3), 200, np.uint8))
    (tmp_path / "pairs.csv").write_text(
        "file_a,file_b,same\nblank.png,missing.jpg,1\nblank.png,blank.png,1\n")
    assert main(["face", "verify", "--pairs", str(tmp_path / "pairs.csv"), "--json"]) == 0
    out = capsys.readouterr()
    rows = _lines(out.out)
    assert [r["file_b"] for r in rows] == ["missing.jpg", "blank.png"]
    assert all(r["match"] is False and r["distance"] is None for r in rows)
    assert "cannot read image missing.jpg" in rows[0]["reason"]
    assert "no usable face in blank.png" in rows[1]["reason"]
    assert "verify: 2/2" in out.err


def test_verify_without_the_needed_columns_is_a_one_line_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pairs.csv").write_text("a,b\nx,y\n")
    assert main(["face", "verify", "--pairs", str(tmp_path / "pairs.csv")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("scanpay: error:") and "file_a,file_b" in err[-1]
    assert main(["face", "verify", "--pairs", str(tmp_path / "absent.csv")]) == 1
    assert "file not found" in capsys.readouterr().err


def test_verify_refuses_an_impossible_threshold(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pairs.csv").write_text("file_a,file_b\n")
    assert main(["face", "verify", "--pairs", str(tmp_path / "pairs.csv"),
                 "--threshold", "5"]) == 1
    assert "threshold" in capsys.readouterr().err


def test_liveness_of_unusable_inputs_is_not_live_with_the_reason(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((120, 160, 3), 90, np.uint8))
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    (tmp_path / "junk.jpg").write_bytes(b"not an image")
    files = [str(tmp_path / n) for n in ("blank.png", "junk.mp4", "junk.jpg", "absent.png")]
    assert main(["face", "liveness", "--json", *files]) == 0
    rows = _lines(capsys.readouterr().out)
    assert [r["file"] for r in rows] == files
    assert all(r["live"] is False for r in rows)
    assert rows[0]["checks"]["face"]["detail"] == "no face found"
    assert rows[1]["checks"]["input"]["detail"] == "cannot decode the video"
    assert rows[2]["checks"]["input"]["detail"] == "cannot read the image"
    assert rows[3]["checks"]["input"]["detail"] == "file not found"


def test_liveness_needs_a_checksum_with_a_model(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["face", "liveness", "--antispoof-model", str(tmp_path / "m.onnx"),
                 str(tmp_path / "x.png")]) == 1
    assert "sha256" in capsys.readouterr().err


@needs_faces
def test_verify_on_real_pairs_matches_the_same_person_only(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("Akhmed_Zakayev_0001", "Akhmed_Zakayev_0003", "Amber_Tamblyn_0001"):
        shutil.copy(FACES / "lfw" / name.rsplit("_", 1)[0] / f"{name}.jpg", tmp_path)
    (tmp_path / "pairs.csv").write_text(
        "file_a,file_b\nAkhmed_Zakayev_0001.jpg,Akhmed_Zakayev_0003.jpg\n"
        "Akhmed_Zakayev_0001.jpg,Amber_Tamblyn_0001.jpg\n")
    assert main(["face", "verify", "--pairs", str(tmp_path / "pairs.csv"), "--json"]) == 0
    same, different = _lines(capsys.readouterr().out)
    assert same["match"] is True and different["match"] is False
    assert same["distance"] < different["distance"]


@needs_faces
def test_liveness_of_a_blink_clip_and_a_still_print(capsys: pytest.CaptureFixture[str]) -> None:
    clip = FACES / "video" / "eyeblink8" / "video0_blink01.mp4"
    still = FACES / "spoof" / "minivision-ai" / "image_F1.jpg"
    assert main(["face", "liveness", "--json", str(clip), str(still)]) == 0
    video, image = _lines(capsys.readouterr().out)
    assert video["checks"]["blink"]["passed"] is True
    assert video["live"] is True
    assert image["live"] is False  # one image can never prove liveness
    assert "blink" not in image["checks"]
