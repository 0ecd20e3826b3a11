"""HeldPhotoCamera moves a photo as one flat plane: frames differ, geometry stays planar."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from hardware.emulated import HeldPhotoCamera
from hardware.errors import CameraError


def _portrait(seed: int = 1) -> np.ndarray:
    """A textured stand-in for a face photo (plenty of corners for feature matching)."""
    import cv2

    rng = np.random.default_rng(seed)
    img = np.full((240, 200, 3), 180, np.uint8)
    for _ in range(60):
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        x, y = int(rng.integers(0, 200)), int(rng.integers(0, 240))
        w, h = (int(v) for v in rng.integers(6, 30, 2))
        cv2.rectangle(img, (x, y), (x + w, y + h), colour, -1)
    cv2.ellipse(img, (100, 120), (60, 80), 0, 0, 360, (120, 150, 200), 3)
    return img


def _back_projection_match(
    camera: HeldPhotoCamera, frame: np.ndarray, homography: np.ndarray | None = None
) -> float:
    """Correlation of the plane texture with the frame warped back onto it (1 = identical)."""
    import cv2

    plane = camera.plane_image
    homography = camera.last_homography if homography is None else homography
    assert homography is not None
    h, w = plane.shape[:2]
    back = cv2.warpPerspective(frame, np.linalg.inv(homography), (w, h))
    inner = cv2.erode((camera.plane_mask > 0.99).astype(np.uint8), np.ones((9, 9), np.uint8))
    keep = inner > 0
    a = back.astype(np.float32).mean(axis=2)[keep]
    b = plane.astype(np.float32).mean(axis=2)[keep]
    return float(np.corrcoef(a, b)[0, 1])


@pytest.mark.parametrize("medium", ["print", "screen"])
def test_successive_frames_differ(medium: str) -> None:
    with HeldPhotoCamera(_portrait(), medium=medium, seed=3) as camera:  # type: ignore[arg-type]
        frames = [camera.read() for _ in range(5)]
    images = [f.image for f in frames if f is not None]
    assert len(images) == 5
    for a, b in itertools.pairwise(images):
        assert np.abs(a.astype(int) - b.astype(int)).mean() > 1.0


@pytest.mark.parametrize("medium", ["print", "screen"])
def test_every_frame_is_the_plane_under_one_homography(medium: str) -> None:
    with HeldPhotoCamera(_portrait(), medium=medium, seed=5) as camera:  # type: ignore[arg-type]
        first = camera.read()
        h_first = camera.last_homography
        for _ in range(4):
            frame = camera.read()
            assert frame is not None
            assert _back_projection_match(camera, frame.image) > 0.95
    # Control: the pose really changed, so the first frame's homography no longer fits.
    assert first is not None and h_first is not None
    assert _back_projection_match(camera, frame.image, h_first) < 0.8


def test_features_between_frames_fit_a_single_homography() -> None:
    import cv2

    with HeldPhotoCamera(_portrait(), seed=11) as camera:
        first = camera.read()
        h_first = camera.last_homography
        for _ in range(6):
            last = camera.read()
        h_last = camera.last_homography
    assert first is not None and last is not None
    assert h_first is not None and h_last is not None
    grey = [cv2.cvtColor(f.image, cv2.COLOR_BGR2GRAY) for f in (first, last)]
    orb = cv2.ORB_create(800)
    (kp1, d1), (kp2, d2) = (orb.detectAndCompute(g, None) for g in grey)
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(d1, d2)
    src = np.float32([kp1[m.queryIdx].pt for m in matches])
    dst = np.float32([kp2[m.trainIdx].pt for m in matches])
    # Keep matches on the photo (background features do not move).
    true_map = h_last @ np.linalg.inv(h_first)
    predicted = cv2.perspectiveTransform(src[:, None, :], true_map)[:, 0, :]
    on_photo = np.linalg.norm(predicted - dst, axis=1) < 3.0
    assert on_photo.sum() >= 30
    fitted, inliers = cv2.findHomography(src[on_photo], dst[on_photo], cv2.RANSAC, 2.0)
    assert inliers.mean() > 0.9
    corners = np.float32([[200, 150], [440, 150], [440, 330], [200, 330]])[:, None, :]
    drift = cv2.perspectiveTransform(corners, fitted) - cv2.perspectiveTransform(corners, true_map)
    assert np.abs(drift).max() < 3.0


def test_motion_zero_holds_the_photo_still() -> None:
    with HeldPhotoCamera(_portrait(), motion=0.0, seed=2) as camera:
        a, b = camera.read(), camera.read()
    assert a is not None and b is not None
    # Only sensor noise and a small exposure flicker remain.
    assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() < 8.0


def test_limit_ends_the_source_and_size_is_honoured() -> None:
    with HeldPhotoCamera(_portrait(), size=(320, 240), limit=3) as camera:
        frames = list(camera)
    assert [f.image.shape for f in frames] == [(240, 320, 3)] * 3


def test_reads_photo_and_background_from_files(tmp_path: Path) -> None:
    import cv2

    cv2.imwrite(str(tmp_path / "photo.png"), _portrait())
    cv2.imwrite(str(tmp_path / "room.png"), np.full((100, 100, 3), 30, np.uint8))
    with HeldPhotoCamera(tmp_path / "photo.png", background=tmp_path / "room.png") as camera:
        frame = camera.read()
    assert frame is not None
    assert abs(float(frame.image[2, 2].mean()) - 30) < 10  # the corner shows the room


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"medium": "hologram"}, "medium must be"),
        ({"motion": -1.0}, "motion must be"),
        ({"background": "missing.png"}, "background file not found"),
    ],
)
def test_bad_arguments_are_camera_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(CameraError, match=message):
        HeldPhotoCamera(_portrait(), **kwargs)


def test_image_must_be_an_image() -> None:
    with pytest.raises(CameraError, match="1, 3 or 4 channels"):
        HeldPhotoCamera(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(CameraError, match="image must be an image array"):
        HeldPhotoCamera(42)  # type: ignore[arg-type]
