"""A finder-driven grid sampler: read a QR symbol's modules by fitting its grid, not by
binarising the image, and vote each module across frames.

A generic decoder binarises the image and then looks for finder patterns in the binary
image. On a small code (1.5-2.5 pixel modules) that is noisy, dim and blurred by a few pixels,
the binarisation loses the finders and the timing pattern first, although the code's layout is
still plain to see. This sampler works the other way round, as the grid samplers of
industrial scanners do:

1. **Finders by matched filtering.** The region (scaled so a module spans about 2.5 pixels) is
   correlated with a finder pattern template (a 7x7-module target with its light separator)
   at a few module sizes; the peaks are candidates, and three of them forming a right
   isosceles triangle (the top-left finder at the right angle) are the symbol's finders. A
   matched filter adds up the whole pattern's evidence, so it survives noise and blur that
   break the 1:1:3:1:1 runs. Sub-pixel centres come from a parabola through the peak.
2. **The grid.** The finders' distance in modules gives the version (``17 + 4 v`` modules);
   for versions 2 and up the bottom-right alignment pattern is searched (matched filter
   again) near where the affine grid puts it, and a homography through the four centres
   takes the perspective of a tilted phone. Neighbouring versions are tried too.
3. **Soft module values, equalised.** Every module centre (and a ring of the quiet zone) is
   sampled, bilinearly on a lightly smoothed image. Blur leaks each module into its
   neighbours; that leak is measured on the symbol itself, by fitting a 3x3 module kernel, an
   offset and a light gradient to the modules whose states every symbol has (finders,
   separators, timing patterns, quiet zone), and undone by a bounded deconvolution of the
   unknown modules (:func:`equalise`). The fit's R^2 on the known modules scores the grid; a
   poor fit is dropped.
4. **Voting across frames** (:class:`GridVotes`): consecutive frames of a held phone give the
   same grid, seen through independent noise and different blur; the signed values of the
   frames whose fit is good are added (weighted by the fit score) and the sum is read again.
   This is the module-level counterpart of stacking, with no image registration needed: the
   finders give the correspondence.
5. **Decoding.** The modules are drawn as a clean black-and-white symbol with its quiet zone
   and read by zxing-cpp, which checks the Reed-Solomon error correction: a wrong module
   guess can only fail to decode (or be corrected), never yield a payload that was not there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from vision.qr.engines import zxing_decode
from vision.qr.erasures import decode_soft
from vision.qr.result import QrCode

_WORK_MODULE_PX = 2.0  # the region is scaled so a module spans about this many pixels
_MODULE_STEPS = (0.5, 0.7, 1.0, 1.4)  # module sizes tried around the hint
_MAX_WORK_SIDE = 360.0  # longest side of the image the finders are searched in
_FINE_STEPS = (0.85, 1.0, 1.2)  # ... and around a module size already measured
_MIN_PEAK = 0.35  # normalised correlation a finder candidate needs
_CANDIDATES = 8  # strongest candidates kept per region
_MIN_FIT = 0.45  # R^2 of the blur model on the known modules a grid needs to be read or voted
_GOOD_FIT = 0.9  # a fit this good is not second-guessed with the neighbouring versions
_SOFT_FIT = 0.85  # a fit needs this R^2 for the (costlier) soft-decision decoding
_VOTE_FLOOR = 0.8  # fits at or below this R^2 count (almost) nothing in the vote
_DRAW_PX = 4  # pixels per module of the drawn symbol
Point = tuple[float, float]


@dataclass(frozen=True)
class Grid:
    """A fitted symbol grid: ``size`` modules a side, the homography from module coordinates
    (column, row; module centres at integers) to image pixels, and the fit's score."""

    size: int
    homography: np.ndarray
    score: float = 0.0


@dataclass(frozen=True)
class Sample:
    """Signed module darkness of one frame (positive = dark), on ``grid``."""

    grid: Grid
    values: np.ndarray


