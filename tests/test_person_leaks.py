"""Proof that nothing leaks: after a face payment no image, frame or embedding is on the
terminal's disk (its state directory, the temporary directory it used) or in its logs.

The scanner looks for what such data looks like in any encoding, not for file names: JPEG,
PNG, GIF, WebP and NumPy magic bytes anywhere in a file (also inside SQLite pages), a raw
camera frame, 128 consecutive float32/float64 values that look like an embedding (finite,
within [-1, 1], norm 0.3..3, mostly non-zero), the same as a JSON/text list of 128 numbers,
and base64 of any of these. The scanner's own tests plant each of them and see it found.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest

from terminal.kiosk.flow import KioskState
from tests.kiosk_support import PHONE, KioskRig, kiosk_rig, wait_until
from tests.smile_synth import Person

EMBEDDING = 128
MAGIC: dict[str, bytes] = {
    "jpeg": b"\xff\xd8\xff",
    "png": b"\x89PNG\r\n\x1a\n",
    "gif": b"GIF89a",
    "webp": b"WEBPVP8",
    "npy": b"\x93NUMPY",
}
_NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_TEXT_VECTOR = re.compile(rf"(?:{_NUMBER}\s*[,;\s]\s*){{{EMBEDDING - 1}}}{_NUMBER}")
_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/_-]{600,}={0,2}")


def float_vectors(data: bytes) -> list[str]:
    """Where ``data`` holds 128 consecutive floats that look like an embedding."""
    found = []
    for dtype, size in ((np.float32, 4), (np.float64, 8)):
        for offset in range(size):
            usable = (len(data) - offset) // size
            if usable < EMBEDDING:
                continue
            with np.errstate(all="ignore"):
                values = np.frombuffer(data, dtype=dtype, count=usable, offset=offset)
                values = values.astype(np.float64)
                ok = np.isfinite(values) & (np.abs(values) <= 1.0)
                strong = ok & (np.abs(values) > 1e-3)
                squares = np.where(ok, values * values, 0.0)
            c_ok = np.concatenate(([0], np.cumsum(ok)))
            c_strong = np.concatenate(([0], np.cumsum(strong)))
            c_sq = np.concatenate(([0.0], np.cumsum(squares)))
            starts = np.arange(usable - EMBEDDING + 1)
            window_ok = c_ok[starts + EMBEDDING] - c_ok[starts] == EMBEDDING
            window_strong = c_strong[starts + EMBEDDING] - c_strong[starts] >= EMBEDDING // 2
            norm = np.sqrt(np.maximum(c_sq[starts + EMBEDDING] - c_sq[starts], 0.0))
            hits = starts[window_ok & window_strong & (norm >= 0.3) & (norm <= 3.0)]
            if hits.size:
                found.append(f"{np.dtype(dtype).name} vector at byte {offset + hits[0] * size}")
    return found


def text_vectors(text: str) -> list[str]:
    """Where ``text`` lists 128 numbers in a row (JSON, CSV, repr)."""
    return [f"text vector at {m.start()}" for m in _TEXT_VECTOR.finditer(text)][:1]


def scan_bytes(data: bytes, frame: bytes = b"", *, depth: int = 0) -> list[str]:
    """Everything in ``data`` that looks like an image, a frame or an embedding."""
    found = [f"{kind} magic" for kind, magic in MAGIC.items() if magic in data]
    if frame and frame in data:
        found.append("raw camera frame")
    found += float_vectors(data)
    found += text_vectors(data.decode("latin-1"))
    if depth == 0:
        for run in _BASE64_RUN.finditer(data):
            chunk = run.group(0)
            for decode in (base64.b64decode, base64.urlsafe_b64decode):
                try:
                    decoded = decode(chunk + b"=" * (-len(chunk) % 4))
                except ValueError:
                    continue
                found += [f"base64 of {what}" for what in
                          scan_bytes(decoded, frame, depth=1)]
    return found


def scan_tree(root: Path, frame: bytes = b"") -> dict[str, list[str]]:
    """Every file under ``root`` with what it leaks."""
    leaks = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        found = scan_bytes(path.read_bytes(), frame)
        if path.suffix.lower() in (".jpg", ".jpeg", ".png", ".npy", ".npz", ".bmp", ".webp"):
            found.append("an image or array file")
        if found:
            leaks[str(path.relative_to(root))] = found
    return leaks


# -- the scanner finds what it should -------------------------------------------------------


def _embedding(seed: int = 3) -> np.ndarray:
    vec = np.random.default_rng(seed).normal(size=EMBEDDING)
    return vec / np.linalg.norm(vec)


def _jpeg() -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", np.full((8, 8, 3), 90, np.uint8))
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize("plant", [
    "jpeg", "png", "npy", "float32", "float64", "json", "base64 float32", "base64 jpeg",
    "frame"])
def test_the_scanner_finds_a_planted_leak(tmp_path: Path, plant: str) -> None:
    vec = _embedding()
    frame = np.random.default_rng(1).integers(0, 255, (48, 64, 3), np.uint8).tobytes()
    payload = {
        "jpeg": lambda: _jpeg(),
        "png": lambda: MAGIC["png"] + b"\x00" * 32,
        "npy": lambda: _npy(vec),
        "float32": lambda: vec.astype(np.float32).tobytes(),
        "float64": lambda: vec.tobytes(),
        "json": lambda: json.dumps({"probe": vec.tolist()}).encode(),
        "base64 float32": lambda: base64.b64encode(vec.astype(np.float32).tobytes()),
        "base64 jpeg": lambda: base64.b64encode(_jpeg() + bytes(600)),
        "frame": lambda: frame,
    }[plant]()
    # Buried in the middle of a SQLite-like file of other bytes.
    (tmp_path / "state.sqlite3").write_bytes(b"SQLite format 3\x00" + bytes(4093) + payload
                                             + bytes(4096))
    assert scan_tree(tmp_path, frame), plant


def _npy(vec: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, vec)
    return out.getvalue()


def test_ordinary_terminal_data_is_not_taken_for_a_leak(tmp_path: Path) -> None:
    rows = [{"id": f"evt_{i:032x}", "amount_minor": 5700 + i, "ok": True} for i in range(500)]
    (tmp_path / "events.json").write_text(json.dumps(rows))
    (tmp_path / "zeros.bin").write_bytes(bytes(1 << 16))
    (tmp_path / "ints.bin").write_bytes(np.arange(4096, dtype=np.int32).tobytes())
    assert scan_tree(tmp_path) == {}


# -- a face payment leaves nothing behind ------------------------------------------------------


def _face_payment(rig: KioskRig) -> None:
    flow = rig.app.flow
    flow.act("start")
    flow.act("dining", {"mode": "eat_in"})
    flow.act("open_item", {"id": "crunch-burger-meal"})
    flow.act("add_item", {"quantity": "1"})
    flow.act("open_cart")
    flow.act("checkout")
    flow.act("pay", {"method": "face"})
    rig.step_in(Person())
    wait_until(lambda: (rig.screen().get("pay") or {}).get("stage") == "digits"
               or flow.state is not KioskState.PAYING)
    rig.step_in(None)
    for digit in PHONE[-4:]:
        flow.act("key", {"digit": digit})
    flow.act("submit_digits")
    assert flow.state is KioskState.PAID, rig.screen().get("failure")
    assert rig.screen()["order"]["paid_with"] == "face"


def test_after_a_face_payment_nothing_of_the_face_is_on_disk_or_in_the_logs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # every temporary file lands here
    caplog.set_level(logging.DEBUG)
    with kiosk_rig(tmp_path / "rig") as rig:
        rig.enroll("rider-good", seed=1, phone=PHONE)
        _face_payment(rig)
        frame = rig.camera.read()
        assert frame is not None
        identities = [sensor.embedding for sensor in rig.sensors]
        assert identities, "the payment used no face sensor: nothing was tested"
        rig.app.uploader.flush(deadline_s=10.0)
    pixels = frame.image.tobytes()
    middle = pixels[len(pixels) // 2: len(pixels) // 2 + 4096]
    sample = middle if len(set(middle)) > 8 else b""  # a flat frame matches any flat region
    state = tmp_path / "rig" / "kiosk"
    assert any(state.iterdir()), "the kiosk kept no state at all: nothing was tested"
    assert scan_tree(state, sample) == {}
    assert scan_tree(temp, sample) == {}
    assert caplog.records, "no log records were captured: nothing was tested"
    text = "\n".join(f"{r.name} {r.levelname} {r.getMessage()}" for r in caplog.records)
    assert scan_bytes(text.encode("utf-8")) == []
    assert PHONE not in text
    for vec in identities:  # the person's own identity vector, in any of its usual spellings
        for spelled in (f"{vec[0]:.4f}, {vec[1]:.4f}", f"{vec[0]!r}", f"{float(vec[0]):.6g}"):
            assert spelled not in text
