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


def test_verify_with_a_missing_image_is_an_error_line_not_a_verdict(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((120, 160, 3), 200, np.uint8))
    (tmp_path / "junk.jpg").write_bytes(b"not an image")
    for other, why in [("missing.jpg", "file not found"), ("junk.jpg", "cannot read the image")]:
        (tmp_path / "pairs.csv").write_text(
            f"file_a,file_b,same\nblank.png,blank.png,1\nblank.png,{other},1\n")
        assert main(["face", "verify", "--pairs", str(tmp_path / "pairs.csv"), "--json"]) == 1
        out = capsys.readouterr()
        assert out.out == ""  # no verdict at all, not even for the good pair
        err = out.err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("scanpay: error:")
        assert f"{other}: {why}" in err[0]


def test_verify_reports_an_image_without_a_face_as_a_non_match_with_a_reason(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((120, 160, 3), 200, np.uint8))
    (tmp_path / "pairs.csv").write_text("file_a,file_b,same\nblank.png,blank.png,1\n")
    assert main(["face", "verify", "--pairs", str(tmp_path / "pairs.csv"), "--json"]) == 0
    out = capsys.readouterr()
    rows = _lines(out.out)
    assert rows[0]["match"] is False and rows[0]["distance"] is None
    assert "no usable face in blank.png" in rows[0]["reason"]
    assert "verify: 1/1" in out.err


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


def test_liveness_of_an_image_without_a_face_is_not_live_with_the_reason(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((120, 160, 3), 90, np.uint8))
    assert main(["face", "liveness", "--json", str(tmp_path / "blank.png")]) == 0
    (row,) = _lines(capsys.readouterr().out)
    assert row["live"] is False
    assert row["checks"]["face"]["detail"] == "no face found"


@pytest.mark.parametrize("name, content, why", [
    ("missing.mp4", None, "file not found"),
    ("absent.png", None, "file not found"),
    ("junk.mp4", b"not a video", "cannot decode the video"),
    ("junk.jpg", b"not an image", "cannot read the image"),
])
def test_liveness_of_a_missing_or_unreadable_file_is_an_error_line_not_a_verdict(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes | None,
        why: str) -> None:
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((120, 160, 3), 90, np.uint8))
    if content is not None:
        (tmp_path / name).write_bytes(content)
    for as_json in ([], ["--json"]):
        files = [str(tmp_path / "blank.png"), str(tmp_path / name)]
        assert main(["face", "liveness", *as_json, *files]) == 1
        out = capsys.readouterr()
        assert out.out == ""  # no verdict, not even "NOT live"
        err = out.err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("scanpay: error:")
        assert f"{name}: {why}" in err[0]


def test_several_unusable_files_are_named_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["face", "liveness", str(tmp_path / "a.mp4"), str(tmp_path / "b.png")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a.mp4: file not found (and 1 more unusable input file)" in err[0]


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