def finder_template(module: float) -> np.ndarray:
    """A finder pattern with its one-module light separator, ``module`` pixels per module,
    zero-mean (dark = +1)."""
    n = 9
    yy, xx = np.mgrid[0:n, 0:n] - 4
    ring = np.maximum(np.abs(xx), np.abs(yy))
    cells = np.where((ring <= 1) | (ring == 3), 1.0, -1.0).astype(np.float32)
    side = max(round(n * module), 9)
    import cv2

    return cv2.resize(cells, (side, side), interpolation=cv2.INTER_AREA)


def _alignment_template(module: float) -> np.ndarray:
    n = 5
    yy, xx = np.mgrid[0:n, 0:n] - 2
    ring = np.maximum(np.abs(xx), np.abs(yy))
    cells = np.where((ring == 0) | (ring == 2), 1.0, -1.0).astype(np.float32)
    side = max(round(n * module), 5)
    import cv2

    return cv2.resize(cells, (side, side), interpolation=cv2.INTER_AREA)


def peaks(score: np.ndarray, min_dist: float, count: int, floor: float
           ) -> list[tuple[float, float, float]]:
    """Local maxima of ``score`` above ``floor``, at least ``min_dist`` apart, strongest first,
    with sub-pixel positions: (x, y, value)."""
    import cv2

    r = max(int(min_dist), 1)
    dil = cv2.dilate(score, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * r + 1, 2 * r + 1)))
    ys, xs = np.nonzero((score >= dil) & (score >= floor))
    order = np.argsort(-score[ys, xs])
    out: list[tuple[float, float, float]] = []
    h, w = score.shape
    for i in order:
        x, y = int(xs[i]), int(ys[i])
        if any((x - px) ** 2 + (y - py) ** 2 < min_dist ** 2 for px, py, _ in out):
            continue
        dx = dy = 0.0
        if 0 < x < w - 1:
            a, b, c = score[y, x - 1], score[y, x], score[y, x + 1]
            den = a - 2 * b + c
            dx = 0.5 * (a - c) / den if den < 0 else 0.0
        if 0 < y < h - 1:
            a, b, c = score[y - 1, x], score[y, x], score[y + 1, x]
            den = a - 2 * b + c
            dy = 0.5 * (a - c) / den if den < 0 else 0.0
        out.append((x + dx, y + dy, float(score[y, x])))
        if len(out) >= count:
            break
    return out


def find_finders(gray: np.ndarray, module: float,
                 steps: tuple[float, ...] = _MODULE_STEPS, *, floor: float = _MIN_PEAK,
                 count: int = _CANDIDATES) -> list[tuple[float, float, float, float]]:
    """Finder candidates in ``gray`` (a region with modules of about ``module`` pixels, times
    one of ``steps``): (x, y, module, score), strongest first, in ``gray``'s pixels; at most
    ``count``, each with a normalised correlation of at least ``floor``."""
    import cv2

    img = gray.astype(np.float32)
    found: list[tuple[float, float, float, float]] = []
    for step in steps:
        m = module * step
        tpl = finder_template(m)
        if tpl.shape[0] >= min(img.shape) // 2:
            continue
        # Dark modules are +1 in the template: correlate with the negated image.
        score = cv2.matchTemplate(-img, tpl, cv2.TM_CCOEFF_NORMED)
        half = (tpl.shape[1] - 1) / 2.0
        for x, y, v in peaks(score, 5.0 * m, count, floor):
            found.append((x + half, y + half, m, v))
    # Keep the best module size per location.
    found.sort(key=lambda f: -f[3])
    kept: list[tuple[float, float, float, float]] = []
    for f in found:
        if all((f[0] - k[0]) ** 2 + (f[1] - k[1]) ** 2 >= (3.0 * k[2]) ** 2 for k in kept):
            kept.append(f)
    return kept[:count]


