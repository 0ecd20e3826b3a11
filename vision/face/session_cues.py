"""Image evidence gathered over a liveness session: does the face move like a flat plane, and
does it show the artefacts of a screen filmed by a camera? Measures only; the limits that turn
them into a verdict come from the caller (the terminal's ``[face]`` configuration).

* **Flow planarity** (:func:`flow_planarity`): corners on the face are tracked (pyramidal
  Lucas-Kanade, checked forwards and backwards) between frames ``gap_s`` apart; a least-squares
  homography and a least-squares similarity (shift, turn, zoom) are fitted to each pair. What
  the similarity leaves unexplained (``bend``) is how much the face changed shape in the image:
  a screen tilted to fake a head turn, or a real head turning. What the homography still leaves
  (``residual``) is near zero for anything flat and large for a real head, whose nose, cheeks
  and ears move by different amounts. A replayed video of a real head turning keeps its own
  parallax, so this separates a *tilted* screen from a head, not every replay.
* **Rolling banding** (:func:`banding_score`): a screen's backlight flickers (PWM) and a rolling
  shutter reads rows at different moments, so horizontal bands drift over the face from frame
  to frame. The previous frame is aligned onto the current one through the landmarks'
  homography, and the log-difference of the two is split into a row profile and a column
  profile: flicker lives in the rows only. The score is the ratio of their high-pass
  energies (about 1 for a real face).
* **Moiré** (:func:`native_moire`): the peakiness of the face region's high-frequency spectrum at
  the camera's own resolution (no resampling, which would average the beat away).

Cost (``scanpay bench face --only replay`` reports it, ``cue_cost``): the flow is measured on
the face region scaled so the face is at most ``FLOW_FACE_PX`` wide (bend and residual are in
face widths, so the scale cancels; the corners stay 120: with 80 the top-three ratio of a real
head turn moved by 0.3, docs/face.md); the banding difference goes through a lookup table and
its smoothing is one 1-D convolution with OpenCV's kernel cached per length; the moiré
spectrum is a real FFT with the window and band cached per size (banding and moiré give the
same numbers as before, to 1e-14); :meth:`SessionCues.add` takes the frame's grey image when
the caller already has one.

Nothing here keeps an image beyond the few frames it compares; :meth:`SessionCues.reset` drops
them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from vision.face.types import CheckResult, FaceObservation

# Landmarks used to align consecutive frames (every 6th of the mesh: spread over the face).
_ALIGN_STEP = 6
_MIN_TRACKS = 12
_BANDING_SIGMA_FRACTION = 0.25
# The face flow is measured with the face at most this many pixels wide (larger faces are
# scaled down first: the same corners and flow in fewer pixels).
FLOW_FACE_PX = 96.0
# log1p of every grey level, for the banding difference.
_LOG1P = np.log1p(np.arange(256, dtype=np.float32))


@dataclass(frozen=True)
class FlowPair:
    """One pair of frames: how much of the face's flow a similarity and a homography leave
    unexplained (RMS, in face widths), from ``points`` tracked corners."""

    t: float
    bend: float
    residual: float
    points: int


@dataclass(frozen=True)
class FlowPlanarity:
    """The session's face flow where it bent most: medians over the ``top`` pairs with the
    largest ``bend``. ``ratio`` = residual / bend (about 0 for a flat plane, large for a head).
    """

    pairs: int
    bend: float
    residual: float
    ratio: float
    top: int = 3

    def as_observed(self) -> dict[str, float | int | None]:
        """The numbers for ``CheckResult.observed``."""
        return {"pairs": self.pairs, "bend": self.bend, "residual": self.residual,
                "ratio": self.ratio}


@dataclass
class SessionCues:
    """Fed every frame of a session (``add``); ``flow()``, ``banding()``, ``moire()`` measure.

    ``gap_s`` is the spacing of the frame pairs whose flow is compared (long enough for a turn
    to show, short enough for corners to stay tracked).
    """

    gap_s: float = 0.2
    flow_pairs: list[FlowPair] = field(default_factory=list)
    banding_scores: list[float] = field(default_factory=list)
    moire_scores: list[float] = field(default_factory=list)
    _ring: deque[tuple[float, np.ndarray, FaceObservation]] = field(
        default_factory=lambda: deque(maxlen=12))
    _last_pair_t: float = float("-inf")

    def reset(self) -> None:
        """Forget every frame and measure."""
        self.flow_pairs.clear()
        self.banding_scores.clear()
        self.moire_scores.clear()
        self._ring.clear()
        self._last_pair_t = float("-inf")

    def add(self, image: np.ndarray, observation: FaceObservation,
            grey: np.ndarray | None = None) -> None:
        """One frame with its face (``grey``: the frame's grey image, when already made)."""
        import cv2

        if grey is None:
            grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        t = observation.timestamp
        if self._ring:
            pt, prev, pobs = self._ring[-1]
            if 0 < t - pt <= 0.15:
                score = banding_score(prev, pobs, grey, observation)
                if score is not None:
                    self.banding_scores.append(score)
        if t - self._last_pair_t >= self.gap_s / 2:
            ref = next((r for r in reversed(self._ring) if t - r[0] >= self.gap_s), None)
            if ref is not None and t - ref[0] <= 3 * self.gap_s:
                pair = flow_pair(ref[1], ref[2], grey, observation)
                if pair is not None:
                    self.flow_pairs.append(pair)
                    self._last_pair_t = t
        if len(self.moire_scores) < 40:
            self.moire_scores.append(native_moire(grey, observation))
        self._ring.append((t, grey, observation))

    def flow(self, top: int = 3) -> FlowPlanarity:
        """:func:`flow_planarity` of the pairs so far."""
        return flow_planarity(self.flow_pairs, top)

    def banding(self) -> float:
        """Median banding score of consecutive frames (0 when none was measured)."""
        return float(np.median(self.banding_scores)) if self.banding_scores else 0.0

    def moire(self) -> float:
        """Median native-resolution moiré score (0 when none was measured)."""
        return float(np.median(self.moire_scores)) if self.moire_scores else 0.0


def flow_planarity(pairs: list[FlowPair], top: int = 3) -> FlowPlanarity:
    """Medians of ``bend``, ``residual`` and their ratio over the ``top`` most-bent pairs."""
    if not pairs:
        return FlowPlanarity(0, 0.0, 0.0, 0.0, top)
    chosen = sorted(pairs, key=lambda p: p.bend, reverse=True)[:top]
    bend = float(np.median([p.bend for p in chosen]))
    residual = float(np.median([p.residual for p in chosen]))
    ratio = float(np.median([p.residual / p.bend if p.bend > 0 else 0.0 for p in chosen]))
    return FlowPlanarity(len(pairs), bend, residual, ratio, top)


def contrast_normalised(grey: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    """``grey`` with its local mean removed and divided by its local contrast (uint8 around
    128): brightness that changes from frame to frame (a screen's flicker bands, auto
    exposure) no longer moves the corners the flow tracks."""
    import cv2

    g = grey.astype(np.float32)
    mean = cv2.GaussianBlur(g, (0, 0), sigma)
    spread = np.sqrt(cv2.GaussianBlur((g - mean) ** 2, (0, 0), sigma)) + 4.0
    return np.clip((g - mean) / spread * 40.0 + 128.0, 0, 255).astype(np.uint8)


def _face_mask(shape: tuple[int, ...], observation: FaceObservation,
               origin: tuple[int, int] = (0, 0), scale: float = 1.0) -> np.ndarray:
    import cv2

    mask = np.zeros(shape[:2], np.uint8)
    points = (np.asarray(observation.landmarks, np.float32) - np.float32(origin)) * np.float32(
        scale)
    hull = cv2.convexHull(points.reshape(-1, 1, 2))
    cv2.fillConvexPoly(mask, hull.astype(np.int32), 255)
    return cv2.erode(mask, np.ones((5, 5), np.uint8))


def flow_pair(prev: np.ndarray, prev_obs: FaceObservation, cur: np.ndarray,
              cur_obs: FaceObservation) -> FlowPair | None:
    """Track corners of the face from ``prev`` to ``cur`` (grey images) and measure how far
    the flow is from a similarity and from a homography (None when too few corners track).

    Both frames are cut to the region around the two faces, scaled so the face is at most
    ``FLOW_FACE_PX`` wide, and contrast-normalised first."""
    import cv2

    width = float(cur_obs.box.width)
    if width < 20:
        return None
    height, full_w = cur.shape[:2]
    boxes = [o.box.scaled(1.4).clipped(full_w, height) for o in (prev_obs, cur_obs)]
    left = int(min(b.left for b in boxes))
    top = int(min(b.top for b in boxes))
    right = round(max(b.right for b in boxes))
    bottom = round(max(b.bottom for b in boxes))
    if right - left < 32 or bottom - top < 32:
        return None
    scale = min(1.0, FLOW_FACE_PX / width)
    prev = _flow_region(prev[top:bottom, left:right], scale)
    cur = _flow_region(cur[top:bottom, left:right], scale)
    width *= scale
    mask = _face_mask(prev.shape, prev_obs, (left, top), scale)
    corners = cv2.goodFeaturesToTrack(prev, maxCorners=120, qualityLevel=0.005,
                                      minDistance=max(3, int(width / 30)), mask=mask)
    if corners is None or len(corners) < _MIN_TRACKS:
        return None
    lk = {"winSize": (15, 15), "maxLevel": 3,
          "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)}
    nxt, ok, _ = cv2.calcOpticalFlowPyrLK(prev, cur, corners, None, **lk)
    back, ok2, _ = cv2.calcOpticalFlowPyrLK(cur, prev, nxt, None, **lk)
    good = (ok.ravel() == 1) & (ok2.ravel() == 1)
    good &= np.linalg.norm((back - corners).reshape(-1, 2), axis=1) < 0.5
    src = corners.reshape(-1, 2)[good].astype(np.float64)
    dst = nxt.reshape(-1, 2)[good].astype(np.float64)
    if len(src) < _MIN_TRACKS:
        return None
    h, _ = cv2.findHomography(src, dst, 0)
    if h is None:
        return None
    proj = cv2.perspectiveTransform(src.reshape(1, -1, 2), h)[0]
    residual = float(np.sqrt(np.mean(np.sum((proj - dst) ** 2, axis=1))))
    bend = _similarity_rms(src, dst)
    return FlowPair(cur_obs.timestamp, bend / width, residual / width, len(src))


def _flow_region(grey: np.ndarray, scale: float) -> np.ndarray:
    """``grey`` scaled by ``scale`` (area averaging) and contrast-normalised."""
    import cv2

    if scale < 1.0:
        size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return contrast_normalised(grey)


def _similarity_rms(src: np.ndarray, dst: np.ndarray) -> float:
    sc, dc = src - src.mean(axis=0), dst - dst.mean(axis=0)
    zs = sc[:, 0] + 1j * sc[:, 1]
    zd = dc[:, 0] + 1j * dc[:, 1]
    denom = np.vdot(zs, zs)
    a = np.vdot(zs, zd) / denom if denom else 0.0
    return float(np.sqrt(np.mean(np.abs(zd - a * zs) ** 2)))


def banding_score(prev: np.ndarray, prev_obs: FaceObservation, cur: np.ndarray,
                  cur_obs: FaceObservation) -> float | None:
    """Row-over-column high-pass energy of the aligned log-difference of two consecutive grey
    frames over the face (about 1 for a real face; flicker bands raise it). None when the
    face is too small or the alignment fails."""
    import cv2

    a = np.asarray(prev_obs.landmarks, np.float32)[::_ALIGN_STEP]
    b = np.asarray(cur_obs.landmarks, np.float32)[::_ALIGN_STEP]
    if len(a) != len(b) or len(a) < 8:
        return None
    h, _ = cv2.findHomography(a, b, 0)
    if h is None:
        return None
    rows, cols = cur_obs.box.scaled(0.8).slices(cur.shape[1], cur.shape[0])
    region_h = rows.stop - rows.start
    region_w = cols.stop - cols.start
    if region_h < 24 or region_w < 24:
        return None
    # Only the face region is warped: the homography is shifted to the region's origin.
    shift = np.array([[1, 0, -cols.start], [0, 1, -rows.start], [0, 0, 1]], np.float64)
    warped = cv2.warpPerspective(prev, shift @ h, (region_w, region_h), flags=cv2.INTER_LINEAR)
    diff = _LOG1P[cur[rows, cols]] - _LOG1P[warped]  # log1p of uint8 grey levels
    row_profile = _high_pass(diff.mean(axis=1), region_h)
    col_profile = _high_pass(diff.mean(axis=0), region_w)
    col_energy = float(np.std(col_profile))
    if col_energy <= 1e-6:
        return None
    return float(np.std(row_profile)) / col_energy


def _high_pass(profile: np.ndarray, length: int) -> np.ndarray:
    """``profile`` minus its Gaussian smoothing (sigma a quarter of ``length``, reflected at
    the ends: OpenCV's kernel and BORDER_REFLECT, as one 1-D convolution)."""
    kernel = _smoothing_kernel(length)
    half = len(kernel) // 2
    values = profile.astype(np.float64)
    padded = np.pad(values, half, mode="symmetric")
    return values - np.convolve(padded, kernel, mode="valid")


@lru_cache(maxsize=256)
def _smoothing_kernel(length: int) -> np.ndarray:
    """The Gaussian kernel OpenCV uses for a float64 blur with sigma max(2, length / 4)."""
    import cv2

    sigma = max(2.0, _BANDING_SIGMA_FRACTION * length)
    size = round(sigma * 8 + 1) | 1
    return cv2.getGaussianKernel(size, sigma, cv2.CV_64F).ravel()


def native_moire(grey: np.ndarray, observation: FaceObservation) -> float:
    """Log10 ratio of the strongest high-frequency peak to the median, on the central face
    region at the camera's resolution (0 when the face is too small).

    The measure of :func:`vision.face.passive.moire_score` on a square crop, through a real FFT
    (a real image's spectrum is symmetric, so each magnitude of the full spectrum is one of
    the half it computes) with the window and the band cached per size."""
    rows, cols = observation.box.scaled(0.7).slices(grey.shape[1], grey.shape[0])
    crop = grey[rows, cols]
    side = min(crop.shape[:2]) if crop.ndim == 2 else 0
    if side < 32:
        return 0.0
    window, weights, half_band = _moire_plan(side)
    g = crop[:side, :side].astype(np.float64)
    spec = np.abs(np.fft.rfft2((g - g.mean()) * window))
    band = spec[half_band]
    median = float(np.median(np.repeat(band, weights[half_band])))
    return float(np.log10((float(band.max()) + 1e-9) / (median + 1e-9)))


@lru_cache(maxsize=16)
def _moire_plan(side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a ``side`` square: the 2-D Hann window, and over the half spectrum ``rfft2`` gives,
    how many bins of :func:`vision.face.passive.moire_score`'s band (on the full, shifted
    spectrum) each one stands for, and where that is at least one."""
    window = np.outer(np.hanning(side), np.hanning(side))
    yy, xx = np.mgrid[:side, :side]
    r = np.hypot(yy - side / 2, xx - side / 2) / (side / 2)
    full_band = np.fft.ifftshift((r > 0.35) & (r < 0.95))  # unshifted: index = frequency
    rows, cols = np.nonzero(full_band)
    mirrored = cols > side // 2  # the conjugate bin stands in for these
    rows = np.where(mirrored, (-rows) % side, rows)
    cols = np.where(mirrored, side - cols, cols)
    weights = np.zeros((side, side // 2 + 1), np.int64)
    np.add.at(weights, (rows, cols), 1)
    return window, weights, weights > 0


@dataclass(frozen=True)
class SessionCueLimits:
    """The limits :func:`session_cue_checks` judges the cues against (the terminal's ``[face]``
    ``flat_motion_min_bend``, ``flat_motion_max_ratio``, ``max_banding``, ``max_screen_moire``).
    """

    flat_min_bend: float
    flat_max_ratio: float
    max_banding: float
    max_moire: float
    min_frames: int = 4


def session_cue_checks(cues: SessionCues, *, flat_min_bend: float, flat_max_ratio: float,
                       max_banding: float, max_moire: float, min_frames: int = 4
                       ) -> dict[str, CheckResult]:
    """The session's image evidence against the caller's limits.

    ``flat_motion`` fails when the face's flow bent by at least ``flat_min_bend`` face widths
    and a homography explains it to within ``flat_max_ratio`` of that (a tilted flat screen or
    photo); too little bending passes (nothing to judge). ``banding`` fails above
    ``max_banding``, ``screen_moire`` above ``max_moire``; each passes with fewer than
    ``min_frames`` measured frames. Each check's ``observed`` holds what was measured and the
    limit it was judged against.
    """
    flow = cues.flow()
    flat = flow.bend >= flat_min_bend and flow.ratio <= flat_max_ratio
    detail = ("the face moved like one flat plane (a screen or photo)" if flat else
              "face flow shows depth" if flow.bend >= flat_min_bend else
              "too little face movement to tell")
    checks = {"flat_motion": CheckResult(
        "flat_motion", not flat, flow.ratio,
        f"{detail} (homography leaves {flow.ratio:.2f} of the bend; flat at <= "
        f"{flat_max_ratio} with a bend >= {flat_min_bend})",
        {**flow.as_observed(), "min_bend": flat_min_bend, "max_ratio": flat_max_ratio})}
    bands = cues.banding()
    enough = len(cues.banding_scores) >= min_frames
    checks["banding"] = CheckResult(
        "banding", not (enough and bands > max_banding), bands,
        f"flicker bands drifting over the face, row/column energy (limit {max_banding})",
        _spread(cues.banding_scores, max_banding, min_frames))
    moire = cues.moire()
    enough = len(cues.moire_scores) >= min_frames
    checks["screen_moire"] = CheckResult(
        "screen_moire", not (enough and moire > max_moire), moire,
        f"periodic peak in the face at camera resolution, log10 ratio (limit {max_moire})",
        _spread(cues.moire_scores, max_moire, min_frames))
    return checks


def _spread(scores: list[float], limit: float, min_frames: int) -> dict[str, float | int | None]:
    """``observed`` of a per-frame cue: how many frames, median and highest score, the limit."""
    return {"frames": len(scores),
            "median": float(np.median(scores)) if scores else None,
            "max": float(np.max(scores)) if scores else None,
            "limit": limit, "min_frames": min_frames}


def judge_session(cues: SessionCues, limits: SessionCueLimits) -> dict[str, CheckResult]:
    """:func:`session_cue_checks` with ``limits``."""
    return session_cue_checks(cues, flat_min_bend=limits.flat_min_bend,
                              flat_max_ratio=limits.flat_max_ratio,
                              max_banding=limits.max_banding, max_moire=limits.max_moire,
                              min_frames=limits.min_frames)
