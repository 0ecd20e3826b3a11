"""The live scanner's decoder: the cascade's cheap path on every frame, the heavy rescue only
where a symbol was seen, on the sharpest of the last few frames.

A camera delivers 15-30 frames a second of the same phone, so a frame need not stand alone:

1. **Every frame, cheap.** zxing-cpp on the whole frame, asked for located-but-unread symbols
   too, then (when it found nothing) the finder-pattern gate. Either gives the region of a
   symbol and its module size; so does a decoded code. When neither saw anything and
   something in view moved in the last frames (:class:`vision.qr.track.MotionGate`), the
   whole-frame finder sweep (:mod:`vision.qr.sweep`) looks for small symbols smeared by a
   shaking hand, verified on their fixed modules. Frames with no evidence and no tracked
   region stop here (a still, code-free view costs what the cascade's reject costs).
2. **A tracked region** (:class:`vision.qr.track.RegionTrack`): the region where a symbol was
   seen stays for a few frames. A hand moves the phone by a few pixels a frame, so the frames
   too blurred or defocused to show finder patterns are still searched where the code was.
3. **The newest frame's region, upscaled** so that a module spans about 4 pixels (far codes:
   a 1.5-pixel module is below what the binariser can separate, interpolation gives it room),
   read by zxing-cpp: cheap, so it runs on every frame with a region.
4. **The heavy rescue on the sharpest frame of the last few** (:func:`vision.qr.track.
   focus_measure`, a normalised gradient energy): a shaken hand gives the odd steadier frame
   among blurred ones and a hunting lens passes through focus, so the rescue steps
   (unsharp mask for defocus, illumination flattening, contrast equalisation, denoising,
   binarisation, zbar, WeChat) run on the region of that frame first, each at most once per
   frame, continuing on the next call where the budget stopped them. The sharpest frame keeps
   its turn while it is in the history, so its steps are spread over several camera frames
   instead of the same first few being repeated on every new frame.
5. **The grid sampler** (:mod:`vision.qr.grid`), one of those steps, right after the unsharp
   mask (ahead of the other cheap preparations, so that its larger cost still fits the
   budget), on the region at the camera's own
   resolution (no interpolation before the sampling): the finders found by a matched filter,
   the module grid fitted through them, the blur's leak between modules measured on the
   symbol's fixed patterns and undone, and the modules read as a clean symbol; the regions of
   consecutive frames vote module by module (the finders give the correspondence), so a code
   too noisy in each frame can be read from the sum of several.
6. **Frames stacked**: the regions of the sharpest few frames whose focus is close to the
   best one, aligned by phase correlation (the hand shifts the phone between frames) and
   averaged: sensor and compression noise are independent between frames, so averaging N
   aligned frames divides the noise by about sqrt(N) while the code stays put.

Deblurring along the estimated motion direction was measured and is not a step: with the true
motion kernel given (an oracle), Wiener deconvolution of the 6-20 pixel hand-shake blur of the
benchmark sequences read no frame that the steadier frames of the same sequence did not
already read (`scanpay bench qr --live` docstring, analysis of the misses).

Measured (``scanpay bench qr --live --seeds 2``, 120 sequences per renderer, 2-core
machine): against zxing-cpp on every frame, +12.5 pp decoded within 1 s on the scene renderer
and +10.8 pp on the independent one (before the sweep and the step-cost fixes: +10.8 and
+9.2; before the grid sampler: +8.3 and +5.0), medians earlier on both; against the one-frame
cascade, +4.2 and +5.8 pp within 1 s. The remaining misses are codes no frame of their first
second can give (see that benchmark's docstring).

Every step is timed against the per-frame ``budget_ms`` (the cascade's), so the scanner keeps
up with the camera; a step whose expected cost would overrun the budget waits for the next
frame (:class:`vision.qr.costs.StepCosts`: a first run counts as warm-up, a waiting step's
estimate decays once a frame, a step whose runs cost over 1.5 budgets by their median, such
as WeChat on some machines, stays off). Every decode still comes from zxing-cpp, zbar or
WeChat, which verify the symbol's Reed-Solomon error correction (the grid sampler's symbols
too: it draws the modules, zxing-cpp reads them); a stacked or older frame can only yield a
code that was in one of the last few frames.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vision.qr import grid, prepare
from vision.qr.cascade import (
    _ASSUMED_MODULES,
    CascadeSettings,
    InvalidImageError,
    QrDecoder,
    zxing_with_outlines,
)
from vision.qr.costs import StepCosts
from vision.qr.engines import EngineSet, to_gray
from vision.qr.gate import code_evidence
from vision.qr.result import DecodeResult, QrCode
from vision.qr.sweep import sweep
from vision.qr.track import (
    FrameHistory,
    MotionGate,
    Region,
    RegionTrack,
    Snapshot,
    box_of_points,
    focus_measure,
    grow,
    stack_aligned,
)

logger = logging.getLogger(__name__)

_TARGET_MODULE_PX = 4.0  # the rescue scales a region so a module spans about this many pixels
_MAX_UPSCALE = 4.0
_MAX_SIDE = 640  # longest side of a scaled region
_WECHAT_MAX_SIDE = 400
_STACK_FOCUS = 0.7  # frames stacked must be at least this sharp relative to the sharpest
_NATIVE = frozenset({"region:grid"})  # steps run on the region unscaled...
_NATIVE_MARGIN = 0.2  # ...and grown by this much of its side on each side
_FRAGMENT_MARGIN = 0.5  # a located outline grown by this much of its side on each side


@dataclass(frozen=True)
class StreamSettings:
    """What the stream decoder remembers between frames."""

    # Frames whose region crops are kept for the sharpest-frame rescue and the stack.
    history: int = 6
    # Frames a region is searched after the last evidence of a symbol there.
    track_frames: int = 8
    # Margin around a region, in fractions of its side (the phone moves between frames).
    margin: float = 0.3
    # Frames averaged by the stack step (1 disables it).
    stack: int = 3


# A rescue step: its name and its function of (image, module size in that image's pixels),
# returning the codes read, or None when the step does not apply to that image.
Step = tuple[str, Callable[[np.ndarray, float], list[QrCode] | None]]


class StreamDecoder:
    """Decode the frames of one camera in order, using what the previous frames showed.

    Wraps a :class:`QrDecoder` (its budget, its engines); not thread-safe. :meth:`reset`
    forgets the tracked region and the history (a new presentation).
    """

    def __init__(self, cascade: QrDecoder | None = None, settings: StreamSettings | None = None,
                 *, clock: Callable[[], float] = time.perf_counter) -> None:
        self.settings = settings or StreamSettings()
        if self.settings.history < 1 or self.settings.track_frames < 1:
            raise ValueError("history and track_frames must be at least 1")
        if self.settings.stack < 1:
            raise ValueError("stack must be at least 1")
        self._cascade = cascade or QrDecoder(CascadeSettings())
        self._own = cascade is None
        self._clock = clock
        self._track = RegionTrack(self.settings.track_frames)
        self._motion = MotionGate()
        self._history = FrameHistory(self.settings.history)
        self._frames = 0
        self._costs = StepCosts(self._cascade.settings.budget_ms)
        self._votes = grid.GridVotes(self.settings.history)
        self._steps = _steps(self._cascade.engines, self._votes)

    @property
    def budget_ms(self) -> float:
        """The per-frame time budget (the cascade's)."""
        return self._cascade.settings.budget_ms

    def __enter__(self) -> StreamDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the cascade if this decoder made it; idempotent."""
        if self._own:
            self._cascade.close()

    def reset(self) -> None:
        """Forget the tracked region and the kept frames."""
        self._track.reset()
        self._motion.reset()
        self._history.clear()
        self._votes.clear()

    def decode(self, image: np.ndarray) -> DecodeResult:
        """Decode the next camera frame (BGR, BGRA or gray)."""
        start = self._clock()
        try:
            gray = to_gray(image)
        except (ValueError, TypeError) as exc:
            raise InvalidImageError(str(exc)) from exc
        self._frames += 1
        attempts = ["zxing"]
        codes, located = zxing_with_outlines(gray)
        if codes:
            box = box_of_points([p for c in codes for p in c.points], gray.shape)
            if box is not None:
                side = max(box[2], box[3])
                self._track.see(Region(box, side / _ASSUMED_MODULES))
            self._history.clear()  # a decoded frame's code is never read again from the past
            self._votes.clear()
            return self._result(start, codes, attempts)
        region, note = self._evidence(gray, located, self._motion.update(gray))
        if note in ("finders", "sweep"):
            attempts.append("gate")
        if note == "sweep":
            attempts.append("sweep")
        if region is not None:
            self._track.see(region)
        else:
            self._track.miss()
        tracked = self._track.region
        if tracked is None:
            self._history.clear()
            self._votes.clear()
            return self._result(start, (), attempts, rejected=True, notes=("no finders",))
        notes = (note,) if region is not None else (f"tracked ({self._track.age} frames)",)
        # The history outlives this call: keep a copy when the caller's buffer is the frame.
        kept = gray.copy() if np.shares_memory(gray, image) else gray
        snap = self._snapshot(kept, tracked)
        self._history.add(snap)
        found, over = self._rescue(start, snap, attempts)
        if found:
            self._history.clear()
            self._votes.clear()
        return self._result(start, found, attempts, over_budget=over, notes=notes)

    def _evidence(self, gray: np.ndarray, located: list[tuple[tuple[float, float], ...]],
                  moving: bool) -> tuple[Region | None, str]:
        if located:
            box = box_of_points([p for quad in located for p in quad], gray.shape)
            if box is not None:
                # zxing-cpp often outlines a fragment of a symbol it cannot read (a quarter, a
                # finder's corner), so the whole symbol may extend a side further either way.
                module = max(box[2], box[3]) / _ASSUMED_MODULES
                return Region(grow(box, _FRAGMENT_MARGIN, gray.shape), module), "located"
        evidence = code_evidence(gray)
        if evidence.region is not None:
            return Region(evidence.region, evidence.module), "finders"
        seen = sweep(gray) if moving else None
        if seen is not None:
            return Region(seen.box, seen.module), "sweep"
        return None, "none"

    def _snapshot(self, gray: np.ndarray, region: Region) -> Snapshot:
        box = grow(region.box, self.settings.margin, gray.shape)
        x, y, w, h = box
        crop = gray[y:y + h, x:x + w]
        return Snapshot(crop, (float(x), float(y)), region.module, focus_measure(crop),
                        self._frames, frame=gray)

    def _rescue(self, start: float, newest: Snapshot,
                attempts: list[str]) -> tuple[list[QrCode], bool]:
        """Run untried steps: the cheap one on the newest region, then every step on the
        sharpest regions first, then the stack; stop at the budget or the first decode."""
        over = False
        self._costs.start_frame()
        plan: list[tuple[Snapshot | None, str,
                         Callable[[np.ndarray, float], list[QrCode] | None]]] = [
            (newest, *self._steps[0])]
        for snap in self._history.sharpest():
            plan.extend((snap, name, fn) for name, fn in self._steps)
        if self.settings.stack > 1:
            plan.append((None, "stack", self._steps[0][1]))
        for snap, name, fn in plan:
            key = name
            if snap is not None and key in snap.tried:
                continue
            if not self._costs.fits(name, (self._clock() - start) * 1000.0):
                over = True
                continue
            t0 = self._clock()
            if snap is None:
                image, scale, origin = self._stack()
                if image is None:
                    continue
            else:
                snap.tried.add(key)
                if name in _NATIVE:
                    image, scale, origin = _wider(snap)
                else:
                    image, scale, origin = _scaled(snap)
            module = _TARGET_MODULE_PX if snap is None else snap.module / scale
            try:
                found = fn(image, module)
            except Exception as exc:  # a preparation failing on an odd crop loses nothing
                logger.debug("QR rescue step %s failed: %s", name, exc)
                found = []
            if found is None:
                # Not applicable to this image (WeChat on a large crop): no cost to learn, or
                # its near-zero time would hide what the step costs when it does run.
                continue
            self._costs.learn(name, (self._clock() - t0) * 1000.0)
            age = 0 if snap is None else self._frames - snap.index
            attempts.append(f"{name}@-{age}" if age else name)
            if found:
                return [_to_frame(c, scale, origin) for c in found], over
        return [], over

    def _stack(self) -> tuple[np.ndarray | None, float, tuple[float, float]]:
        """The sharp regions of the last frames aligned and averaged (None when fewer than two
        are sharp enough, or this stack was already tried)."""
        ranked = self._history.sharpest()
        best = ranked[0]
        if best.focus <= 0:
            return None, 1.0, (0.0, 0.0)
        picked = [s for s in ranked if s.focus >= _STACK_FOCUS * best.focus][:self.settings.stack]
        if len(picked) < 2:
            return None, 1.0, (0.0, 0.0)
        tag = "stack:" + ",".join(str(s.index) for s in sorted(picked, key=lambda s: s.index))
        if tag in best.tried:
            return None, 1.0, (0.0, 0.0)
        best.tried.add(tag)
        x, y, w, h = best.box
        others = [s.frame[y:y + h, x:x + w] for s in picked[1:] if s.frame is not None]
        if not others:
            return None, 1.0, (0.0, 0.0)
        mean, _ = stack_aligned(best.crop, others)
        merged = Snapshot(mean, best.origin, best.module, best.focus, best.index)
        return _scaled(merged)

    def _result(self, start: float, codes: list[QrCode] | tuple[QrCode, ...],
                attempts: list[str], *, rejected: bool = False, over_budget: bool = False,
                notes: tuple[str, ...] = ()) -> DecodeResult:
        unique: dict[bytes, QrCode] = {}
        for code in codes:
            unique.setdefault(code.payload, code)
        elapsed = (self._clock() - start) * 1000.0
        return DecodeResult(tuple(unique.values()), elapsed, tuple(attempts), rejected,
                            over_budget, notes)


def region_scale(module: float, side: int) -> float:
    """Factor that brings a module of ``module`` pixels to about 4 pixels, at most 4x and at
    most _MAX_SIDE pixels on a side of ``side`` pixels; never below 1/4."""
    factor = min(_TARGET_MODULE_PX / max(module, 0.5), _MAX_UPSCALE, _MAX_SIDE / max(side, 1))
    return max(factor, 0.25)


def _scaled(snap: Snapshot) -> tuple[np.ndarray, float, tuple[float, float]]:
    """The snapshot's crop scaled for the rescue (cached on it), its factor back to frame
    pixels, and its origin."""
    cached = snap.cache.get("scaled")
    if cached is not None:
        return cached  # type: ignore[return-value]
    crop = snap.crop
    factor = region_scale(snap.module, max(crop.shape[:2]))
    if factor > 1.1:
        image = prepare.upscale(crop, factor)
    elif factor < 0.9:
        image = prepare.downscale(crop, factor)
    else:
        image, factor = np.ascontiguousarray(crop), 1.0
    out = (image, 1.0 / factor, snap.origin)
    snap.cache["scaled"] = out
    return out


def _wider(snap: Snapshot) -> tuple[np.ndarray, float, tuple[float, float]]:
    """The snapshot's region grown by _NATIVE_MARGIN of its side on each side, unscaled, from
    its whole frame (the symbol's outline is often a fragment, and the grid sampler needs the
    whole symbol with some quiet zone); its factor (1) and origin."""
    if snap.frame is None:
        return snap.crop, 1.0, snap.origin
    x, y, w, h = grow(snap.box, _NATIVE_MARGIN, snap.frame.shape)
    return snap.frame[y:y + h, x:x + w], 1.0, (float(x), float(y))


def _to_frame(code: QrCode, scale: float, origin: tuple[float, float]) -> QrCode:
    ox, oy = origin
    pts = tuple((x * scale + ox, y * scale + oy) for x, y in code.points)
    return QrCode(code.payload, code.text, pts, code.engine)


def _steps(e: EngineSet, votes: grid.GridVotes) -> tuple[Step, ...]:
    """The rescue steps on a region, cheapest and most often useful first (the first one is the
    cheap step run on every frame's region)."""
    p = prepare

    def zx(prep: Callable[[np.ndarray], np.ndarray] | None, tag: str,
           binarizer: str = "LocalAverage") -> Step:
        if prep is None:
            return tag, lambda g, _m: e.zxing(g, tag=tag)
        return tag, lambda g, _m: e.zxing(prep(g), binarizer=binarizer, tag=tag)

    def wechat(g: np.ndarray, _module: float) -> list[QrCode] | None:
        return e.wechat(g, tag="region:wechat") if max(g.shape) <= _WECHAT_MAX_SIDE else None

    return (
        zx(None, "region:zxing"),
        zx(p.sharpen, "region:zxing/sharpen"),
        ("region:grid", lambda g, m: grid.decode_region(g, m, votes)),
        zx(p.flatten, "region:zxing/flatten"),
        zx(p.clahe, "region:zxing/clahe"),
        zx(p.denoise, "region:zxing/denoise"),
        zx(p.binarize, "region:zxing/binarize", "FixedThreshold"),
        ("region:zbar", lambda g, _m: e.zbar(g, tag="region:zbar")),
        ("region:wechat", wechat),
    )