def finder_triples(cands: list[tuple[float, float, float, float]]
             ) -> list[tuple[Point, Point, Point, float]]:
    """(top-left, top-right, bottom-left, module) triples of candidates shaped like a QR
    symbol's finders, best first."""
    out = []
    n = len(cands)
    for i in range(n):
        for j in range(n):
            for k in range(j + 1, n):
                if i in (j, k):
                    continue
                a, b, c = cands[i], cands[j], cands[k]
                ux, uy = b[0] - a[0], b[1] - a[1]
                vx, vy = c[0] - a[0], c[1] - a[1]
                lu, lv = math.hypot(ux, uy), math.hypot(vx, vy)
                m = (a[2] + b[2] + c[2]) / 3.0
                if min(lu, lv) < 10 * m or max(lu, lv) > 1.35 * min(lu, lv):
                    continue
                cos = (ux * vx + uy * vy) / (lu * lv)
                if abs(cos) > 0.35:
                    continue
                if max(a[2], b[2], c[2]) > 1.6 * min(a[2], b[2], c[2]):
                    continue
                cross = ux * vy - uy * vx
                tr, bl = (b, c) if cross > 0 else (c, b)
                out.append(((a[0], a[1]), (tr[0], tr[1]), (bl[0], bl[1]), m,
                            a[3] + b[3] + c[3] - abs(cos)))
    out.sort(key=lambda t: -t[4])
    return [(t[0], t[1], t[2], t[3]) for t in out[:4]]


def affine_grid(tl: Point, tr: Point, bl: Point, size: int) -> np.ndarray:
    """Homography (affine) from module coordinates to pixels through the finder centres."""
    d = size - 7
    src = np.float32([[3, 3], [3 + d, 3], [3, 3 + d]])
    dst = np.float32([tl, tr, bl])
    import cv2

    a = cv2.getAffineTransform(src, dst)
    return np.vstack([a, [0.0, 0.0, 1.0]])


