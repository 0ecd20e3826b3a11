"""The QR decoder cascade: the cheap path first, deeper attempts only where a code is likely.

Design, with the reasons measured on this project's benchmark (``scanpay bench qr``: 260
rendered 640x480 camera frames, 120 code-free frames, 120 real photos; one core of the
development machine; numbers from one run, cascade and zxing-cpp timed in the same run):

1. **Cheap path.** zxing-cpp on the gray frame as captured (it tries rotation, inversion and
   downscaling itself): the fastest and best single engine, 124/260 camera frames at about
   0.5 ms mean. It is asked for located-but-undecodable symbols too (``return_errors``), at no
   extra cost: their outline is the best evidence that a code is present and where.
2. **Finder gate.** Otherwise :mod:`vision.qr.gate` looks for QR finder patterns (1:1:3:1:1
   runs confirmed in both directions, with real contrast) in a 320-pixel copy. A frame with
   neither a located symbol nor a plausible finder pair is declared code-free: 113 of 120
   cluttered code-free frames stop here, so their median cost is about 1 ms (zxing-cpp plus
   the gate). The previous texture-density gate could not tell clutter from hard codes and
   sent code-free frames deep (4.4 ms median).
3. **Rescue, aimed at the region.** The crop around the located symbol or finder pair is
   scaled so a module spans about 4 pixels (small, far codes get bigger; near ones smaller),
   and the attempts run on it, a fraction of a whole-frame attempt's cost (0.1-0.4 ms).
   A few whole-frame attempts follow for when the crop is off (an inaccurate outline).
   Their order is greedy by rescued frames per millisecond on the camera frames the cheap
   path missed: illumination flattening (glare, low light), unsharp masking (defocus,
   hand-shake), whole-frame denoising (low-light noise), contrast equalisation, 2x whole-frame
   upscaling (far codes), adaptive binarisation, zbar on the crop, zbar on a downscaled
   frame and whole-frame sharpening. That is ``max_attempts`` = 9: with 7 (tuned on seed 1)
   fresh frames (seed 2) gained only +9.6 pp; 9 keeps every seed tried at or above +10 pp and
   under 5x zxing-cpp's mean time, while 11 costs 6-7x. The rest (WeChat on
   small crops, zbar denoised) added one or two frames each at many times the cost, and
   OpenCV's QRCodeDetector never added a frame, so it is not used. Small images (photos,
   thumbnails under 320x240) and ``fast_reject=False`` searches try every attempt.
   Each attempt is also skipped when its running-average cost would overrun ``budget_ms``.

Result (seed 1, ``max_attempts`` 9): camera frames 160/260 vs zxing-cpp 124 (+13.8 pp) at
4.8x its mean time; code-free frames 0 false decodes, 1.6 ms median; real photos 115/120 (the
union of all single engines in that run: 114). Seeds 2 and 3: +11.2 / +10.4 pp at 4.1x / 4.3x.
Every decode comes from zxing-cpp or zbar, which both verify the symbol's
Reed-Solomon error correction, and no false decode was seen on the code-free frames.

The first attempt that decodes ends the search. Every engine error is contained in
:mod:`vision.qr.engines`; the decoder itself raises only :class:`InvalidImageError` for input
that is not an image.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from vision.errors import VisionError
from vision.qr import prepare
from vision.qr.engines import EngineSet, to_gray
from vision.qr.gate import code_evidence
from vision.qr.result import DecodeResult, QrCode, payload_text

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

# Images larger than this (longest side) are reduced before the deeper attempts.
_MAX_PREP_SIDE = 1280
# Frames smaller than a quarter of 640x480 are cheap to search fully, so they are never rejected.
_REJECT_MIN_PIXELS = 320 * 240
# Deeper attempts on a located region scale it so a module spans about this many pixels...
_TARGET_MODULE_PX = 4.0
# ...but never beyond this factor, nor beyond this many pixels on the crop's longest side.
_MAX_UPSCALE = 4.0
_MAX_CROP_SIDE = 720
# WeChat on a full cluttered frame costs tens of ms; it only sees crops/images this small.
_WECHAT_MAX_SIDE = 400
# Modules across a symbol assumed when only its outline is known (versions 2..4 are typical).
_ASSUMED_MODULES = 29


class InvalidImageError(VisionError):
    """The input is not an 8-bit-convertible gray or colour image."""


@dataclass(frozen=True)
class CascadeSettings:
    """Tuning of the cascade; the defaults are the measured ones (see module docstring)."""

    budget_ms: float = 30.0
    # Reject frames without finder patterns (False = always search, e.g. for single photos).
    fast_reject: bool = True
    # Deeper attempts made at most per frame (they are ordered by measured yield per ms).
    max_attempts: int = 9


@dataclass
class _Frame:
    """Per-frame working data shared by the attempts: the image they look at and its mapping."""

    image: np.ndarray  # the (cropped, scaled) gray image the attempts decode
    scale: float  # factor from ``image`` coordinates back to the original frame
    origin: tuple[float, float]  # offset of ``image`` in original frame pixels
    whole: np.ndarray | None = None  # the whole gray frame when ``image`` is a crop of it


Attempt = tuple[str, Callable[[_Frame], list[QrCode]]]


class QrDecoder:
    """Decode QR codes in images with a cascade of engines and preparations, within a budget.

    Not thread-safe (engine instances are reused); give each thread its own decoder.
    Use as a context manager or call :meth:`close`.
    """

    def __init__(self, settings: CascadeSettings | None = None, *,
                 budget_ms: float | None = None, clock: Clock = time.perf_counter) -> None:
        base = settings or CascadeSettings()
        if budget_ms is not None:
            base = replace(base, budget_ms=budget_ms)
        if base.budget_ms <= 0:
            raise ValueError("budget_ms must be positive")
        if base.max_attempts < 0:
            raise ValueError("max_attempts must not be negative")
        self.settings = base
        self._clock = clock
        self._engines = EngineSet()
        self._cost_ms: dict[str, float] = {}
        self._attempts: tuple[Attempt, ...] = self._build_attempts()

    def __enter__(self) -> QrDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release engine resources; idempotent."""
        self._engines.close()

    @property
    def engines(self) -> EngineSet:
        """The decoder's engine instances (the live scanner's rescue steps reuse them)."""
        return self._engines

    def decode(self, image: np.ndarray) -> DecodeResult:
        """Find and decode every QR code the cascade can read in ``image`` (BGR, BGRA or gray)."""
        start = self._clock()
        try:
            gray = to_gray(image)
        except (ValueError, TypeError) as exc:
            raise InvalidImageError(str(exc)) from exc
        s = self.settings
        attempts = ["zxing"]
        codes, located = zxing_with_outlines(gray)
        if codes:
            return self._result(start, codes, attempts)
        frame, notes = self._plan(gray, located)
        if frame is None:
            return self._result(start, (), attempts, rejected=True, notes=notes)
        # Small images (photos, thumbnails) and explicit full searches try every attempt.
        full = not s.fast_reject or gray.size < _REJECT_MIN_PIXELS
        over = False
        for name, fn in self._attempts[:len(self._attempts) if full else s.max_attempts]:
            elapsed = (self._clock() - start) * 1000.0
            if elapsed + self._cost_ms.get(name, 0.0) > s.budget_ms:
                over = True
                continue
            t0 = self._clock()
            try:
                found = fn(frame)
            except Exception as exc:  # a preparation failing on an odd image loses nothing
                logger.debug("QR attempt %s failed: %s", name, exc)
                found = []
            cost = (self._clock() - t0) * 1000.0
            previous = self._cost_ms.get(name)
            self._cost_ms[name] = cost if previous is None else 0.8 * previous + 0.2 * cost
            attempts.append(name)
            if found:
                return self._result(start, [_to_frame(c, frame) for c in found], attempts,
                                    notes=notes)
        return self._result(start, (), attempts, over_budget=over, notes=notes)

    def _plan(self, gray: np.ndarray,
              located: list[Quad]) -> tuple[_Frame | None, tuple[str, ...]]:
        """Where the deeper attempts look: a located symbol, a finder pair, or the whole frame.

        Returns None when the frame holds no sign of a code and may be rejected.
        """
        h, w = gray.shape[:2]
        if located:
            xs = [x for quad in located for x, _ in quad]
            ys = [y for quad in located for _, y in quad]
            side = max(max(xs) - min(xs), max(ys) - min(ys), 1.0)
            box = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
            frame = _crop(gray, box, 0.3, side / _ASSUMED_MODULES)
            frame.whole = gray
            return frame, ("located",)
        evidence = code_evidence(gray)
        if evidence.region is not None:
            frame = _crop(gray, evidence.region, 0.0, evidence.module)
            frame.whole = gray
            return frame, ("finders",)
        if self.settings.fast_reject and gray.size >= _REJECT_MIN_PIXELS:
            return None, ("no finders",)
        if max(h, w) > _MAX_PREP_SIDE:
            factor = _MAX_PREP_SIDE / max(h, w)
            return _Frame(prepare.downscale(gray, factor), 1.0 / factor, (0.0, 0.0)), ()
        factor = 2.0 if max(h, w) <= _MAX_CROP_SIDE // 2 else 1.0
        image = prepare.upscale(gray, factor) if factor > 1 else gray
        return _Frame(image, 1.0 / factor, (0.0, 0.0)), ()

    def _result(self, start: float, codes: list[QrCode] | tuple[QrCode, ...],
                attempts: list[str], *, rejected: bool = False, over_budget: bool = False,
                notes: tuple[str, ...] = ()) -> DecodeResult:
        unique: dict[bytes, QrCode] = {}
        for code in codes:
            unique.setdefault(code.payload, code)
        elapsed = (self._clock() - start) * 1000.0
        return DecodeResult(tuple(unique.values()), elapsed, tuple(attempts), rejected,
                            over_budget, notes)

    def _build_attempts(self) -> tuple[Attempt, ...]:
        e = self._engines
        p = prepare

        def zx(prep: Callable[[np.ndarray], np.ndarray], tag: str) -> Attempt:
            return tag, lambda f: e.zxing(prep(f.image), tag=tag)

        def whole(fn: Callable[[np.ndarray], list[QrCode]], tag: str) -> Attempt:
            def run(f: _Frame) -> list[QrCode]:
                if f.whole is None:
                    return []
                if max(f.whole.shape) > _MAX_PREP_SIDE:
                    return []
                return [QrCode(c.payload, c.text, c.points, tag) for c in fn(f.whole)]
            return tag, run

        def wechat(f: _Frame) -> list[QrCode]:
            return e.wechat(f.image) if max(f.image.shape) <= _WECHAT_MAX_SIDE else []

        # Ordered by rescues per millisecond on the benchmark's camera frames that the cheap
        # path missed (greedy: each next attempt adds the most newly read frames per ms).
        return (
            zx(p.flatten, "zxing/flatten"),
            zx(p.sharpen, "zxing/sharpen"),
            whole(lambda g: e.zxing(p.denoise(g)), "frame:zxing/denoise"),
            zx(p.clahe, "zxing/clahe"),
            whole(lambda g: e.zxing(p.upscale(g)), "frame:zxing/upscale"),
            whole(lambda g: e.zxing(p.binarize(g), binarizer="FixedThreshold"),
                  "frame:zxing/binarize"),
            ("zbar", lambda f: e.zbar(f.image)),
            whole(lambda g: e.zbar(p.downscale(g)), "frame:zbar/downscale"),
            whole(lambda g: e.zxing(p.sharpen(g)), "frame:zxing/sharpen"),
            ("wechat", wechat),
            whole(lambda g: e.zbar(p.denoise(g)), "frame:zbar/denoise"),
        )


