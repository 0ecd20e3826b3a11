"""The live scanner's use of consecutive frames: region tracking, focus, stacking, the stream
decoder's rescue steps, and that it never reports a code that was not shown."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
import qrcode

from hardware.emulated.scene import random_conditions, render_qr_scene
from vision.qr import CascadeSettings, QrDecoder
from vision.qr.engines import zxing_decode
from vision.qr.stream import StreamDecoder, StreamSettings, region_scale
from vision.qr.track import (
    FrameHistory,
    Region,
    RegionTrack,
    Snapshot,
    focus_measure,
    grow,
    stack_aligned,
)

PAYLOAD = "SCANPAY:TEST:" + "X7Q" * 25


def _modules(payload: str) -> np.ndarray:
    q = qrcode.QRCode(border=4, box_size=1, error_correction=qrcode.constants.ERROR_CORRECT_M)
    q.add_data(payload)
    q.make(fit=True)
    return np.pad(np.array(q.get_matrix(), dtype=bool), 4)


def _frame(payload: str, module_px: float, *, blur: float = 0.0, noise: float = 4.0,
           seed: int = 0, at: tuple[int, int] = (300, 200)) -> np.ndarray:
    """A 640x480 gray frame with a code of ``module_px`` pixels per module on a grey wall."""
    rng = np.random.default_rng(seed)
    frame = np.full((480, 640), 120.0, np.float32)
    code = np.where(_modules(payload), 30.0, 230.0).astype(np.float32)
    code = cv2.resize(code, None, fx=module_px, fy=module_px, interpolation=cv2.INTER_AREA)
    h, w = code.shape
    frame[at[1]:at[1] + h, at[0]:at[0] + w] = code
    if blur:
        frame = cv2.GaussianBlur(frame, (0, 0), blur)
    frame += rng.normal(0, noise, frame.shape)
    return np.clip(frame, 0, 255).astype(np.uint8)


def _stream(budget_ms: float = 1000.0, **kw: object) -> StreamDecoder:
    return StreamDecoder(QrDecoder(CascadeSettings(budget_ms=budget_ms)), **kw)  # type: ignore


# --- focus, tracking, history, stacking --------------------------------------------------------

def test_focus_drops_with_defocus_and_motion_blur_and_ignores_exposure() -> None:
    sharp = _frame(PAYLOAD, 4.0, noise=0.0)[180:420, 280:520]
    soft = cv2.GaussianBlur(sharp, (0, 0), 1.5)
    softer = cv2.GaussianBlur(sharp, (0, 0), 3.0)
    kernel = np.zeros((9, 9), np.float32)
    kernel[4, :] = 1 / 9  # 9-pixel horizontal motion
    moved = cv2.filter2D(sharp, -1, kernel)
    f = focus_measure
    assert f(sharp) > f(soft) > f(softer) > 0
    assert f(moved) < 0.6 * f(sharp)
    dim = (sharp.astype(np.float32) * 0.4 + 20).astype(np.uint8)  # same image, less light
    assert f(dim) == pytest.approx(f(sharp), rel=0.15)
    assert f(np.full((50, 50), 90, np.uint8)) == 0.0


def test_a_region_is_kept_for_its_frames_then_forgotten() -> None:
    track = RegionTrack(ttl=2)
    assert track.region is None
    track.miss()  # nothing tracked: nothing to age
    region = Region((10, 20, 30, 30), 2.0)
    track.see(region)
    track.miss()
    track.miss()
    assert track.region == region and track.age == 2
    track.miss()
    assert track.region is None
    with pytest.raises(ValueError):
        RegionTrack(ttl=0)


def test_grow_makes_a_square_around_the_box_inside_the_frame() -> None:
    assert grow((100, 100, 40, 20), 0.5, (480, 640)) == (80, 70, 81, 81)
    assert grow((0, 0, 40, 40), 0.5, (480, 640)) == (0, 0, 61, 61)


def test_history_keeps_the_last_frames_and_ranks_the_sharpest_first() -> None:
    history = FrameHistory(size=3)
    crop = np.zeros((4, 4), np.uint8)
    for i, focus in enumerate([0.5, 0.9, 0.1, 0.3]):
        history.add(Snapshot(crop, (0.0, 0.0), 1.0, focus, i))
    assert len(history) == 3  # the first (focus 0.5) left
    assert [s.index for s in history.sharpest()] == [1, 3, 2]
    history.clear()
    assert len(history) == 0


def test_stacking_aligns_shifted_frames_and_averages_their_noise_down() -> None:
    clean = _frame(PAYLOAD, 3.0, noise=0.0)[150:450, 250:550]
    rng = np.random.default_rng(3)
    shifts = [(0, 0), (3, -2), (-2, 4), (1, 1)]
    noisy = []
    for dx, dy in shifts:
        moved = np.roll(clean, (dy, dx), axis=(0, 1)).astype(np.float32)
        noisy.append(np.clip(moved + rng.normal(0, 25, moved.shape), 0, 255).astype(np.uint8))
    stacked, found = stack_aligned(noisy[0], noisy[1:])
    for (dx, dy), (fx, fy) in zip(shifts[1:], found, strict=True):
        assert fx == pytest.approx(dx, abs=0.5) and fy == pytest.approx(dy, abs=0.5)

    def rmse(img: np.ndarray) -> float:
        inner = (slice(10, -10), slice(10, -10))  # away from the rolled-in borders
        return float(np.sqrt(((img[inner].astype(np.float32) - clean[inner]) ** 2).mean()))

    assert rmse(stacked) < 0.7 * rmse(noisy[0])
    _, skipped = stack_aligned(noisy[0], [noisy[1][:10]])  # another shape is left out
    assert np.isnan(skipped[0][0])


def test_region_scale_brings_modules_to_about_four_pixels_within_limits() -> None:
    assert region_scale(2.0, 100) == pytest.approx(2.0)
    assert region_scale(0.5, 100) == pytest.approx(4.0)  # at most 4x
    assert region_scale(1.0, 400) == pytest.approx(1.6)  # at most 640 pixels a side
    assert region_scale(16.0, 400) == pytest.approx(0.25)


# --- the stream decoder ------------------------------------------------------------------------

def test_a_far_code_zxing_misses_on_the_frame_is_read_from_its_upscaled_region() -> None:
    frame = _frame(PAYLOAD, 1.5, seed=1)  # 1.5-pixel modules
    assert not zxing_decode(frame)
    with _stream() as stream:
        result = stream.decode(frame)
    assert [c.text for c in result.codes] == [PAYLOAD]
    assert result.codes[0].engine == "region:zxing"
    x0 = min(x for x, _ in result.codes[0].points)
    assert 290 <= x0 <= 320  # corners mapped back to frame pixels


def test_a_frame_without_finders_is_searched_where_the_code_was() -> None:
    with _stream() as stream:
        first = stream.decode(_frame(PAYLOAD, 3.0, seed=2))
        assert [c.text for c in first.codes] == [PAYLOAD]
        blurred = stream.decode(_frame(PAYLOAD, 3.0, blur=4.0, seed=3))
        assert blurred.notes == ("tracked (1 frames)",)
        assert "region:zxing" in blurred.attempts and not blurred.rejected
        empty = np.full((480, 640), 120, np.uint8)
        for _ in range(StreamSettings().track_frames - 1):
            assert not stream.decode(empty).rejected  # still searching the tracked region
        assert stream.decode(empty).rejected  # forgotten after track_frames frames


def test_the_rescue_continues_on_the_sharper_earlier_frame() -> None:
    ticks = itertools.count()
    clock = lambda: next(ticks) * 0.001  # noqa: E731 - one ms per clock read
    with StreamDecoder(QrDecoder(CascadeSettings(budget_ms=8.0)), clock=clock) as stream:
        sharp = _frame(PAYLOAD, 1.3, blur=0.5, seed=4)  # located, too soft to read
        first = stream.decode(sharp)
        assert first.notes == ("located",) and first.over_budget
        later = stream.decode(_frame(PAYLOAD, 1.3, blur=1.2, seed=5))  # blurrier
    older = [a for a in later.attempts if a.endswith("@-1")]
    assert older, later.attempts  # steps ran on the earlier (sharper) frame's region
    assert not set(older) & {f"{a}@-1" for a in first.attempts}  # never the same step twice


def test_code_free_frames_never_give_a_code_and_cost_only_the_cheap_path() -> None:
    rng = np.random.default_rng(21)
    with _stream(budget_ms=30.0) as stream:
        for i in range(8):
            frame = render_qr_scene(None, random_conditions(rng), seed=500 + i)
            assert not stream.decode(frame).codes
        noise = np.random.default_rng(1).integers(0, 256, (480, 640), dtype=np.uint8)
        assert not stream.decode(noise).codes


def test_after_a_code_leaves_the_view_it_is_not_reported_from_the_past() -> None:
    """Only a code shown in the last frames can be reported, and never twice from history."""
    rng = np.random.default_rng(22)
    shown = [_frame(PAYLOAD, 2.5, seed=30 + i) for i in range(3)]
    gone = [render_qr_scene(None, random_conditions(rng), seed=600 + i) for i in range(8)]
    with _stream(budget_ms=30.0) as stream:
        reported = [[c.text for c in stream.decode(f).codes] for f in shown + gone]
    assert all(texts in ([], [PAYLOAD]) for texts in reported[:3])
    assert [PAYLOAD] in reported[:3]
    assert all(texts == [] for texts in reported[3:])


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        StreamDecoder(settings=StreamSettings(history=0))
    with pytest.raises(ValueError):
        StreamDecoder(settings=StreamSettings(stack=0))


@pytest.mark.parametrize(("cost_ms", "barred"), [(40.0, False), (60.0, True)])
def test_a_slow_step_is_retried_later_unless_it_costs_over_one_and_a_half_budgets(
        monkeypatch: pytest.MonkeyPatch, cost_ms: float, barred: bool) -> None:
    """The grid step is made to cost ``cost_ms`` on the decoder's clock: over the 30 ms budget
    it is skipped, its estimate decays and it runs again; at twice the budget it runs once
    as warm-up and three more times, whose median is over 1.5 budgets, then stays off."""
    from vision.qr import grid
    from vision.qr import stream as stream_module

    now = [0.0]
    calls: list[int] = []

    def clock() -> float:
        now[0] += 0.0001  # 0.1 ms per clock read
        return now[0]

    def slow(gray: np.ndarray, module: float, votes: object = None) -> list:
        now[0] += cost_ms / 1000.0
        calls.append(1)
        return []

    monkeypatch.setattr(stream_module.grid, "decode_region", slow)
    assert grid.decode_region is slow  # the stream decoder looks it up at call time
    soft = _frame(PAYLOAD, 1.3, blur=0.5, seed=7)  # located, too soft for any step to read
    with StreamDecoder(QrDecoder(CascadeSettings(budget_ms=30.0), clock=clock),
                       clock=clock) as stream:
        results = [stream.decode(soft) for _ in range(40)]
    assert not any(r.codes for r in results)
    assert calls[:1] == [1]  # the first time, nothing is known about its cost: it runs
    if barred:
        assert len(calls) == 4  # the warm-up and three runs whose median bars it
        assert all(not r.attempts or "region:grid" not in r.attempts for r in results[-20:])
    else:
        assert len(calls) > 5
