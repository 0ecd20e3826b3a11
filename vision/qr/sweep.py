"""Find small, blurred QR symbols in a whole frame when nothing else sees them.

zxing-cpp and the finder gate (:mod:`vision.qr.gate`) both look for finder patterns in a
binarised image. A phone held a little far away and shaken (modules of 2-3 pixels smeared by
6-20 pixels of motion) breaks the 1:1:3:1:1 runs of every line, so neither sees a symbol and
the live scanner never starts its rescue, although the grid sampler can read some of those
very frames when it is pointed at the code. This sweep points it there:

1. **Finder candidates by matched filtering** of the whole frame at half resolution (sensor
   noise averaged down, a quarter of the pixels) with the grid sampler's finder template at
   the module sizes the gate misses: the correlation adds up the whole pattern's evidence, so
   it survives blur that breaks every run.
2. **Triples** shaped like a symbol's three finders (a right isosceles triangle of similar
   module sizes), as the grid sampler forms them.
3. **Verification on the symbol's fixed modules.** For each of the best triples and the
   versions its finder spacing allows, the module centres of the symbol's known modules
   (finders, separators, timing patterns, the quiet zone's first ring) are sampled on the
   grid the finders imply, and a blur model (a 3x3 module kernel over the known states, an
   offset and a light gradient) is fitted to them. The *pattern evidence* is the share of the
   variance that the pattern explains beyond the offset and gradient alone. Smooth light on a
   face or a wall is explained by the gradient and scores low: at most 0.58 on 1,626 frames
   of the development face videos (people in front of a camera), and at most 0.70 on the
   code-free frames of ``scanpay bench qr --live`` (a phone showing a blurred photo, the
   hardest decoy). The frames of shaken 2-3 pixel codes that zxing-cpp and the gate miss
   score 0.72-0.99; a sighting needs 0.75. The grid sampler's own fit score (R^2 with the
   gradient included) cannot tell the two apart: it reached 0.99 on faces.

The sweep costs about 3 ms a frame on the development machine, so the live scanner runs it
only on frames where the gate and zxing-cpp saw nothing and something in view moved lately
(:class:`vision.qr.track.MotionGate`): an idle unit's camera pays nothing for it.

Only the region (and the module size measured by the finders) is returned; every decode still
comes from the rescue steps, which verify the symbol's error correction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vision.qr import grid

_SCALE = 0.5  # the frame is searched at this scale
_MODULES = (2.0, 2.8)  # module sizes searched, frame pixels (larger ones the gate sees)
_MIN_PEAK = 0.45  # normalised correlation a finder candidate needs
_CANDIDATES = 10  # strongest candidates kept
_TRIPLES = 2  # triples verified
_MIN_EVIDENCE = 0.75  # pattern evidence a symbol needs (code-free frames reached 0.70)
_MARGIN_MODULES = 4.0  # quiet zone added around the symbol's box


@dataclass(frozen=True)
class Sighting:
    """A symbol found by the sweep: its box in frame pixels (x, y, width, height, with the
    quiet zone), its module size in frame pixels and its pattern evidence (0..1)."""

    box: tuple[int, int, int, int]
    module: float
    evidence: float


def pattern_evidence(gray: np.ndarray, g: grid.Grid) -> float:
    """How much of the variance of the known modules of ``g`` in ``gray`` the symbol's fixed
    pattern explains beyond an offset and a light gradient (0..1)."""
    full, a, pinv = grid.known_design(g.size, 1)
    if a is None or pinv is None:
        return 0.0
    y = grid.module_darkness(gray, g, smooth=False)[full]
    resid_full = float(((y - a @ (pinv @ y)) ** 2).sum())
    ramp = a[:, :3]
    coef, *_ = np.linalg.lstsq(ramp, y, rcond=None)
    resid_ramp = float(((y - ramp @ coef) ** 2).sum())
    if resid_ramp <= 1e-9:
        return 0.0
    return max(0.0, 1.0 - resid_full / resid_ramp)


def sweep(gray: np.ndarray) -> Sighting | None:
    """The most evident symbol in an 8-bit gray frame whose modules are about 1.5-3.5 pixels,
    or None."""
    import cv2

    if gray.ndim != 2 or min(gray.shape) < 40:
        return None
    work = cv2.resize(gray, None, fx=_SCALE, fy=_SCALE, interpolation=cv2.INTER_AREA)
    found = grid.find_finders(work, _SCALE, _MODULES, floor=_MIN_PEAK, count=_CANDIDATES)
    kept = [(x / _SCALE, y / _SCALE, m / _SCALE, v) for x, y, m, v in found]  # frame pixels
    best: Sighting | None = None
    for tl, tr, bl, m in grid.finder_triples(kept)[:_TRIPLES]:
        dist = (math.hypot(tr[0] - tl[0], tr[1] - tl[1])
                + math.hypot(bl[0] - tl[0], bl[1] - tl[1])) / 2.0
        version = round((dist / m + 7.0 - 17.0) / 4.0)
        for v in (version, version - 1, version + 1):
            if not 1 <= v <= 40:
                continue
            size = 17 + 4 * v
            g = grid.Grid(size, grid.affine_grid(tl, tr, bl, size))
            evidence = pattern_evidence(gray, g)
            if evidence >= _MIN_EVIDENCE and (best is None or evidence > best.evidence):
                best = Sighting(_box(g, gray.shape), dist / (size - 7), evidence)
    return best


def _box(g: grid.Grid, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    n = g.size
    e = _MARGIN_MODULES
    corners = grid.map_points(g.homography, np.array([[-e, -e], [n - 1 + e, -e],
                                                [n - 1 + e, n - 1 + e], [-e, n - 1 + e]]))
    h, w = shape[:2]
    x0, y0 = max(int(corners[:, 0].min()), 0), max(int(corners[:, 1].min()), 0)
    x1, y1 = min(int(corners[:, 0].max()) + 1, w), min(int(corners[:, 1].max()) + 1, h)
    return (x0, y0, max(x1 - x0, 1), max(y1 - y0, 1))
