"""Passive liveness checks: planar motion of landmark tracks, and screen/print image cues.

A photo or a screen is flat: however it is moved in front of the camera, the image positions
of points on it are related frame to frame by one homography. A real head turning shows
parallax (the nose tip moves against the eye corners) that no homography explains. The check
fits a least-squares homography from a reference frame to every later frame on skull-fixed
landmarks and reports the leftover error relative to the eye distance.

The image cues (moiré, specular glare, colour gamut) are measurements with deliberately loose
limits: on the few spoof samples available they separate some attacks but not all (see
docs/face.md); they are evidence, not a guarantee.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vision.face.types import CheckResult, FaceObservation

# Defaults; the terminal's config may pass others. Nose-tip parallax relative to the eye span,
# at the most-turned frames: a synthetic 3-D head turned 12/15/20 degrees gives 0.044/0.055/0.073;
# still real faces (EyeBlink8) 0.005-0.017 with one clip at 0.061. Held photos tilted +-20
# degrees gave 0.02-0.10 with MediaPipe landmarks (the mesh bends a tilted photo into a face),
# so this check is a weak layer: expressions and the anti-spoof model carry the weight.
PARALLAX_MIN_RESIDUAL = 0.045
PARALLAX_MIN_FRAMES = 5
TOP_FRAMES = 3


def homography_residual(src: np.ndarray, dst: np.ndarray) -> float:
    """RMS error (pixels) of the best least-squares homography mapping ``src`` onto ``dst``."""
    h = fit_homography(src, dst)
    if h is None:
        return float("inf")
    proj = apply_homography(h, src)
    d = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    return float(np.sqrt(np.mean(np.sum((proj - d) ** 2, axis=1))))


def fit_homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """The least-squares homography (3x3) from ``src`` to ``dst`` points, or None."""
    import cv2

    s = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    d = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    if s.shape[0] < 5 or s.shape != d.shape:
        raise ValueError("a homography fit needs at least 5 matching points")
    h, _ = cv2.findHomography(s, d, 0)
    return h


def apply_homography(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (N, 2) mapped through homography ``h``."""
    import cv2

    p = np.asarray(points, dtype=np.float64).reshape(1, -1, 2)
    return cv2.perspectiveTransform(p, h)[0]


def similarity_residual(src: np.ndarray, dst: np.ndarray) -> float:
    """RMS error (pixels) of the best least-squares similarity (shift, turn, zoom) src->dst."""
    s = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    d = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    sc, dc = s - s.mean(axis=0), d - d.mean(axis=0)
    zs = sc[:, 0] + 1j * sc[:, 1]
    zd = dc[:, 0] + 1j * dc[:, 1]
    denom = np.vdot(zs, zs)
    a = np.vdot(zs, zd) / denom if denom else 0.0
    err = zd - a * zs
    return float(np.sqrt(np.mean(np.abs(err) ** 2)))


@dataclass(frozen=True)
class PlanarMotion:
    """Landmark motion against the first frame, relative to the eye span.

    ``parallax``: how far the nose tip strays from where the homography of the face's back
    points puts it (a flat photo or screen keeps it ~0, up to landmark noise);
    ``out_of_plane``: what no similarity explains on the back points (how much the face
    turned or tilted; a still or only sliding face gives ~0, so there is nothing to judge).
    Both are medians over the 3 frames that moved most out of plane. "flat" is a description,
    not proof of a spoof: landmark noise on a still real face can reach the same
    ``out_of_plane``.
    """

    parallax: float
    out_of_plane: float
    frames: int

    def verdict(self, min_residual: float = PARALLAX_MIN_RESIDUAL) -> str:
        """"parallax" (a 3-D face), "flat" (moved like a plane) or "still" (cannot tell)."""
        if self.parallax >= min_residual:
            return "parallax"
        if self.out_of_plane >= min_residual / 4:
            return "flat"
        return "still"


def planar_motion(base: np.ndarray, probe: np.ndarray, scale: float | None = None
                  ) -> PlanarMotion:
    """Measure tracks against frame 0: ``base`` (frames, >=5 points, 2) on the face's back
    surface, ``probe`` (frames, points, 2) standing out of it (the nose).

    ``scale`` is the eye span in pixels; by default the distance between base points 0 and 3
    in frame 0 (the outer eye corners in ``geometry.PLANE_BASE_POINTS``).
    """
    b = np.asarray(base, dtype=np.float64)
    p = np.asarray(probe, dtype=np.float64)
    if (b.ndim != 3 or p.ndim != 3 or b.shape[2] != 2 or p.shape[2] != 2 or b.shape[1] < 5
            or b.shape[0] != p.shape[0] or b.shape[0] < 2):
        return PlanarMotion(0.0, 0.0, int(b.shape[0]) if b.ndim == 3 else 0)
    if scale is None:
        scale = float(np.linalg.norm(b[0, 0] - b[0, 3]))
    if not scale > 0:
        scale = float(np.ptp(b[0], axis=0).max()) or 1.0
    strays, simil = [], []
    for i in range(1, b.shape[0]):
        h = fit_homography(b[0], b[i])
        if h is None:
            continue
        strays.append(float(np.linalg.norm(apply_homography(h, p[0]) - p[i], axis=1).mean()))
        simil.append(similarity_residual(b[0], b[i]))
    if not strays:
        return PlanarMotion(0.0, 0.0, int(b.shape[0]))
    # Judge where the face turned most: the median over the TOP_FRAMES frames whose back
    # points moved most out of plane (a median of several frames, so one glitch cannot pass).
    order = np.argsort(simil)[::-1][:TOP_FRAMES]
    return PlanarMotion(float(np.median(np.asarray(strays)[order])) / scale,
                        float(np.median(np.asarray(simil)[order])) / scale, int(b.shape[0]))


