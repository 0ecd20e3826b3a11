"""The QR decoder cascade on generated codes rendered into camera-like scenes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import qrcode

from hardware.emulated.scene import SceneConditions, random_conditions, render_qr_scene
from vision.qr import CascadeSettings, InvalidImageError, QrDecoder
from vision.qr.engines import EngineSet, to_gray


def _plain_code(data: bytes | str, box: int = 4) -> np.ndarray:
    q = qrcode.QRCode(border=4, box_size=box)
    q.add_data(data)
    q.make(fit=True)
    return np.array(q.make_image().convert("L"), dtype=np.uint8)


@pytest.fixture
def decoder() -> QrDecoder:
    with QrDecoder() as d:
        yield d


def test_binary_payload_keeps_raw_bytes_and_has_no_text(decoder: QrDecoder) -> None:
    payload = bytes(range(256))[::-1][:120]
    (code,) = decoder.decode(_plain_code(payload)).codes
    assert code.payload == payload
    assert code.text is None


def test_utf8_and_shift_jis_payloads_get_text(decoder: QrDecoder) -> None:
    (utf8,) = decoder.decode(_plain_code("zahlung ünï €5")).codes
    assert utf8.text == "zahlung ünï €5"
    sjis = "支払い".encode("shift_jis")
    (code,) = decoder.decode(_plain_code(sjis)).codes
    assert code.payload == sjis
    assert code.text == "支払い"


def test_huge_payload_decodes(decoder: QrDecoder) -> None:
    payload = ("X" * 2000).encode()
    (code,) = decoder.decode(_plain_code(payload, box=3)).codes
    assert code.payload == payload


def test_several_codes_in_one_frame_are_all_returned(decoder: QrDecoder) -> None:
    a, b = _plain_code("first"), _plain_code("second")
    canvas = np.full((max(a.shape[0], b.shape[0]) + 20, a.shape[1] + b.shape[1] + 40), 255,
                     np.uint8)
    canvas[10:10 + a.shape[0], 10:10 + a.shape[1]] = a
    canvas[10:10 + b.shape[0], 30 + a.shape[1]:30 + a.shape[1] + b.shape[1]] = b
    texts = sorted(c.text for c in decoder.decode(canvas).codes)
    assert texts == ["first", "second"]


@pytest.mark.parametrize("cond", [
    SceneConditions(name="tilt", tilt_deg=45, tilt_axis_deg=30),
    SceneConditions(name="blur", blur_sigma=1.8),
    SceneConditions(name="noise", brightness=0.3, noise_sigma=8),
    SceneConditions(name="dark", inverted=True, rotate_deg=20),
    SceneConditions(name="sticker", style="sticker", tilt_deg=30, jpeg_quality=40),
], ids=lambda c: c.name)
def test_degraded_scenes_decode(decoder: QrDecoder, cond: SceneConditions) -> None:
    result = decoder.decode(render_qr_scene("SCANPAY:ride:42", cond, seed=11))
    assert [c.text for c in result.codes] == ["SCANPAY:ride:42"]
    assert result.codes[0].points  # located in the frame


def test_cascade_reads_hard_frames_the_first_engine_misses(decoder: QrDecoder) -> None:
    engines = EngineSet()
    primary = cascade = 0
    families = itertools.cycle(["defocus", "far", "sticker-tilted", "low-light"])
    rng = np.random.default_rng(5)
    for i in range(24):
        payload = f"SCANPAY:hard:{i}"
        frame = render_qr_scene(payload, random_conditions(rng, next(families)), seed=i)
        primary += any(c.text == payload for c in engines.zxing(to_gray(frame)))
        cascade += any(c.text == payload for c in decoder.decode(frame).codes)
    assert cascade > primary


def test_code_free_frames_give_no_decodes(decoder: QrDecoder) -> None:
    rng = np.random.default_rng(8)
    results = [decoder.decode(render_qr_scene(None, random_conditions(rng), seed=100 + i))
               for i in range(12)]
    assert all(not r.codes for r in results)
    blank = decoder.decode(np.zeros((480, 640, 3), np.uint8))
    assert blank.rejected and not blank.codes


@pytest.mark.parametrize("image", [
    np.zeros((0, 0), np.uint8),
    np.zeros((4, 4, 5), np.uint8),
    "not an image",
], ids=["empty", "five-channels", "string"])
def test_non_images_raise_a_vision_error(decoder: QrDecoder, image: object) -> None:
    with pytest.raises(InvalidImageError):
        decoder.decode(image)  # type: ignore[arg-type]


def test_odd_but_valid_images_never_raise(decoder: QrDecoder) -> None:
    assert not decoder.decode(np.zeros((1, 1), np.uint8)).codes
    as_float = _plain_code("float").astype(np.float32) / 255.0
    assert [c.text for c in decoder.decode(as_float).codes] == ["float"]
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 4), dtype=np.uint8)
    assert not decoder.decode(noise).codes


def test_spent_budget_skips_further_attempts() -> None:
    ticks = itertools.count()
    settings = CascadeSettings(budget_ms=5.0, fast_reject=False)
    with QrDecoder(settings, clock=lambda: next(ticks) * 0.01) as d:  # 10 ms per clock read
        result = d.decode(np.full((100, 100), 128, np.uint8))
    assert result.over_budget
    assert result.attempts == ("zxing",)


def test_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        QrDecoder(budget_ms=0)
