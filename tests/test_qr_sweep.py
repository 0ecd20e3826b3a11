"""The whole-frame finder sweep (vision.qr.sweep) and the motion gate that lets the live
scanner run it: it finds small, shaken symbols that zxing-cpp and the finder gate miss, it
does not take smooth light, faces or a phone showing a photo for a symbol, and an idle camera
never pays for it."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import qrcode

from hardware.emulated.scene import random_conditions, render_qr_scene
from terminal.shared_data import shared_root
from vision.qr import grid
from vision.qr.cascade import zxing_with_outlines
from vision.qr.gate import code_evidence
from vision.qr.stream import StreamDecoder
from vision.qr.sweep import pattern_evidence, sweep
from vision.qr.track import MotionGate

PAYLOAD = "SCANPAY:SWEEP:" + "K4T" * 14


def _modules() -> np.ndarray:
    q = qrcode.QRCode(border=0, box_size=1, error_correction=qrcode.constants.ERROR_CORRECT_M)
    q.add_data(PAYLOAD)
    q.make(fit=True)
    return np.array(q.get_matrix(), dtype=bool)


def _scene(*, module: float = 2.6, motion: float = 10.0, angle: float = 80.0,
           at: tuple[float, float] = (250.0, 150.0), seed: int = 0) -> np.ndarray:
    """A 640x480 gray frame: a dim gradient, a lit phone screen with the symbol at ``module``
    pixels a module, smeared by ``motion`` pixels of hand shake along ``angle``, and noise."""
    rng = np.random.default_rng(seed)
    h, w = 480, 640
    frame = np.tile(np.linspace(70, 120, w, dtype=np.float32), (h, 1))
    cells = np.pad(_modules(), 4)
    up = 8
    big = cv2.resize(np.where(cells, 30.0, 230.0).astype(np.float32), None, fx=up, fy=up,
                     interpolation=cv2.INTER_NEAREST)
    warp = np.float32([[module / up, 0, at[0]], [0, module / up, at[1]]])
    side = cells.shape[0] * module
    cv2.rectangle(frame, (int(at[0] - 25), int(at[1] - 60)),
                  (int(at[0] + side + 25), int(at[1] + side + 90)), 20.0, -1)  # the phone
    mask = np.zeros((h, w), np.float32)
    cv2.rectangle(mask, (int(at[0] - 12), int(at[1] - 40)),
                  (int(at[0] + side + 12), int(at[1] + side + 70)), 1.0, -1)  # its screen
    screen = cv2.warpAffine(big, warp, (w, h), flags=cv2.INTER_AREA, borderValue=230)
    frame = frame * (1 - mask) + screen * mask
    frame = cv2.GaussianBlur(frame, (0, 0), 0.8)
    if motion >= 1:
        n = math.ceil(motion) | 1
        kernel = np.zeros((n, n), np.float32)
        cv2.line(kernel, (0, n // 2), (n - 1, n // 2), 1.0, 1)
        rot = cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), angle, 1.0)
        kernel = cv2.warpAffine(kernel, rot, (n, n))
        frame = cv2.filter2D(frame, -1, kernel / kernel.sum())
    frame = frame + rng.normal(0, 4.0, frame.shape)
    return np.clip(frame, 0, 255).astype(np.uint8)


def _inside(box: tuple[int, int, int, int], point: tuple[float, float]) -> bool:
    x, y, w, h = box
    return x <= point[0] <= x + w and y <= point[1] <= y + h


def test_a_shaken_small_symbol_that_zxing_and_the_gate_miss_is_found() -> None:
    frame = _scene()
    codes, located = zxing_with_outlines(frame)
    assert not codes and not located  # the case the sweep is for
    assert code_evidence(frame).region is None
    seen = sweep(frame)
    assert seen is not None
    side = _modules().shape[0] * 2.6
    centre = (250.0 + side / 2, 150.0 + side / 2)
    assert _inside(seen.box, centre)
    assert seen.box[2] < 3 * side and seen.box[3] < 3 * side
    assert seen.module == pytest.approx(2.6, rel=0.15)
    assert seen.evidence >= 0.75


def test_the_grid_sampler_reads_the_region_the_sweep_gives_on_a_steadier_frame() -> None:
    frame = _scene(motion=4.0)
    seen = sweep(frame)
    assert seen is not None
    x, y, w, h = seen.box
    codes = grid.decode_region(frame[y:y + h, x:x + w], seen.module)
    assert [c.payload for c in codes] == [PAYLOAD.encode()]


@pytest.mark.parametrize("seed", range(12))
def test_code_free_scenes_and_a_phone_showing_a_photo_are_not_symbols(seed: int) -> None:
    rng = np.random.default_rng(900 + seed)
    frame = cv2.cvtColor(render_qr_scene(None, random_conditions(rng), seed=900 + seed),
                         cv2.COLOR_BGR2GRAY)
    assert sweep(frame) is None


def test_smooth_light_and_noise_are_not_symbols() -> None:
    ramp = np.tile(np.linspace(0, 255, 640, dtype=np.float32), (480, 1))
    assert sweep(ramp.astype(np.uint8)) is None
    noise = np.random.default_rng(3).integers(0, 256, (480, 640), dtype=np.uint8)
    assert sweep(noise) is None
    assert sweep(np.zeros((480, 640), np.uint8)) is None
    assert sweep(np.zeros((20, 20), np.uint8)) is None  # too small to hold a symbol


def test_pattern_evidence_tells_a_symbol_from_a_gradient_on_the_same_grid() -> None:
    modules = np.pad(_modules(), 4)
    img = np.kron(np.where(modules, 30, 220), np.ones((3, 3))).astype(np.uint8)
    size = _modules().shape[0]

    def px(col: float) -> float:  # the centre of module ``col`` (after the quiet zone)
        return 3.0 * (4 + col) + 1.0

    g = grid.Grid(size, grid.affine_grid((px(3), px(3)), (px(size - 4), px(3)),
                                         (px(3), px(size - 4)), size))
    assert pattern_evidence(img, g) > 0.9
    ramp = np.tile(np.linspace(40, 200, img.shape[1]), (img.shape[0], 1)).astype(np.uint8)
    assert pattern_evidence(ramp, g) < 0.3


@pytest.mark.shared
def test_faces_in_front_of_a_camera_are_not_symbols() -> None:
    videos = sorted((shared_root() / "data" / "faces" / "video").glob("*/*.mp4"))
    if not videos:
        pytest.skip("the shared face videos are not beside the checkout")
    checked = 0
    for path in videos[::8]:
        cap = cv2.VideoCapture(str(path))
        for _ in range(3):
            ok, frame = cap.read()
            if not ok:
                break
            for _skip in range(9):
                cap.grab()
            gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            scale = 640 / max(gray.shape)
            if scale < 1:
                gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            assert sweep(gray) is None, path.name
            checked += 1
        cap.release()
    assert checked >= 20


def test_the_motion_gate_stays_shut_on_a_still_noisy_scene_and_opens_on_a_move() -> None:
    rng = np.random.default_rng(5)
    still = _scene(motion=0.0)
    gate = MotionGate(hold=4)
    for _ in range(10):
        noisy = np.clip(still + rng.normal(0, 3, still.shape), 0, 255).astype(np.uint8)
        assert not gate.update(noisy)
    moved = _scene(motion=0.0, at=(300.0, 170.0))
    assert gate.update(moved)
    for _ in range(4):  # held open for `hold` frames after the move
        assert gate.update(moved)
    assert not gate.update(moved)
    gate.update(still)
    gate.reset()
    assert not gate.update(moved)  # no previous frame to compare with


def test_the_motion_gate_checks_its_settings() -> None:
    for bad in ({"hold": -1}, {"threshold": 0.0}, {"min_blocks": 0}, {"grid": (0, 4)}):
        with pytest.raises(ValueError):
            MotionGate(**bad)  # type: ignore[arg-type]


def test_the_stream_decoder_sweeps_only_while_something_moves() -> None:
    shaken = _scene()
    with StreamDecoder() as stream:
        first = stream.decode(shaken)  # nothing moved before it: no sweep
        assert "sweep" not in first.attempts and first.notes == ("no finders",)
        stream.reset()
        stream.decode(_scene(at=(1000.0, 1000.0)))  # no phone in view...
        moved = stream.decode(shaken)  # ...then a shaken one: the gate opens
    assert "sweep" in moved.attempts
    assert moved.notes == ("sweep",)
