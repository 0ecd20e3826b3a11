"""Image preparations tried by the cascade when the frame as captured did not decode.

Each takes and returns an 8-bit gray image. They target what defeats binarisers on camera
frames: low contrast and noise (low light), uneven light and glare, blur (defocus, hand-shake),
codes too small for the finder-pattern scan, and screen moiré.
"""

from __future__ import annotations

import numpy as np


def clahe(gray: np.ndarray) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (local contrast normalisation)."""
    import cv2

    return cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(gray)


def flatten(gray: np.ndarray) -> np.ndarray:
    """Divide out the smooth illumination (glare, shadows) and stretch to full range."""
    import cv2

    sigma = max(gray.shape) / 24.0
    small = cv2.resize(gray, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    background = cv2.GaussianBlur(small.astype(np.float32), (0, 0), sigma / 4.0) + 8.0
    background = cv2.resize(background, (gray.shape[1], gray.shape[0]),
                            interpolation=cv2.INTER_LINEAR)
    ratio = gray.astype(np.float32) / background
    return cv2.normalize(ratio, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def denoise(gray: np.ndarray) -> np.ndarray:
    """Suppress sensor noise and moiré with a Gaussian, then stretch the contrast."""
    import cv2

    smooth = cv2.GaussianBlur(gray, (0, 0), 1.3)
    return cv2.normalize(smooth, None, 0, 255, cv2.NORM_MINMAX)


def sharpen(gray: np.ndarray, amount: float = 1.5, sigma: float = 2.0) -> np.ndarray:
    """Unsharp mask: restores module edges softened by defocus or motion blur."""
    import cv2

    blurred = cv2.GaussianBlur(gray, (0, 0), sigma)
    return cv2.addWeighted(gray, 1.0 + amount, blurred, -amount, 0)


def binarize(gray: np.ndarray) -> np.ndarray:
    """Adaptive (local mean) threshold after a light denoise; block size follows frame size."""
    import cv2

    block = max(int(min(gray.shape) / 12) | 1, 11)
    smooth = cv2.GaussianBlur(gray, (0, 0), 1.0)
    return cv2.adaptiveThreshold(smooth, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY,
                                 block, 3)


def upscale(gray: np.ndarray, factor: float = 2.0) -> np.ndarray:
    """Enlarge small codes so finder patterns span enough pixels for the detectors."""
    import cv2

    return cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)


def downscale(gray: np.ndarray, factor: float = 0.5) -> np.ndarray:
    """Shrink: averages away noise and moiré and shortens blur in pixel terms."""
    import cv2

    return cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)


def invert(gray: np.ndarray) -> np.ndarray:
    """Light-on-dark (dark-mode) codes for engines that do not try inversion themselves."""
    return 255 - gray
