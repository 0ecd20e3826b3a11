"""A payment probe built while the customer answers the liveness challenge, and a check that
the face that answered it is the face in the probe.

The ResNet pass costs ~75 ms per chip here (about ten times that on a Pi 4), and dlib holds
Python's global interpreter lock while it runs, so a thread would stall the tracker. Instead the
chip is aligned in the tracking loop (~1 ms) and the ResNet runs in a worker *process*
(:class:`EmbeddingPool`): by the time the last prompt is answered, the probe is ready, and the
decision waits only for the 1:1 match. Without a pool the chips are embedded when the probe is
asked for (the slower, single-process path).

Chips travel to the worker through a pipe and exist in memory only; nothing is written.
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from vision.errors import VisionError
from vision.face.embedding import (
    CHIP_SIZE,
    Embedder,
    NoFaceError,
    combine_embeddings,
    distance,
)
from vision.face.types import FaceObservation

log = logging.getLogger(__name__)


class ChipEmbedder(Protocol):
    """Aligns a face into a chip and embeds a chip (:class:`~vision.face.embedding.Embedder`)."""

    def chip(self, image_bgr: np.ndarray, observation: FaceObservation | None = None
             ) -> np.ndarray:
        """The aligned chip of the face."""
        ...

    def embed_chip(self, chip_rgb: np.ndarray) -> np.ndarray:
        """The unit embedding of an aligned chip."""
        ...


_worker_embedder: Embedder | None = None


def _init_worker(flip: bool, jitters: int) -> None:
    """Worker start-up (the models load on the first chip: the pool's warm-up)."""
    global _worker_embedder
    _worker_embedder = Embedder(flip=flip, jitters=jitters)


def _embed_in_worker(chip: np.ndarray) -> np.ndarray:
    if _worker_embedder is None:  # pragma: no cover - the initializer always runs first
        raise VisionError("embedding worker was not initialised")
    return _worker_embedder.embed_chip(chip)


class EmbeddingPool:
    """ResNet embeddings of aligned chips in ``workers`` separate processes.

    Processes are started with ``spawn`` (the parent runs MediaPipe threads, which must not be
    forked) when :meth:`start` is called, not at construction; :meth:`start` also warms the
    models so the first customer does not pay for loading them.
    """

    def __init__(self, *, workers: int = 1, flip: bool = True, jitters: int = 0) -> None:
        if workers < 1:
            raise VisionError("an embedding pool needs at least one worker")
        self.workers = workers
        self.flip = flip
        self.jitters = jitters
        self._executor: ProcessPoolExecutor | None = None

    @classmethod
    def for_embedder(cls, embedder: Embedder, workers: int = 1) -> EmbeddingPool:
        """A pool that embeds exactly as ``embedder`` does (mirror pass, jitters)."""
        return cls(workers=workers, flip=embedder.flip, jitters=embedder.jitters)

    def start(self, *, wait: bool = False, timeout_s: float = 60.0) -> None:
        """Start the workers and load their models (``wait`` blocks until they are ready)."""
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(self.flip, self.jitters))
        warm = [self._executor.submit(_embed_in_worker,
                                      np.zeros((CHIP_SIZE, CHIP_SIZE, 3), np.uint8))
                for _ in range(self.workers)]
        if wait:
            for f in warm:
                try:
                    f.result(timeout=timeout_s)
                except Exception as exc:
                    raise VisionError(f"the embedding worker did not start: {exc}") from exc

    def submit(self, chip: np.ndarray) -> Future[np.ndarray]:
        """Queue one aligned 150x150 RGB chip; the future holds its unit embedding.

        A pool whose worker died is restarted once; VisionError when that fails too.
        """
        for attempt in (1, 2):
            if self._executor is None:
                self.start()
            assert self._executor is not None
            try:
                return self._executor.submit(_embed_in_worker, np.ascontiguousarray(chip))
            except (BrokenProcessPool, RuntimeError) as exc:
                log.warning("embedding pool broken (%s); %s", exc,
                            "restarting it" if attempt == 1 else "giving up")
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
        raise VisionError("the embedding workers cannot be started")

    def close(self) -> None:
        """Stop the workers (idempotent); queued chips are dropped."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> EmbeddingPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Probe:
    """A payment probe and how well the rest of the session agrees with it.

    ``continuity`` is the largest embedding distance from the probe to a later frame of the
    same session (0.0 when none was checked); a large one means the face that answered the
    challenge is not the face in the probe (a photo shown first, a person swapped in later).
    """

    embedding: np.ndarray
    continuity: float
    checked: int


@dataclass
class _Chip:
    chip: np.ndarray
    future: Future[np.ndarray] | None


class ProbeBuilder:
    """Builds one payment probe from a liveness session, and checks the session's identity.

    Offer every frame with a face. The first ``frames`` quality-passed chips, at least
    ``spacing_s`` apart, make the probe (the customer still looks straight at the camera, before
    any turn or smile). After that a *check* chip of any frame with a face is taken every
    ``check_spacing_s`` until the session ends (with a pool, no sooner than the previous
    check's embedding is done); each is compared with the probe, so a swap between the probe
    frames and the challenge's answers shows. When the session ends before any check chip was
    due, its latest frame is checked.
    With a ``pool`` every chip is embedded in the background as soon as it is taken.
    """

    def __init__(self, embedder: ChipEmbedder, *, frames: int, spacing_s: float = 0.1,
                 check_spacing_s: float = 0.4, pool: EmbeddingPool | None = None,
                 timeout_s: float = 10.0) -> None:
        if frames < 1:
            raise VisionError("a probe needs at least one frame")
        if spacing_s < 0 or check_spacing_s <= 0 or timeout_s <= 0:
            raise VisionError("spacing_s must be >= 0, check_spacing_s and timeout_s > 0")
        self._embedder = embedder
        self._frames = frames
        self._spacing = spacing_s
        self._check_spacing = check_spacing_s
        self._pool = pool
        self._timeout = timeout_s
        self._probe: list[_Chip] = []
        self._checks: list[_Chip] = []
        self._last: float | None = None
        self._latest: tuple[np.ndarray, FaceObservation, float] | None = None

    @property
    def taken(self) -> int:
        """Probe chips taken so far."""
        return len(self._probe)

    @property
    def wanted(self) -> bool:
        """True while more probe chips are wanted."""
        return len(self._probe) < self._frames

    def offer(self, image_bgr: np.ndarray, observation: FaceObservation, timestamp: float,
              *, good: bool = True) -> bool:
        """Take this frame's chip if a probe or check chip is due; True when taken.

        Offer every frame with a face: probe chips come only from ``good`` (quality-passed)
        frames, check chips from any, so a face blurred or turned away during the challenge
        cannot dodge the identity check.
        """
        wanted = self.wanted
        if wanted and not good:
            return False
        gap = self._spacing if wanted else self._check_spacing
        if (self._last is not None and timestamp - self._last < gap) or (
                not wanted and self._check_pending()):
            if not wanted:
                self._latest = (image_bgr, observation, timestamp)
            return False
        taken = self._take(image_bgr, observation)
        if taken is None:
            return False
        self._last = timestamp
        self._latest = None
        (self._probe if wanted else self._checks).append(taken)
        return True

    def finish(self) -> Probe:
        """The combined probe and its continuity (waits for background embeddings); raises
        NoFaceError when no chip was taken. The chips are forgotten either way."""
        try:
            if not self._probe:
                raise NoFaceError("no clear frame of the face was taken for the probe")
            if not self._checks and self._latest is not None:
                latest = self._take(self._latest[0], self._latest[1])
                if latest is not None:
                    self._checks.append(latest)
            embedding = combine_embeddings([self._result(c) for c in self._probe])
            gaps = [distance(embedding, self._result(c)) for c in self._checks]
            return Probe(embedding, max(gaps, default=0.0), len(gaps))
        finally:
            self.discard()

    def discard(self) -> None:
        """Forget the chips and frames and cancel embeddings not yet started."""
        for c in (*self._probe, *self._checks):
            if c.future is not None:
                c.future.cancel()
        self._probe.clear()
        self._checks.clear()
        self._last = None
        self._latest = None

    def _check_pending(self) -> bool:
        # One check in flight at a time: on a slow worker, checks space themselves out and the
        # decision waits for one embedding at most.
        last = self._checks[-1].future if self._checks else None
        return last is not None and not last.done()

    def _take(self, image_bgr: np.ndarray, observation: FaceObservation) -> _Chip | None:
        try:
            chip = self._embedder.chip(image_bgr, observation)
        except NoFaceError:
            return None
        future = None
        if self._pool is not None:
            try:
                future = self._pool.submit(chip)
            except VisionError as exc:  # no workers: embed in this process when finishing
                log.warning("%s; embedding in this process", exc)
        return _Chip(chip, future)

    def _result(self, c: _Chip) -> np.ndarray:
        if c.future is None:
            return self._embedder.embed_chip(c.chip)
        try:
            return c.future.result(timeout=self._timeout)
        except FutureTimeout as exc:
            raise VisionError(f"the embedding worker took over {self._timeout:g} s") from exc
        except Exception as exc:  # a dead worker: embed here rather than fail the customer
            log.warning("embedding worker failed (%s); embedding in this process", exc)
            return self._embedder.embed_chip(c.chip)
