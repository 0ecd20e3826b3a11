"""What consecutive camera frames tell the live scanner: where the code is, and which frame is
sharpest.

- :class:`RegionTrack` keeps the region (and module size) where a symbol was last seen
  (located by zxing-cpp, outlined by finder patterns, or decoded) for a few frames. A phone
  held up to a camera moves a few pixels between frames, so the region of the last frames is
  where the code still is while a frame too blurred or defocused to show finder patterns
  arrives.
- :func:`focus_measure` is a cheap sharpness score of a region: the mean squared gradient
  divided by the squared contrast, so a dim frame and a bright one of the same sharpness
  score alike. Defocus and motion blur both spread every module edge over more pixels, which
  lowers the gradient for the same contrast; it is the classic Tenengrad measure of autofocus,
  normalised.
- :func:`stack_aligned` averages regions of several frames after aligning them by phase
  correlation: the hand moves the phone by a few pixels between frames, while sensor and
  compression noise are independent from frame to frame, so N aligned frames average the
  noise down by about sqrt(N).
- :class:`FrameHistory` keeps the crops of the last few frames at the tracked region with their
  focus scores, so the heavy rescue can work on the sharpest frame of the last few rather than
  on whatever frame happens to be the newest (a hand-shaken phone gives the odd steadier frame
  among blurred ones; a hunting lens passes through focus).
- :class:`MotionGate` says whether anything in view moved in the last frames, so costlier
  searches run only while something is being shown to the camera, not on an idle counter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

Box = tuple[int, int, int, int]  # x, y, width, height in frame pixels


@dataclass(frozen=True)
class Region:
    """Where a symbol is: a box in frame pixels and the module size seen there (pixels)."""

    box: Box
    module: float


class RegionTrack:
    """The region where a symbol was seen in recent frames; forgotten after ``ttl`` frames
    without new evidence."""

    def __init__(self, ttl: int = 8) -> None:
        if ttl < 1:
            raise ValueError("ttl must be at least 1")
        self.ttl = ttl
        self._region: Region | None = None
        self._age = 0

    @property
    def region(self) -> Region | None:
        """The tracked region, or None when nothing was seen in the last ``ttl`` frames."""
        return self._region

    @property
    def age(self) -> int:
        """Frames since the tracked region was last seen."""
        return self._age

    def see(self, region: Region) -> None:
        """Evidence of a symbol in this frame."""
        self._region = region
        self._age = 0

    def miss(self) -> None:
        """A frame without evidence: the region ages and is dropped after ``ttl`` such frames."""
        if self._region is None:
            return
        self._age += 1
        if self._age > self.ttl:
            self.reset()

    def reset(self) -> None:
        """Forget the region (e.g. a new presentation)."""
        self._region = None
        self._age = 0


def box_of_points(points: list[tuple[float, float]] | tuple[tuple[float, float], ...],
                  shape: tuple[int, ...]) -> Box | None:
    """The bounding box of ``points`` clipped to a frame of ``shape`` (None when empty)."""
    if not points:
        return None
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    h, w = shape[:2]
    x0, y0 = max(int(min(xs)), 0), max(int(min(ys)), 0)
    x1, y1 = min(int(max(xs)) + 1, w), min(int(max(ys)) + 1, h)
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


def grow(box: Box, margin: float, shape: tuple[int, ...]) -> Box:
    """``box`` made square around its centre, grown by ``margin`` of its side on each side,
    clipped to the frame."""
    x, y, w, h = box
    side = max(w, h) * (1.0 + 2.0 * margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    fh, fw = shape[:2]
    x0, y0 = max(int(cx - side / 2), 0), max(int(cy - side / 2), 0)
    x1, y1 = min(int(cx + side / 2) + 1, fw), min(int(cy + side / 2) + 1, fh)
    return (x0, y0, max(x1 - x0, 1), max(y1 - y0, 1))


def focus_measure(gray: np.ndarray) -> float:
    """Sharpness of an 8-bit gray region: mean squared gradient / squared 2..98 % contrast.

    Higher is sharper. 0 for a flat region (no contrast, nothing to focus on).
    """
    g = gray.astype(np.float32)
    if g.shape[0] < 3 or g.shape[1] < 3:
        return 0.0
    lo, hi = np.percentile(g[::2, ::2], (2, 98))
    contrast = float(hi - lo)
    if contrast < 4.0:
        return 0.0
    gx = g[:, 2:] - g[:, :-2]
    gy = g[2:, :] - g[:-2, :]
    energy = float((gx * gx).mean() + (gy * gy).mean())
    return energy / (contrast * contrast)


@dataclass
class Snapshot:
    """One frame's crop at the tracked region, its focus, and the rescue steps already run."""

    crop: np.ndarray
    origin: tuple[float, float]  # crop's top-left in frame pixels
    module: float
    focus: float
    index: int  # frame counter when it was taken
    frame: np.ndarray | None = None  # the whole gray frame the crop came from
    tried: set[str] = field(default_factory=set)
    cache: dict[str, object] = field(default_factory=dict)  # prepared images of the crop

    @property
    def box(self) -> Box:
        """The crop's box in frame pixels."""
        h, w = self.crop.shape[:2]
        return (int(self.origin[0]), int(self.origin[1]), int(w), int(h))


