"""The QR decoder cascade: the cheap path first, deeper attempts only while they can pay off.

Design, with the reasons measured on this project's rendered camera frames (640x480, one core
of the development machine; `scanpay bench qr` reproduces them):

1. **Cheap path.** zxing-cpp on the gray frame as captured (it tries rotation, inversion and
   downscaling itself). It is the fastest and best single engine (about 0.4 ms median per
   frame, roughly 55% of hard camera frames), so most readable frames stop here. It is asked
   for located-but-undecodable symbols too, at no extra cost: their position is the best
   evidence that a code is present.
2. **Fast reject.** If nothing was located, a texture gate (:mod:`vision.qr.gate`, ~0.3 ms)
   scores the frame; below ``reject_below`` the frame is declared code-free. Together with
   step 1 a code-free frame costs well under 2 ms.
3. **Rescue.** Otherwise image preparations feed zxing-cpp again, in order of measured yield
   per millisecond on frames step 1 missed: unsharp masking (defocus/hand-shake; the single
   best rescue), adaptive binarisation, 2x upscaling (small/far codes), then zbar (a
   different detector, strong on tilt), contrast equalisation and illumination flattening
   (glare, low light), and OpenCV's WeChat and QRCodeDetector last (slowest: WeChat takes
   about 30 ms on a cluttered 640x480 frame, so it runs on a crop or small images only).
   Attempts beyond ``cheap_attempts`` run only when there is strong evidence (a located
   symbol or a texture score above ``deep_above``); each is skipped when its running-average
   cost would overrun ``budget_ms``.

The first attempt that decodes ends the search. Every engine error is contained in
:mod:`vision.qr.engines`; the decoder itself raises only :class:`InvalidImageError` for input
that is not an image.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vision.errors import VisionError
from vision.qr import prepare
from vision.qr.engines import EngineSet, to_gray
from vision.qr.gate import texture_evidence
from vision.qr.result import DecodeResult, QrCode

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

# Images larger than this (longest side) are reduced before the preparation stages.
_MAX_PREP_SIDE = 1280
# Frames smaller than a quarter of 640x480 are cheap to search fully, so they are never rejected.
_REJECT_MIN_PIXELS = 320 * 240
# WeChat on a full cluttered frame costs tens of ms; it only sees crops/images this small.
_WECHAT_MAX_SIDE = 400


class InvalidImageError(VisionError):
    """The input is not an 8-bit-convertible gray or colour image."""


@dataclass(frozen=True)
class CascadeSettings:
    """Tuning of the cascade; the defaults are the measured ones (see module docstring)."""

    budget_ms: float = 30.0
    # Texture score below which a frame with no located symbol is declared code-free.
    reject_below: float = 14.0
    # Texture score above which the deep attempts run even with no located symbol.
    deep_above: float = 22.0
    # Attempts (after the cheap path) that run on texture evidence alone.
    cheap_attempts: int = 2
    # Whether to use the fast reject at all (False = always search, e.g. for single photos).
    fast_reject: bool = True


Attempt = tuple[str, Callable[[np.ndarray, "_Frame"], list[QrCode]]]


@dataclass
class _Frame:
    """Per-frame working data shared by the attempts."""

    gray: np.ndarray
    scale: float  # factor from ``gray`` coordinates back to the original image
    region: tuple[int, int, int, int] | None  # located-but-undecoded symbol, gray coordinates


class QrDecoder:
    """Decode QR codes in images with a cascade of engines and preparations, within a budget.

    Not thread-safe (engine instances are reused); give each thread its own decoder.
    Use as a context manager or call :meth:`close`.
    """

    def __init__(self, settings: CascadeSettings | None = None, *,
                 budget_ms: float | None = None, clock: Clock = time.perf_counter) -> None:
        base = settings or CascadeSettings()
        if budget_ms is not None:
            base = CascadeSettings(budget_ms, base.reject_below, base.deep_above,
                                   base.cheap_attempts, base.fast_reject)
        if base.budget_ms <= 0:
            raise ValueError("budget_ms must be positive")
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

    def decode(self, image: np.ndarray) -> DecodeResult:
        """Find and decode every QR code the cascade can read in ``image`` (BGR, BGRA or gray)."""
        start = self._clock()
        try:
            gray = to_gray(image)
        except (ValueError, TypeError) as exc:
            raise InvalidImageError(str(exc)) from exc
        s = self.settings
        attempts = ["zxing"]
        codes, located = self._primary(gray)
        if codes:
            return self._result(start, codes, attempts)

        frame = _Frame(gray, 1.0, None)
        if max(gray.shape) > _MAX_PREP_SIDE:
            factor = _MAX_PREP_SIDE / max(gray.shape)
            frame = _Frame(prepare.downscale(gray, factor), 1.0 / factor, None)
        if located:
            frame.region = _scaled_box(located, 1.0 / frame.scale, frame.gray.shape)
        evidence = None
        if frame.region is None:
            evidence = texture_evidence(gray).score
            if s.fast_reject and gray.size >= _REJECT_MIN_PIXELS and evidence < s.reject_below:
                return self._result(start, (), attempts, rejected=True)
        deep = frame.region is not None or evidence is None or evidence >= s.deep_above
        deep = deep or not s.fast_reject
        limit = len(self._attempts) if deep else s.cheap_attempts
        over = False
        for name, fn in self._attempts[:limit]:
            elapsed = (self._clock() - start) * 1000.0
            if elapsed + self._cost_ms.get(name, 0.0) > s.budget_ms:
                over = True
                continue
            t0 = self._clock()
            found = fn(frame.gray, frame)
            cost = (self._clock() - t0) * 1000.0
            previous = self._cost_ms.get(name)
            self._cost_ms[name] = cost if previous is None else 0.8 * previous + 0.2 * cost
            attempts.append(name)
            if found:
                if frame.scale != 1.0:
                    found = [_rescale(c, frame.scale) for c in found]
                return self._result(start, found, attempts)
        return self._result(start, (), attempts, over_budget=over)

    def _primary(self, gray: np.ndarray) -> tuple[list[QrCode], tuple[float, ...] | None]:
        """zxing-cpp on the frame as captured; also return the box of a located, unread symbol."""
        codes, errors = _zxing_with_errors(gray)
        box = None
        if errors:
            xs = [x for pts in errors for x, _ in pts]
            ys = [y for pts in errors for _, y in pts]
            box = (min(xs), min(ys), max(xs), max(ys))
        return codes, box

    def _result(self, start: float, codes: list[QrCode] | tuple[QrCode, ...],
                attempts: list[str], *, rejected: bool = False,
                over_budget: bool = False) -> DecodeResult:
        unique: dict[bytes, QrCode] = {}
        for code in codes:
            unique.setdefault(code.payload, code)
        elapsed = (self._clock() - start) * 1000.0
        return DecodeResult(tuple(unique.values()), elapsed, tuple(attempts), rejected,
                            over_budget)

    def _build_attempts(self) -> tuple[Attempt, ...]:
        e = self._engines
        p = prepare

        def zx(prep: Callable[[np.ndarray], np.ndarray], tag: str, **kw: object) -> Attempt:
            return (tag, lambda g, f: e.zxing(prep(g), tag=tag, **kw))  # type: ignore[arg-type]

        def up(g: np.ndarray, f: _Frame) -> list[QrCode]:
            crop, (ox, oy) = _crop(g, f.region, margin=0.5)
            if max(crop.shape) > 800:
                return []
            codes = e.zxing(p.upscale(crop), scale=0.5, tag="zxing/upscale")
            return [_offset(c, ox, oy) for c in codes]

        def up_sharp(g: np.ndarray, f: _Frame) -> list[QrCode]:
            crop, (ox, oy) = _crop(g, f.region, margin=0.5)
            if max(crop.shape) > 800:
                return []
            codes = e.zxing(p.sharpen(p.upscale(crop)), scale=0.5, tag="zxing/upscale+sharpen")
            return [_offset(c, ox, oy) for c in codes]

        def wechat(g: np.ndarray, f: _Frame) -> list[QrCode]:
            crop, (ox, oy) = _crop(g, f.region, margin=0.6)
            if max(crop.shape) > _WECHAT_MAX_SIDE:
                return []
            return [_offset(c, ox, oy) for c in e.wechat(crop)]

        return (
            zx(p.sharpen, "zxing/sharpen"),
            zx(p.binarize, "zxing/binarize", binarizer="FixedThreshold"),
            ("zxing/upscale", up),
            ("zbar", lambda g, f: e.zbar(g)),
            ("zxing/upscale+sharpen", up_sharp),
            zx(p.clahe, "zxing/clahe"),
            zx(p.flatten, "zxing/flatten"),
            ("zbar/denoise", lambda g, f: e.zbar(p.denoise(g), tag="zbar/denoise")),
            ("wechat", wechat),
            ("opencv", lambda g, f: e.opencv(g) if max(g.shape) <= 800 else []),
        )


Quad = tuple[tuple[float, float], ...]


def _zxing_with_errors(gray: np.ndarray) -> tuple[list[QrCode], list[Quad]]:
    """zxing-cpp returning decoded codes plus the corners of symbols it located but not read."""
    try:
        import zxingcpp

        from vision.qr.result import payload_text

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


def _scaled_box(box: tuple[float, ...], k: float,
                shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (v * k for v in box)
    h, w = shape[:2]
    x0, y0 = max(int(x0), 0), max(int(y0), 0)
    x1, y1 = min(int(x1) + 1, w), min(int(y1) + 1, h)
    return x0, y0, max(x1 - x0, 1), max(y1 - y0, 1)


def _crop(gray: np.ndarray, region: tuple[int, int, int, int] | None,
          margin: float) -> tuple[np.ndarray, tuple[int, int]]:
    if region is None:
        return gray, (0, 0)
    x, y, w, h = region
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = max(int(cx - side / 2), 0), max(int(cy - side / 2), 0)
    x1, y1 = min(int(cx + side / 2), gray.shape[1]), min(int(cy + side / 2), gray.shape[0])
    return gray[y0:y1, x0:x1], (x0, y0)


def _offset(code: QrCode, ox: int, oy: int) -> QrCode:
    if not ox and not oy:
        return code
    pts = tuple((x + ox, y + oy) for x, y in code.points)
    return QrCode(code.payload, code.text, pts, code.engine)


def _rescale(code: QrCode, k: float) -> QrCode:
    pts = tuple((x * k, y * k) for x, y in code.points)
    return QrCode(code.payload, code.text, pts, code.engine)