def planar_motion_check(base: np.ndarray, probe: np.ndarray, *,
                        min_residual: float = PARALLAX_MIN_RESIDUAL,
                        min_frames: int = PARALLAX_MIN_FRAMES, scale: float | None = None
                        ) -> CheckResult:
    """Does the landmark motion show 3-D parallax (passed) or one flat plane (failed)?

    The score is the parallax of :func:`planar_motion`; the detail says whether a failure
    means "moved like a flat plane" or "too little movement to tell".
    """
    b = np.asarray(base, dtype=np.float64)
    if b.ndim != 3 or b.shape[2] != 2 or b.shape[1] < 5:
        return CheckResult("planar_motion", False, 0.0, "needs tracks of at least 5 points")
    if b.shape[0] < min_frames:
        return CheckResult("planar_motion", False, 0.0,
                           f"needs at least {min_frames} frames, got {b.shape[0]}")
    m = planar_motion(b, probe, scale)
    verdict = m.verdict(min_residual)
    return CheckResult("planar_motion", verdict == "parallax", m.parallax, _PLANAR_DETAIL[verdict])


_PLANAR_DETAIL = {
    "parallax": "landmark motion shows depth (parallax)",
    "flat": "the face moved like one flat plane (photo or screen)",
    "still": "too little head movement to tell",
}


def _face_crop(image_bgr: np.ndarray, observation: FaceObservation, size: int = 128
               ) -> np.ndarray:
    import cv2

    h, w = image_bgr.shape[:2]
    rows, cols = observation.box.slices(w, h)
    crop = image_bgr[rows, cols]
    if crop.size == 0 or crop.ndim != 3:
        return np.zeros((0, 0, 3), dtype=np.uint8)
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def moire_score(grey: np.ndarray) -> float:
    """Peakiness of the high-frequency spectrum: strongest peak / median energy, log10.

    Screens and halftone prints put energy into a few sharp periodic peaks; skin gives a
    smooth fall-off. 0 for an empty image.
    """
    if grey.size == 0:
        return 0.0
    g = grey.astype(np.float64)
    g = (g - g.mean()) * np.outer(np.hanning(g.shape[0]), np.hanning(g.shape[1]))
    spec = np.abs(np.fft.fftshift(np.fft.fft2(g)))
    n = g.shape[0]
    yy, xx = np.mgrid[:n, : g.shape[1]]
    r = np.hypot(yy - n / 2, xx - g.shape[1] / 2) / (n / 2)
    band = spec[(r > 0.35) & (r < 0.95)]
    if band.size == 0:
        return 0.0
    return float(np.log10((band.max() + 1e-9) / (np.median(band) + 1e-9)))


def specular_fraction(crop_bgr: np.ndarray) -> float:
    """Share of face pixels that are near-white and colourless (glare on glass or gloss)."""
    import cv2

    if crop_bgr.size == 0:
        return 0.0
    hsv = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2HSV)
    return float(((hsv[..., 2] >= 245) & (hsv[..., 1] <= 30)).mean())


def gamut_score(crop_bgr: np.ndarray) -> float:
    """Spread of chroma in the face (std of Lab a*, b*): prints are washed out, low values."""
    import cv2

    if crop_bgr.size == 0:
        return 0.0
    lab = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2LAB).astype(np.float64)
    return float(np.hypot(lab[..., 1].std(), lab[..., 2].std()))


def screen_print_cues(image_bgr: np.ndarray, observation: FaceObservation, *,
                      max_moire: float = 2.6, max_specular: float = 0.12,
                      min_gamut: float = 2.0) -> dict[str, CheckResult]:
    """Moiré, specular and colour-gamut measurements of the face, each with a loose limit."""
    import cv2

    crop = _face_crop(image_bgr, observation)
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.size else np.zeros((0, 0), np.uint8)
    moire = moire_score(grey)
    spec = specular_fraction(crop)
    gamut = gamut_score(crop)
    return {
        "moire": CheckResult("moire", moire <= max_moire, moire,
                             f"periodic high-frequency peak, log10 ratio (limit {max_moire})"),
        "specular": CheckResult("specular", spec <= max_specular, spec,
                                f"share of glare pixels on the face (limit {max_specular})"),
        "gamut": CheckResult("gamut", gamut >= min_gamut, gamut,
                             f"chroma spread of the face (limit >= {min_gamut})"),
    }