class FrameHistory:
    """Crops of the last ``size`` frames at the tracked region, for the heavy rescue."""

    def __init__(self, size: int = 6) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self._items: list[Snapshot] = []

    def __len__(self) -> int:
        return len(self._items)

    def add(self, snap: Snapshot) -> None:
        """Keep ``snap``; the oldest crop leaves when more than ``size`` are held."""
        self._items.append(snap)
        if len(self._items) > self.size:
            self._items.pop(0)

    def sharpest(self) -> list[Snapshot]:
        """The crops held, sharpest first (ties: the newer first)."""
        return sorted(self._items, key=lambda s: (-s.focus, -s.index))

    def clear(self) -> None:
        """Forget every crop."""
        self._items.clear()


def stack_aligned(reference: np.ndarray, others: list[np.ndarray]) -> tuple[np.ndarray,
                                                                          list[tuple[float,
                                                                                     float]]]:
    """``reference`` and ``others`` (same shape, 8-bit gray) averaged after shifting each of
    ``others`` onto ``reference`` by its phase-correlation offset; also the offsets found.

    Images of another shape are left out (their offset is reported as (nan, nan)).
    """
    import cv2

    ref = reference.astype(np.float32)
    h, w = ref.shape[:2]
    window = cv2.createHanningWindow((w, h), cv2.CV_32F) if min(w, h) >= 8 else None
    total = ref.copy()
    used = 1
    shifts: list[tuple[float, float]] = []
    for img in others:
        if img.shape != reference.shape:
            shifts.append((math.nan, math.nan))
            continue
        other = img.astype(np.float32)
        # OpenCV applies the window to its inputs in place: give it copies.
        (dx, dy), _ = cv2.phaseCorrelate(ref.copy(), other.copy(), window)
        shifts.append((float(dx), float(dy)))
        back = np.float32([[1, 0, -dx], [0, 1, -dy]])
        total += cv2.warpAffine(other, back, (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
        used += 1
    return np.clip(total / used, 0, 255).astype(np.uint8), shifts


class MotionGate:
    """Whether anything moved in view in the last ``hold`` frames.

    A phone coming into view, or held in a shaking hand, changes the picture from frame to
    frame; a counter with nobody at it does not (beyond sensor noise and the camera's own
    tremor of a pixel or so). The frame is reduced to ``grid`` block means (which averages the
    noise away) and compared with the previous frame's: a move is at least ``min_blocks``
    blocks changed by more than ``threshold`` grey levels. Costs a resize of the frame.

    The default threshold sits between the emulated camera's idle frames (a 1.5-pixel tremor
    on sharp edges changes the third most changed block by at most 32 levels in 300 frames)
    and a phone in view (median 48-52 in the first second of every ``bench qr --live`` motion,
    at least one such frame in each); ``hold`` keeps the gate open through the odd steady frame.
    """

    def __init__(self, hold: int = 30, threshold: float = 40.0, min_blocks: int = 3,
                 grid: tuple[int, int] = (32, 24)) -> None:
        if hold < 0 or threshold <= 0 or min_blocks < 1 or min(grid) < 1:
            raise ValueError("hold >= 0, threshold > 0, min_blocks >= 1 and a grid of at "
                             "least 1x1 blocks")
        self.hold = hold
        self.threshold = threshold
        self.min_blocks = min_blocks
        self.grid = grid
        self._last: np.ndarray | None = None
        self._since = hold + 1

    def update(self, gray: np.ndarray) -> bool:
        """Feed the next frame (8-bit gray); True when something moved within ``hold``
        frames (this one included)."""
        import cv2

        small = cv2.resize(gray, self.grid, interpolation=cv2.INTER_AREA).astype(np.int16)
        last, self._last = self._last, small
        if last is not None and last.shape == small.shape and np.count_nonzero(
                np.abs(small - last) > self.threshold) >= self.min_blocks:
            self._since = 0
        else:
            self._since = min(self._since + 1, self.hold + 1)
        return self._since <= self.hold

    def reset(self) -> None:
        """Forget the previous frame and any recent motion."""
        self._last = None
        self._since = self.hold + 1
