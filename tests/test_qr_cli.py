"""`scanpay decode` and `scanpay bench qr` on generated images."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from hardware.emulated.scene import render_qr_scene
from terminal.cli.main import main


def test_decode_json_lists_images_in_order_and_survives_unreadable_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), render_qr_scene("SCANPAY:cli", seed=1))
    empty = tmp_path / "empty.jpg"
    cv2.imwrite(str(empty), render_qr_scene(None, seed=2))
    broken = tmp_path / "broken.png"
    broken.write_text("not a picture")
    missing = tmp_path / "missing.png"
    status = main(["decode", "--json", str(good), str(broken), str(missing), str(empty)])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert status == 1
    assert [r["file"] for r in lines] == [str(good), str(broken), str(missing), str(empty)]
    (code,) = lines[0]["codes"]
    assert code["text"] == "SCANPAY:cli"
    assert code["bytes_hex"] == b"SCANPAY:cli".hex()
    assert code["engine"].startswith("zxing") and len(code["points"]) == 4
    assert lines[0]["ms"] >= 0
    assert "error" in lines[1] and "error" in lines[2]
    assert lines[3]["codes"] == []


def test_decode_text_output_is_one_line_per_image(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), render_qr_scene("SCANPAY:text", seed=4))
    assert main(["decode", str(good)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and "SCANPAY:text" in out[0]


def test_bench_qr_writes_numbers_and_plots(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench"
    status = main(["bench", "qr", "--camera", "6", "--empty", "3", "--shared",
                   str(tmp_path / "no-shared"), "--out", str(out)])
    assert status == 0
    results = json.loads((out / "qr.json").read_text())
    camera = results["sets"]["camera"]["engines"]
    assert set(camera) == {"zxing", "zbar", "wechat", "opencv", "cascade"}
    assert camera["cascade"]["frames"] == 6
    assert results["sets"]["empty"]["engines"]["cascade"]["false"] == 0
    assert (out / "decode_rate.png").stat().st_size > 0
    assert "cascade vs best single" in capsys.readouterr().out
