"""The replay renderer: deterministic by seed, and it draws the screen cues it claims to."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from terminal.emulator.replay_screen import (
    _READOUT_ROWS_PER_S,
    ReplayRenderer,
    face_crop,
    screen,
)
from terminal.errors import TerminalError


def _content(seed: int = 1) -> np.ndarray:
    """A textured stand-in for a clip frame."""
    import cv2

    rng = np.random.default_rng(seed)
    img = np.full((240, 320, 3), 150, np.uint8)
    for _ in range(40):
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        x, y = int(rng.integers(0, 320)), int(rng.integers(0, 240))
        cv2.circle(img, (x, y), int(rng.integers(4, 20)), colour, -1)
    return img


def _grey(level: int = 128) -> np.ndarray:
    return np.full((240, 320, 3), level, np.uint8)


def _panel_centre(r: ReplayRenderer, frame: np.ndarray, half: int = 40) -> np.ndarray:
    """A square of the frame around the projected centre of the panel."""
    import cv2

    w, h = r.texture_size
    assert r.last_homography is not None
    c = cv2.perspectiveTransform(np.float32([[[w / 2, h / 2]]]), r.last_homography)[0, 0]
    x, y = int(c[0]), int(c[1])
    return frame[y - half:y + half, x - half:x + half]


def test_same_seed_same_frames_other_seed_other_frames() -> None:
    spec = screen("phone")
    a = ReplayRenderer(spec, 0.22, seed=4)
    b = ReplayRenderer(spec, 0.22, seed=4)
    c = ReplayRenderer(spec, 0.22, seed=5)
    for i in range(3):
        fa, fb = a.render(_content(), i / 15), b.render(_content(), i / 15)
        fc = c.render(_content(), i / 15)
        assert np.array_equal(fa, fb)
        assert not np.array_equal(fa, fc)


def test_tremor_moves_the_plane_and_a_tilt_foreshortens_it() -> None:
    import cv2

    spec = screen("monitor")
    shaky = ReplayRenderer(spec, 0.9, seed=1)
    shaky.render(_content(), 0.0)
    h0 = shaky.last_homography
    shaky.render(_content(), 1 / 15)
    assert not np.allclose(h0, shaky.last_homography)
    still = ReplayRenderer(spec, 0.9, seed=1, tremor=0)
    w, h = still.texture_size
    corners = np.float32([[[0, 0], [w, 0], [w, h], [0, h]]])
    still.render(_content(), 0.0)
    square = cv2.perspectiveTransform(corners, still.last_homography)[0]
    still.render(_content(), 0.1, tilt_deg=(40.0, 0.0))
    tilted = cv2.perspectiveTransform(corners, still.last_homography)[0]
    # Square to the camera, both vertical edges are equally long; turned, one side recedes.
    assert abs((square[3, 1] - square[0, 1]) - (square[2, 1] - square[1, 1])) < 0.5
    assert abs((tilted[3, 1] - tilted[0, 1]) - (tilted[2, 1] - tilted[1, 1])) > 10


def test_rolling_bands_have_the_pwm_period_and_drift_between_frames() -> None:
    spec = replace(screen("monitor"), moire=0.0, glare=0.0)
    r = ReplayRenderer(spec, 0.45, seed=2, tremor=0)
    frames = [r.render(_grey(), i / 15) for i in range(2)]
    rows = [_panel_centre(r, f, 100).astype(float).mean(axis=(1, 2)) for f in frames]
    profile = rows[0] - rows[0].mean()
    spectrum = np.abs(np.fft.rfft(profile * np.hanning(profile.size)))
    period = profile.size / (np.argmax(spectrum[1:]) + 1)
    expected = _READOUT_ROWS_PER_S / spec.pwm_hz
    assert period == pytest.approx(expected, rel=0.15)
    assert np.ptp(profile) > 10  # visible bands
    assert np.abs(rows[0] - rows[1]).mean() > 3  # they moved


def test_no_pwm_no_bands() -> None:
    spec = replace(screen("monitor"), moire=0.0, glare=0.0, pwm_depth=0.0)
    r = ReplayRenderer(spec, 0.45, seed=2, tremor=0)
    patch = _panel_centre(r, r.render(_grey(), 0.0), 100).astype(float)
    assert np.ptp(patch.mean(axis=(1, 2))) < 3


def test_the_subpixel_grid_aliases_into_colour_moire_that_fades_with_distance() -> None:
    base = replace(screen("monitor"), glare=0.0, pwm_depth=0.0)
    flat = replace(base, moire=0.0)

    def texture(spec: object, distance: float) -> float:
        r = ReplayRenderer(spec, distance, seed=3, tremor=0)  # type: ignore[arg-type]
        patch = _panel_centre(r, r.render(_grey(), 0.0)).astype(float)
        return float(patch.std(axis=(0, 1)).mean())

    near, far, none = texture(base, 0.45), texture(base, 0.9), texture(flat, 0.45)
    assert near > none + 2  # the grid shows
    assert near > far  # one camera pixel spans more panel pixels farther away
    r = ReplayRenderer(base, 0.45, seed=3, tremor=0)
    patch = _panel_centre(r, r.render(_grey(), 0.0)).astype(float)
    # The stripes sit a third of a pixel apart: the channels' patterns differ (colour fringes).
    assert np.corrcoef(patch[..., 0].ravel(), patch[..., 2].ravel())[0, 1] < 0.9


def test_display_transfer_black_level_and_cool_white_point() -> None:
    spec = replace(screen("phone"), moire=0.0, glare=0.0, pwm_depth=0.0)
    r = ReplayRenderer(spec, 0.22, seed=1, tremor=0)
    black = _panel_centre(r, r.render(_grey(0), 0.0)).astype(float)
    assert black.mean() >= spec.black * 0.8  # a screen's black glows
    white = _panel_centre(r, r.render(_grey(200), 0.1)).astype(float).mean(axis=(0, 1))
    assert white[0] > white[2]  # blue above red


def test_the_bezel_is_dark_around_a_bright_panel() -> None:
    import cv2

    spec = replace(screen("monitor"), moire=0.0, glare=0.0, pwm_depth=0.0)
    r = ReplayRenderer(spec, 0.9, seed=1, tremor=0)
    frame = r.render(_grey(230), 0.0)
    w, h = r.texture_size
    bezel = r._bezel_px / 2
    points = np.float32([[[w / 2, bezel], [w / 2, h - bezel], [w / 2, h / 2]]])
    xy = cv2.perspectiveTransform(points, r.last_homography)[0].astype(int)
    top, bottom, centre = (frame[y, x].astype(float).mean() for x, y in xy)
    assert top < 60 and bottom < 60 and centre > 150


def test_glare_slides_as_the_screen_turns() -> None:
    spec = replace(screen("phone"), moire=0.0, pwm_depth=0.0, glare=120.0)
    r = ReplayRenderer(spec, 0.3, seed=1, tremor=0)
    import cv2

    def brightest_in_texture(tilt: float, t: float) -> float:
        frame = r.render(_grey(60), t, tilt_deg=(tilt, 0.0))
        grey = cv2.GaussianBlur(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (0, 0), 5)
        y, x = np.unravel_index(np.argmax(grey), grey.shape)
        uv = cv2.perspectiveTransform(np.float32([[[x, y]]]),
                                      np.linalg.inv(r.last_homography))[0, 0]
        return float(uv[0]) / r.texture_size[0]

    assert brightest_in_texture(0.0, 0.0) - brightest_in_texture(15.0, 0.1) > 0.1


def test_face_crop_keeps_the_screen_aspect_and_the_clip() -> None:
    x, y, w, h = face_crop((250, 140, 140, 190), (640, 480), 4 / 3, 0.5)
    assert w / h == pytest.approx(4 / 3, rel=0.02)
    assert h == pytest.approx(380, abs=1)  # the face is half the crop's height
    assert x >= 0 and y >= 0 and x + w <= 640 and y + h <= 480
    wide = face_crop((250, 140, 140, 190), (640, 480), 16 / 9, 0.5)
    assert wide[2] == 640 and wide[2] / wide[3] == pytest.approx(16 / 9, rel=0.02)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(TerminalError, match="distance"):
        ReplayRenderer(screen("phone"), 0.0)
    with pytest.raises(TerminalError, match="unknown replay screen"):
        screen("tablet")
    with pytest.raises(TerminalError, match="BGR"):
        ReplayRenderer(screen("phone"), 0.2).render(np.zeros((10, 10), np.uint8), 0.0)
