"""Identity embeddings and distances: unit vectors, flip averaging, no face -> clear error."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.face_shared import FACES, needs_faces
from vision.errors import VisionError
from vision.face.embedding import (
    Embedder,
    NoFaceError,
    combine_embeddings,
    distance,
    embed_still,
)
from vision.face.tracker import FaceTracker


def test_distance_is_between_unit_vectors_and_ignores_length() -> None:
    a = np.array([3.0, 0.0])
    assert distance(a, np.array([0.5, 0.0])) == pytest.approx(0.0)
    assert distance(a, np.array([0.0, 2.0])) == pytest.approx(np.sqrt(2))
    assert distance(a, -a) == pytest.approx(2.0)


def test_distance_refuses_mismatched_zero_or_non_finite_vectors() -> None:
    with pytest.raises(VisionError, match="sizes differ"):
        distance(np.ones(128), np.ones(64))
    with pytest.raises(VisionError):
        distance(np.zeros(128), np.ones(128))
    with pytest.raises(VisionError):
        distance(np.full(128, np.nan), np.ones(128))


def test_combining_embeddings_averages_directions_not_lengths() -> None:
    combined = combine_embeddings([np.array([10.0, 0.0]), np.array([0.0, 0.1])])
    assert combined == pytest.approx(np.array([1.0, 1.0]) / np.sqrt(2))
    assert combined.dtype == np.float32
    with pytest.raises(VisionError):
        combine_embeddings([])
    with pytest.raises(VisionError, match="cancel"):
        combine_embeddings([np.array([1.0, 0.0]), np.array([-1.0, 0.0])])


def test_an_image_without_a_face_raises_no_face_error() -> None:
    with pytest.raises(NoFaceError):
        Embedder().embed(np.full((240, 320, 3), 100, np.uint8))
    with pytest.raises(NoFaceError):
        Embedder().embed_frames([])


def test_negative_jitters_are_refused() -> None:
    with pytest.raises(VisionError):
        Embedder(jitters=-1)


@needs_faces
def test_same_person_is_closer_than_a_different_person_and_mirroring_barely_matters() -> None:
    def load(name: str) -> np.ndarray:
        return cv2.imread(str(FACES / "lfw" / name.rsplit("_", 1)[0] / f"{name}.jpg"))

    embedder = Embedder()
    with FaceTracker(mode="image") as tracker:
        a1 = embed_still(load("Akhmed_Zakayev_0001"), embedder, tracker)
        a3 = embed_still(load("Akhmed_Zakayev_0003"), embedder, tracker)
        other = embed_still(load("Amber_Tamblyn_0001"), embedder, tracker)
        mirrored = embed_still(np.ascontiguousarray(load("Akhmed_Zakayev_0001")[:, ::-1]),
                               embedder, tracker)
    assert a1.shape == (128,) and np.linalg.norm(a1) == pytest.approx(1.0, abs=1e-5)
    assert distance(a1, a3) < distance(a1, other)
    assert distance(a1, mirrored) < 0.5 * distance(a1, a3)


def test_verification_rates_count_nan_as_rejections_and_find_the_zero_fa_threshold() -> None:
    from vision.face.metrics import equal_error_rate, rates_at, zero_fa_threshold

    genuine = np.array([0.2, 0.3, 0.5, np.nan])
    impostor = np.array([0.45, 0.8, 0.9, np.nan])
    r = rates_at(genuine, impostor, 0.5)
    assert (r.false_accepts, r.genuine_accepts, r.genuines, r.impostors) == (1, 3, 4, 4)
    t0 = zero_fa_threshold(impostor)
    assert t0 < 0.45
    r0 = rates_at(genuine, impostor, t0)
    assert r0.false_accepts == 0 and r0.gar == pytest.approx(0.5)
    eer, _ = equal_error_rate(genuine, impostor)
    assert 0.0 <= eer <= 0.5
