"""The finder-driven grid sampler: it reads small, blurred, noisy symbols that zxing-cpp cannot
binarise, its multi-frame vote reads what no single frame gives, and it never invents a code."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import qrcode

from vision.qr import grid
from vision.qr.engines import zxing_decode

PAYLOAD = "SCANPAY:TEST:" + "X7Q" * 25


def _modules(payload: str = PAYLOAD) -> np.ndarray:
    q = qrcode.QRCode(border=0, box_size=1, error_correction=qrcode.constants.ERROR_CORRECT_M)
    q.add_data(payload)
    q.make(fit=True)
    return np.array(q.get_matrix(), dtype=bool)


def _symbol(module: float, *, blur: float, noise: float, seed: int,
            shift: tuple[float, float] = (0.0, 0.0), motion: int = 0) -> np.ndarray:
    """A gray crop of the symbol (quiet zone included) at ``module`` pixels per module,
    sub-pixel shifted, Gaussian-blurred, optionally motion-blurred, with Gaussian noise."""
    cells = np.pad(_modules(), 4)
    up = 8
    big = cv2.resize(np.where(cells, 40.0, 200.0).astype(np.float32), None, fx=up, fy=up,
                     interpolation=cv2.INTER_NEAREST)
    side = int(cells.shape[0] * module) + 40
    warp = np.float32([[module / up, 0, 20 + shift[0]], [0, module / up, 20 + shift[1]]])
    img = cv2.warpAffine(big, warp, (side, side), flags=cv2.INTER_AREA, borderValue=200)
    img = cv2.GaussianBlur(img, (0, 0), blur)
    if motion:
        kernel = np.zeros((motion, motion), np.float32)
        kernel[motion // 2, :] = 1.0 / motion
        img = cv2.filter2D(img, -1, kernel)
    img = img + np.random.default_rng(seed).normal(0, noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _zxing_reads(img: np.ndarray) -> bool:
    up = cv2.resize(img, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    return bool(zxing_decode(img)) or bool(zxing_decode(up))


def test_a_small_blurred_noisy_symbol_is_read_where_zxing_cannot() -> None:
    img = _symbol(2.0, blur=1.0, noise=10.0, seed=0)
    assert not _zxing_reads(img)  # the case the sampler is for
    codes = grid.decode_region(img, 2.0)
    assert [c.payload for c in codes] == [PAYLOAD.encode()]
    assert codes[0].engine == "grid"
    # The corners come back in the crop's pixels: after the 20-pixel margin and the 4-module
    # quiet zone, the 33-module symbol spans pixels 28..94.
    xs = sorted(p[0] for p in codes[0].points)
    assert xs[0] == pytest.approx(28.0, abs=1.0) and xs[-1] == pytest.approx(94.0, abs=1.0)


def test_corners_are_mapped_by_origin_and_scale() -> None:
    img = _symbol(2.0, blur=0.8, noise=4.0, seed=1)
    plain = grid.decode_region(img, 2.0)
    moved = grid.decode_region(img, 2.0, origin=(100.0, 50.0), scale=0.5)
    assert plain and moved
    for (x0, y0), (x1, y1) in zip(plain[0].points, moved[0].points, strict=True):
        assert x1 == pytest.approx(x0 * 0.5 + 100.0)
        assert y1 == pytest.approx(y0 * 0.5 + 50.0)


def test_the_vote_of_several_frames_reads_what_no_single_frame_does() -> None:
    frames = [_symbol(2.5, blur=1.5, noise=10.0, seed=s, shift=(0.37 * s, 0.61 * s))
              for s in range(4)]
    assert not any(grid.decode_region(f, 2.5) for f in frames)  # each alone fails
    votes = grid.GridVotes(keep=6)
    read = [bool(grid.decode_region(f, 2.5, votes)) for f in frames]
    assert any(read)
    assert not read[0]  # the first frame has nothing to vote with
    assert any(c.engine == "grid/votes" for f in frames[1:]
               for c in grid.decode_region(f, 2.5, votes))
    votes.clear()
    assert len(votes) == 0


def test_the_fit_is_scored_and_poor_fits_are_not_read() -> None:
    img = _symbol(3.0, blur=0.6, noise=3.0, seed=2)
    fits = grid.fit_grids(img, 3.0)
    assert fits and fits[0].grid.size == _modules().shape[0]
    assert fits[0].grid.score > 0.8
    assert (fits[0].values > 0).tolist() == _modules().tolist()
    flat = np.full((120, 120), 128, np.uint8)
    noise = np.random.default_rng(3).integers(0, 256, (120, 120)).astype(np.uint8)
    assert grid.fit_grids(flat, 3.0) == []
    assert grid.decode_region(noise, 3.0) == []


def test_equalise_undoes_a_measured_blur_of_the_modules() -> None:
    truth = _modules()
    n = truth.shape[0]
    states = np.pad(np.where(truth, 1.0, -1.0), 1, constant_values=-1.0)
    # Each module takes a quarter of each 4-neighbour's darkness, plus an offset and noise.
    blurred = states.copy()
    blurred[1:-1, 1:-1] += 0.25 * (states[:-2, 1:-1] + states[2:, 1:-1]
                                   + states[1:-1, :-2] + states[1:-1, 2:])
    samples = 60.0 + 20.0 * blurred + np.random.default_rng(4).normal(0, 4.0, blurred.shape)
    naive = samples[1:-1, 1:-1] > np.median(samples)
    x, score = grid.equalise(samples, n)
    assert score > 0.9
    assert ((x > 0) != truth).sum() < (naive != truth).sum()
    assert ((x > 0) != truth).mean() < 0.01


def test_draw_is_a_clean_symbol_with_its_quiet_zone() -> None:
    values = np.where(_modules(), 1.0, -1.0)
    img = grid.draw(values)
    assert img.shape[0] == (values.shape[0] + 8) * 4
    assert img[:16].min() == 255  # the quiet zone
    assert zxing_decode(img)[0].payload == PAYLOAD.encode()
