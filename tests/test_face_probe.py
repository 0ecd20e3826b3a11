"""The payment probe: first good frames, spaced; embedded in a worker process or in place."""

from __future__ import annotations

import numpy as np
import pytest

from tests.face_shared import FACES, needs_faces
from vision.errors import VisionError
from vision.face.embedding import (
    CHIP_SIZE,
    Embedder,
    NoFaceError,
    combine_embeddings,
    distance,
)
from vision.face.probe import EmbeddingPool, ProbeBuilder
from vision.face.synthetic import head_cloud, observe

OBS = observe(head_cloud(), 0.0)


class ChipsFromPixels:
    """A chip embedder whose chip is the image itself and whose embedding is its mean colour
    (so each frame's contribution can be told apart)."""

    def __init__(self) -> None:
        self.embedded = 0

    def chip(self, image_bgr, observation=None):
        return image_bgr

    def embed_chip(self, chip_rgb):
        self.embedded += 1
        v = np.array([chip_rgb[..., 0].mean() + 1.0, 1.0, 0.0])
        return v / np.linalg.norm(v)


def frame(value: int) -> np.ndarray:
    return np.full((4, 4, 3), value, np.uint8)


def test_takes_the_first_frames_at_least_the_spacing_apart() -> None:
    emb = ChipsFromPixels()
    probe = ProbeBuilder(emb, frames=2, spacing_s=0.1)
    assert probe.offer(frame(10), OBS, 0.00)
    assert not probe.offer(frame(20), OBS, 0.05)  # too soon after the first
    assert probe.offer(frame(30), OBS, 0.12)
    assert not probe.wanted
    expected = combine_embeddings([emb.embed_chip(frame(10)), emb.embed_chip(frame(30))])
    result = probe.finish()
    assert result.embedding == pytest.approx(expected)
    assert probe.taken == 0  # the chips are forgotten with the probe


def test_later_frames_are_checked_against_the_probe() -> None:
    emb = ChipsFromPixels()
    probe = ProbeBuilder(emb, frames=1, spacing_s=0.1, check_spacing_s=0.4)
    assert probe.offer(frame(0), OBS, 0.0)  # the probe
    assert not probe.offer(frame(0), OBS, 0.2)  # too soon for a check
    assert probe.offer(frame(0), OBS, 0.45)  # check 1: the same face
    assert probe.offer(frame(200), OBS, 0.9)  # check 2: a different face
    result = probe.finish()
    assert result.checked == 2
    assert result.continuity == pytest.approx(
        distance(emb.embed_chip(frame(0)), emb.embed_chip(frame(200))))


def test_probe_frames_must_be_good_but_check_frames_need_only_a_face() -> None:
    emb = ChipsFromPixels()
    probe = ProbeBuilder(emb, frames=1, spacing_s=0.1, check_spacing_s=0.4)
    assert not probe.offer(frame(0), OBS, 0.0, good=False)  # blurred: not a probe frame
    assert probe.offer(frame(0), OBS, 0.1)
    assert probe.offer(frame(200), OBS, 0.6, good=False)  # blurred, still checked
    assert probe.finish().continuity > 0.1


def test_a_session_too_short_for_a_check_frame_checks_its_latest_frame() -> None:
    emb = ChipsFromPixels()
    probe = ProbeBuilder(emb, frames=1, spacing_s=0.1, check_spacing_s=0.4)
    probe.offer(frame(0), OBS, 0.0)
    assert not probe.offer(frame(200), OBS, 0.1)  # remembered, not yet taken
    result = probe.finish()
    assert result.checked == 1 and result.continuity > 0.1
    single = ProbeBuilder(emb, frames=1)
    single.offer(frame(0), OBS, 0.0)
    assert single.finish().checked == 0  # nothing after the probe frame: nothing to check


def test_a_probe_without_frames_is_a_clear_error_and_discard_forgets_everything() -> None:
    probe = ProbeBuilder(ChipsFromPixels(), frames=3)
    with pytest.raises(NoFaceError):
        probe.finish()
    probe.offer(frame(1), OBS, 0.0)
    probe.discard()
    assert probe.taken == 0 and probe.wanted
    with pytest.raises(VisionError):
        ProbeBuilder(ChipsFromPixels(), frames=0)
    with pytest.raises(VisionError):
        ProbeBuilder(ChipsFromPixels(), frames=1, spacing_s=-1)


def test_the_worker_process_embeds_exactly_as_this_process_does() -> None:
    embedder = Embedder(flip=True)
    chip = np.random.default_rng(3).integers(0, 255, (CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
    with EmbeddingPool.for_embedder(embedder) as pool:
        pool.start(wait=True)
        remote = pool.submit(chip).result(timeout=60)
    assert remote == pytest.approx(embedder.embed_chip(chip), abs=1e-6)


def test_a_dead_worker_does_not_fail_the_customer() -> None:
    emb = ChipsFromPixels()
    probe = ProbeBuilder(emb, frames=1, pool=_BrokenPool())
    probe.offer(frame(10), OBS, 0.0)
    assert probe.finish().embedding == pytest.approx(emb.embed_chip(frame(10)))


class _BrokenPool(EmbeddingPool):
    """A pool whose every job fails, as when the worker process was killed."""

    def submit(self, chip):
        from concurrent.futures import Future

        f: Future = Future()
        f.set_exception(RuntimeError("worker died"))
        return f


def test_pool_needs_a_worker() -> None:
    with pytest.raises(VisionError):
        EmbeddingPool(workers=0)


@needs_faces
def test_probe_from_real_frames_matches_the_inline_embedding() -> None:
    import cv2

    from vision.face.tracker import FaceTracker

    image = cv2.imread(str(FACES / "face_recognition" / "Barack_Obama" / "obama.jpg"))
    if image is None:
        image = cv2.imread(str(next((FACES / "face_recognition" / "Barack_Obama").iterdir())))
    with FaceTracker(mode="image") as tracker:
        obs = tracker.process(image, 0.0)
    assert obs is not None
    embedder = Embedder()
    probe = ProbeBuilder(embedder, frames=1)
    assert probe.offer(image, obs, 0.0)
    assert probe.finish().embedding == pytest.approx(embedder.embed(image, obs), abs=1e-5)


def test_with_a_slow_worker_only_one_check_is_in_flight() -> None:
    from concurrent.futures import Future

    class HeldPool(EmbeddingPool):
        """Jobs finish only when released, like a slow worker."""

        def __init__(self) -> None:
            super().__init__()
            self.jobs: list[tuple[Future, np.ndarray]] = []

        def submit(self, chip):
            f: Future = Future()
            self.jobs.append((f, chip))
            return f

    emb = ChipsFromPixels()
    pool = HeldPool()
    probe = ProbeBuilder(emb, frames=1, check_spacing_s=0.4, pool=pool)
    probe.offer(frame(0), OBS, 0.0)
    assert probe.offer(frame(0), OBS, 0.5)  # first check
    assert not probe.offer(frame(0), OBS, 1.0)  # the first is still running
    for f, chip in pool.jobs:
        f.set_result(emb.embed_chip(chip))
    assert probe.offer(frame(0), OBS, 1.1)  # now the next one
    pool.jobs[-1][0].set_result(emb.embed_chip(frame(0)))
    result = probe.finish()
    assert result.checked == 2 and result.continuity == pytest.approx(0.0, abs=1e-6)
