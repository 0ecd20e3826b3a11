"""`scanpay qr parse` and `scanpay qr make` from the command line."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from terminal.cli.main import main

PROMPTPAY = "00020101021229370016A000000677010111011300660000000005802TH530376454044.226304E469"
# A Pix code whose city is 16 characters: parses, but is not conformant.
BAD_CITY = ("00020126360014br.gov.bcb.pix0114arya@stark.com5204000053039865802BR5904ARYA"
            "6016SAO PAULO CENTRO")


def _seal(body: str) -> str:
    from payments.qr.crc import crc_hex

    return body + "6304" + crc_hex(body + "6304")


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode("utf-8"))))


def test_parse_json_gives_the_documented_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["qr", "parse", "--json", PROMPTPAY]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"valid", "scheme", "tags", "fields", "violations", "error"}
    assert result["tags"]["29.01"] == "0066000000000"
    assert result["fields"]["amount"] == "4.22"


def test_strict_makes_valid_mean_conformant(capsys: pytest.CaptureFixture[str]) -> None:
    payload = _seal(BAD_CITY)
    assert main(["qr", "parse", "--json", payload]) == 0
    lenient = json.loads(capsys.readouterr().out)
    assert lenient["valid"] is True and lenient["violations"][0]["tag"] == "60"
    assert main(["qr", "parse", "--json", "--strict", payload]) == 1
    assert json.loads(capsys.readouterr().out)["valid"] is False


def test_stdin_gives_one_object_per_line(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    _stdin(monkeypatch, f"{PROMPTPAY}\r\n\nnot a code\nwxp://f2f0abcdEFG\n")
    assert main(["qr", "parse", "--json", "-"]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["valid"] for r in lines] == [True, False, True]
    assert lines[1]["error"]["code"] == "unrecognised"


def test_text_output_names_the_fault(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["qr", "parse", PROMPTPAY[:-1] + "0"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("invalid: emvco-mpm") and "crc_mismatch" in out and "offset" in out


def test_make_prints_a_dynamic_payload_and_writes_a_png(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "code.png"
    assert main(["qr", "make", "--name", "Noodle Bar", "--city", "Shanghai", "--country", "CN",
                 "--gui", "io.scanpay", "--account", "M1", "--amount", "12.5",
                 "--reference", "ORD7", "-o", str(png)]) == 0
    payload = capsys.readouterr().out.strip()
    assert png.stat().st_size > 0
    assert main(["qr", "parse", "--json", "--strict", payload]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["fields"]["amount"] == "12.50" and result["fields"]["reference"] == "ORD7"


def test_make_refuses_a_bad_amount_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["qr", "make", "--name", "N", "--city", "C", "--country", "CN", "--gui", "g",
                 "--account", "a", "--amount", "12,50", "--reference", "R1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("scanpay: error:") and err.count("\n") == 1