Quad = tuple[tuple[float, float], ...]


def zxing_with_outlines(gray: np.ndarray) -> tuple[list[QrCode], list[Quad]]:
    """zxing-cpp returning decoded codes plus the corners of symbols it located but not read."""
    try:
        import zxingcpp

        results = zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormat.QRCode,
                                         text_mode=zxingcpp.TextMode.Plain, return_errors=True)
        codes: list[QrCode] = []
        errors: list[Quad] = []
        for r in results:
            p = r.position
            pts = ((float(p.top_left.x), float(p.top_left.y)),
                   (float(p.top_right.x), float(p.top_right.y)),
                   (float(p.bottom_right.x), float(p.bottom_right.y)),
                   (float(p.bottom_left.x), float(p.bottom_left.y)))
            if not r.valid:
                errors.append(pts)
                continue
            raw = bytes(r.bytes)
            text = r.text if r.content_type != zxingcpp.ContentType.Binary else None
            codes.append(QrCode(raw, payload_text(raw, text), pts, "zxing"))
        return codes, errors
    except Exception as exc:  # an engine failure must never lose the frame
        logger.debug("zxing-cpp failed: %s", exc)
        return [], []


def _crop(gray: np.ndarray, box: tuple[float, float, float, float], margin: float,
          module: float) -> _Frame:
    """A square crop around ``box`` (x, y, w, h) plus ``margin`` of its side, scaled so that a
    module of ``module`` pixels spans about _TARGET_MODULE_PX pixels."""
    x, y, w, h = box
    side = max(w, h) * (1.0 + 2.0 * margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    x0, y0 = max(int(cx - side / 2), 0), max(int(cy - side / 2), 0)
    x1 = min(int(cx + side / 2) + 1, gray.shape[1])
    y1 = min(int(cy + side / 2) + 1, gray.shape[0])
    crop = gray[y0:y1, x0:x1]
    longest = max(crop.shape[:2])
    factor = min(_TARGET_MODULE_PX / max(module, 0.5), _MAX_UPSCALE, _MAX_CROP_SIDE / longest)
    if factor > 1.1:
        crop = prepare.upscale(crop, factor)
    elif factor < 0.9:
        crop = prepare.downscale(crop, max(factor, 0.25))
    else:
        factor = 1.0
    scale = longest / max(crop.shape[:2]) if factor != 1.0 else 1.0
    return _Frame(np.ascontiguousarray(crop), scale, (float(x0), float(y0)))


def _to_frame(code: QrCode, frame: _Frame) -> QrCode:
    """Map a code's corners from the attempt's image back to original frame pixels."""
    if frame.scale == 1.0 and frame.origin == (0.0, 0.0):
        return code
    ox, oy = frame.origin
    k = frame.scale
    pts = tuple((x * k + ox, y * k + oy) for x, y in code.points)
    return QrCode(code.payload, code.text, pts, code.engine)