def map_points(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """``pts`` (N x 2, module coordinates) mapped through the homography ``h``."""
    p = np.c_[pts, np.ones(len(pts))] @ h.T
    return p[:, :2] / p[:, 2:3]


def _refine_alignment(img: np.ndarray, h: np.ndarray, size: int,
                      module: float) -> np.ndarray | None:
    """Homography through the three finders and the bottom-right alignment pattern, found by
    a matched filter near its affine prediction (None when not found)."""
    import cv2

    ax = ay = size - 7.0
    px, py = map_points(h, np.array([[ax, ay]]))[0]
    tpl = _alignment_template(module)
    half = tpl.shape[0] / 2.0
    r = 4.0 * module + half
    x0, y0 = int(max(px - r, 0)), int(max(py - r, 0))
    x1, y1 = int(min(px + r + 1, img.shape[1])), int(min(py + r + 1, img.shape[0]))
    win = img[y0:y1, x0:x1]
    if win.shape[0] <= tpl.shape[0] + 2 or win.shape[1] <= tpl.shape[1] + 2:
        return None
    score = cv2.matchTemplate(-win, tpl, cv2.TM_CCOEFF_NORMED)
    found = peaks(score, 2.0 * module, 1, 0.3)
    if not found:
        return None
    x, y, _ = found[0]
    centre = (x + x0 + (tpl.shape[1] - 1) / 2.0, y + y0 + (tpl.shape[0] - 1) / 2.0)
    src = np.float32([[3, 3], [size - 4, 3], [3, size - 4], [ax, ay]])
    dst = np.float32([*map_points(h, src[:3].astype(np.float64)), centre])
    return cv2.getPerspectiveTransform(src, dst).astype(np.float64)


@lru_cache(maxsize=64)
def _fixed_mask(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The modules every symbol of ``size`` has in known states (finders, separators, timing
    patterns): a mask and their darkness (+1 dark, -1 light)."""
    mask = np.zeros((size, size), bool)
    dark = np.zeros((size, size), np.float32)
    _yy, _xx = np.mgrid[0:9, 0:9]
    for oy, ox in ((0, 0), (0, size - 7), (size - 7, 0)):
        for dy in range(-1, 8):
            for dx in range(-1, 8):
                y, x = oy + dy, ox + dx
                if 0 <= y < size and 0 <= x < size:
                    ring = max(abs(dy - 3), abs(dx - 3))
                    mask[y, x] = True
                    dark[y, x] = 1.0 if ring in (0, 1, 3) else -1.0
    for i in range(8, size - 8):
        for y, x in ((6, i), (i, 6)):
            mask[y, x] = True
            dark[y, x] = 1.0 if i % 2 == 0 else -1.0
    return mask, dark


def sample(gray: np.ndarray, grid: Grid) -> tuple[np.ndarray, float]:
    """Signed darkness of every module of ``grid`` in ``gray`` (positive = dark, -1..1),
    equalised for blur by :func:`equalise`, and the blur model's fit (R^2, 0..1)."""
    return equalise(module_darkness(gray, grid), grid.size)


def module_darkness(gray: np.ndarray, grid: Grid, *, smooth: bool = True) -> np.ndarray:
    """The image at every module centre of ``grid`` and one ring of its quiet zone (the
    (size + 2)-square, bilinear), negated so dark modules are high; with ``smooth``, on a
    copy lightly blurred for modules over 1.2 pixels (sampling noise down)."""
    import cv2

    n = grid.size
    img = gray.astype(np.float32)
    h = grid.homography
    if smooth:
        ends = map_points(h, np.array([[0.0, 0.0], [n - 1.0, 0.0]]))
        module = float(np.hypot(*(ends[1] - ends[0]))) / (n - 1)
        if module > 1.2:
            img = cv2.GaussianBlur(img, (0, 0), 0.15 * module)
    # One ring of the quiet zone too: it is known light, and anchors the edge modules.
    coords = np.arange(-1, n + 1, dtype=np.float64)
    cols, rows = np.meshgrid(coords, coords)
    pts = map_points(h, np.c_[cols.ravel(), rows.ravel()]).astype(np.float32)
    vals = cv2.remap(img, pts[:, 0].reshape(n + 2, n + 2), pts[:, 1].reshape(n + 2, n + 2),
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return -vals.astype(np.float64)


@lru_cache(maxsize=64)
def _known(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Known modules of a symbol of ``size`` with a one-module quiet ring around it: mask
    and state (+1 dark, -1 light), on the (size + 2)-square."""
    mask, dark = _fixed_mask(size)
    m = np.ones((size + 2, size + 2), bool)
    d = -np.ones((size + 2, size + 2))
    m[1:-1, 1:-1] = mask
    d[1:-1, 1:-1] = np.where(mask, dark, 0.0)
    return m, d


@lru_cache(maxsize=64)
def known_design(size: int, reach: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The least-squares design of :func:`equalise` for ``size``: the positions whose whole
    neighbourhood is known, their regressors (offset, gradient, neighbour states) and its
    pseudo-inverse (None when too few positions)."""
    n2 = size + 2
    known, state = _known(size)
    r = reach
    pad_known = np.pad(known, r, constant_values=True)
    pad_state = np.pad(state, r, constant_values=-1.0)
    full = np.ones((n2, n2), bool)
    shifts = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]
    for dy, dx in shifts:
        full &= pad_known[r + dy:r + dy + n2, r + dx:r + dx + n2]
    rr, cc = np.mgrid[0:n2, 0:n2]
    cols = [np.ones((n2, n2)), rr / n2, cc / n2] + [
        pad_state[r + dy:r + dy + n2, r + dx:r + dx + n2] for dy, dx in shifts]
    a = np.stack([c[full] for c in cols], axis=1)
    if len(a) < 2 * a.shape[1]:
        return full, None, None
    return full, a, np.linalg.pinv(a)


def equalise(vals: np.ndarray, size: int, iterations: int = 20,
             reach: int = 1) -> tuple[np.ndarray, float]:
    """Module states from module-centre samples (with the quiet ring) of a blurred symbol.

    Blur mixes each module with its neighbours. The mixing is measured on the symbol itself:
    a 3x3 module kernel, an offset and a linear light gradient are fitted by least squares to
    the modules whose states are known (finders, separators, timing, quiet ring). The unknown
    modules are then solved for as a bounded deconvolution (projected gradient descent on the
    squared residual of that model, states kept in -1..1, known modules fixed). Returns soft
    states (-1..1, positive = dark) of the symbol's modules and the model's R^2 on the known
    modules (how well the grid fits).
    """
    n2 = size + 2
    known, state = _known(size)
    r = reach
    full, a, pinv = known_design(size, reach)
    if a is None:
        return np.zeros((size, size)), 0.0
    coef = pinv @ vals[full]
    fitted = a @ coef
    resid = float(((vals[full] - fitted) ** 2).sum())
    total = float(((vals[full] - vals[full].mean()) ** 2).sum()) + 1e-9
    score = max(0.0, 1.0 - resid / total)  # R^2 of the blur model on the known modules
    ramp = np.arange(n2) / n2
    base = coef[0] + coef[1] * ramp[:, None] + coef[2] * ramp[None, :]
    kernel = coef[3:]
    centre = kernel[(2 * r + 1) ** 2 // 2]
    if centre < 1e-6 * (np.abs(kernel).sum() + 1e-9) or centre <= 0:
        return np.zeros((size, size)), 0.0
    import cv2

    k2 = kernel.reshape(2 * r + 1, 2 * r + 1).astype(np.float32)
    x = np.where(known, state, 0.0).astype(np.float32)
    step = np.float32(1.0 / float(np.abs(kernel).sum() ** 2))
    target = (vals - base).astype(np.float32)
    fixed = known.astype(bool)
    flipped = k2[::-1, ::-1].copy()
    y, t = x, 1.0
    for _ in range(iterations):  # FISTA: projected gradient steps with Nesterov momentum
        # Beyond the quiet ring is quiet zone too (light, -1); the residual is 0 there.
        yp = cv2.copyMakeBorder(y, r, r, r, r, cv2.BORDER_CONSTANT, value=-1.0)
        resid = cv2.filter2D(yp, -1, k2)[r:-r, r:-r] - target
        rp = cv2.copyMakeBorder(resid, r, r, r, r, cv2.BORDER_CONSTANT, value=0.0)
        grad = cv2.filter2D(rp, -1, flipped)[r:-r, r:-r]
        nxt = np.clip(y - step * grad, -1.0, 1.0)
        nxt[fixed] = state[fixed]
        t_next = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        y = nxt + ((t - 1.0) / t_next) * (nxt - x)
        x, t = nxt, t_next
    return x[1:-1, 1:-1], score


def _resized(gray: np.ndarray, factor: float) -> tuple[np.ndarray, float]:
    """``gray`` scaled by ``factor`` (at most to _MAX_WORK_SIDE pixels a side), and the
    factor used."""
    import cv2

    factor = min(factor, _MAX_WORK_SIDE / max(gray.shape[:2]))
    if abs(factor - 1.0) <= 0.1:
        return gray, 1.0
    interp = cv2.INTER_CUBIC if factor > 1 else cv2.INTER_AREA
    return cv2.resize(gray, None, fx=factor, fy=factor, interpolation=interp), factor


def fit_grids(gray: np.ndarray, module: float) -> list[Sample]:
    """Grids fitted to the symbol in ``gray`` (modules of about ``module`` pixels), each with
    its sampled modules: the finder triples in the order of their matched-filter evidence,
    each triple's versions best fit first; only fits scoring at least _MIN_FIT."""
    factor = _WORK_MODULE_PX / max(module, 0.3)
    work, factor = _resized(gray, factor)
    triples = finder_triples(find_finders(work, _WORK_MODULE_PX))
    if triples and abs(triples[0][3] / _WORK_MODULE_PX - 1.0) > 0.15:
        # The hint was off (a blurred finder measures wide, an outline fragment small): look
        # again at the resolution the finders found give, around their module size.
        work, factor = _resized(gray, factor * _WORK_MODULE_PX / triples[0][3])
        triples = finder_triples(find_finders(work, _WORK_MODULE_PX, _FINE_STEPS))
    img = work.astype(np.float32)
    out: list[Sample] = []
    back = np.diag([1.0 / factor, 1.0 / factor, 1.0])
    for tl, tr, bl, m in triples[:2]:
        fits: list[Sample] = []
        dist = (math.hypot(tr[0] - tl[0], tr[1] - tl[1])
                + math.hypot(bl[0] - tl[0], bl[1] - tl[1])) / 2.0
        version = round((dist / m + 7.0 - 17.0) / 4.0)
        # The nearest version first; its neighbours only when it does not fit well.
        for v in (version, version - 1, version + 1):
            if fits and fits[0].grid.score >= _GOOD_FIT:
                break
            if not 1 <= v <= 40:
                continue
            size = 17 + 4 * v
            h = affine_grid(tl, tr, bl, size)
            if v >= 2:
                refined = _refine_alignment(img, h, size, dist / (size - 7))
                if refined is not None:
                    h = refined
            # Sampled on the region itself, not the rescaled copy (one interpolation less).
            vals, score = sample(gray, Grid(size, back @ h))
            if score >= _MIN_FIT:
                fits.append(Sample(Grid(size, back @ h, score), vals))
        out.extend(sorted(fits, key=lambda s: -s.grid.score))
    return out


def draw(values: np.ndarray) -> np.ndarray:
    """The modules (positive = dark) as a clean 8-bit symbol with a 4-module quiet zone."""
    bits = np.pad(values > 0, 4)
    img = np.where(bits, 0, 255).astype(np.uint8)
    return np.kron(img, np.ones((_DRAW_PX, _DRAW_PX), np.uint8))


def read(values: np.ndarray, grid: Grid, tag: str = "grid", *, soft: bool = False
         ) -> list[QrCode]:
    """Decode the sampled modules (zxing-cpp checks the error correction); with ``soft``,
    when the hard bits do not decode, try the soft-decision error-and-erasure correction
    (:func:`vision.qr.erasures.decode_soft`) first. The code's corners are mapped back
    through the grid."""
    codes = zxing_decode(draw(values), try_harder=False, tag=tag)
    if not codes and soft:
        fixed = decode_soft(values)
        if fixed is not None:
            codes = zxing_decode(draw(np.where(fixed, 1.0, -1.0)), try_harder=False,
                                 tag=f"{tag}/soft")
    if not codes:
        return []
    n = grid.size
    corners = map_points(grid.homography, np.array([[-0.5, -0.5], [n - 0.5, -0.5],
                                              [n - 0.5, n - 0.5], [-0.5, n - 0.5]]))
    pts = tuple((float(x), float(y)) for x, y in corners)
    return [QrCode(c.payload, c.text, pts, c.engine) for c in codes]


@dataclass
class GridVotes:
    """Signed module values of recent frames added per symbol size (the grid sampler's
    multi-frame vote). ``keep`` frames are held; :meth:`clear` forgets them."""

    keep: int = 6
    _frames: list[Sample] = field(default_factory=list)

    def add(self, s: Sample) -> None:
        """Hold one frame's sample (the oldest leaves beyond ``keep``)."""
        self._frames.append(s)
        if len(self._frames) > self.keep:
            self._frames.pop(0)

    def __len__(self) -> int:
        return len(self._frames)

    def clear(self) -> None:
        """Forget every held sample."""
        self._frames.clear()

    def total(self, size: int) -> tuple[np.ndarray, int] | None:
        """The fit-weighted sum of the held samples of symbols of ``size`` modules, and how
        many were added (None when fewer than two)."""
        same = [s for s in self._frames if s.grid.size == size]
        if len(same) < 2:
            return None
        # Weighted by how much better than a mediocre fit each frame's is.
        acc = sum(max(s.grid.score - _VOTE_FLOOR, 0.01) * s.values for s in same)
        return np.asarray(acc), len(same)


def decode_region(gray: np.ndarray, module: float, votes: GridVotes | None = None,
                  origin: Point = (0.0, 0.0), scale: float = 1.0) -> list[QrCode]:
    """Fit grids in ``gray`` and read them; with ``votes``, the best grid's sample is added
    to them and the vote is read too. Corners are mapped by ``scale`` and ``origin``."""
    fits = fit_grids(gray, module)
    found: list[QrCode] = []
    for i, s in enumerate(fits):
        # Soft decoding only for the best fit of the strongest finder triple, when it is good.
        found = read(s.values, s.grid, soft=i == 0 and s.grid.score >= _SOFT_FIT)
        if found:
            break
    if not found and votes is not None and fits:
        votes.add(fits[0])
        total = votes.total(fits[0].grid.size)
        if total is not None:
            found = read(total[0], fits[0].grid, tag="grid/votes", soft=True)
    ox, oy = origin
    return [QrCode(c.payload, c.text, tuple((x * scale + ox, y * scale + oy)
                                            for x, y in c.points), c.engine) for c in found]
