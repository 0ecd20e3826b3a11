"""A payment probe built while the customer answers the liveness challenge.

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
from typing import Protocol

import numpy as np

from vision.errors import VisionError
from vision.face.embedding import CHIP_SIZE, Embedder, NoFaceError, combine_embeddings
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
        """Queue one aligned 150x150 RGB chip; the future holds its unit embedding."""
        if self._executor is None:
            self.start()
        assert self._executor is not None
        return self._executor.submit(_embed_in_worker, np.ascontiguousarray(chip))

    def close(self) -> None:
        """Stop the workers (idempotent); queued chips are dropped."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> EmbeddingPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ProbeBuilder:
    """Collects up to ``frames`` chips, at least ``spacing_s`` apart, from one liveness session
    and combines their embeddings into one probe.

    Offer every quality-passed frame; the first ones are taken (the customer is still looking
    straight at the camera, before any turn or smile). With a ``pool`` each chip is embedded in
    the background as soon as it is taken.
    """

    def __init__(self, embedder: ChipEmbedder, *, frames: int, spacing_s: float = 0.1,
                 pool: EmbeddingPool | None = None, timeout_s: float = 10.0) -> None:
        if frames < 1:
            raise VisionError("a probe needs at least one frame")
        if spacing_s < 0 or timeout_s <= 0:
            raise VisionError("spacing_s must be >= 0 and timeout_s > 0")
        self._embedder = embedder
        self._frames = frames
        self._spacing = spacing_s
        self._pool = pool
        self._timeout = timeout_s
        self._chips: list[np.ndarray] = []
        self._futures: list[Future[np.ndarray] | None] = []
        self._last: float | None = None

    @property
    def taken(self) -> int:
        """Chips taken so far."""
        return len(self._chips)

    @property
    def wanted(self) -> bool:
        """True while more chips are wanted."""
        return len(self._chips) < self._frames

    def offer(self, image_bgr: np.ndarray, observation: FaceObservation,
              timestamp: float) -> bool:
        """Take this frame's chip if one is wanted and the last was ``spacing_s`` ago."""
        if not self.wanted or (self._last is not None
                               and timestamp - self._last < self._spacing):
            return False
        try:
            chip = self._embedder.chip(image_bgr, observation)
        except NoFaceError:
            return False
        self._last = timestamp
        self._chips.append(chip)
        self._futures.append(self._pool.submit(chip) if self._pool is not None else None)
        return True

    def finish(self) -> np.ndarray:
        """The combined probe (waits for background embeddings); raises NoFaceError when no
        chip was taken. The chips are forgotten either way."""
        try:
            if not self._chips:
                raise NoFaceError("no clear frame of the face was taken for the probe")
            vectors = [self._result(chip, future)
                       for chip, future in zip(self._chips, self._futures, strict=True)]
            return combine_embeddings(vectors)
        finally:
            self.discard()

    def discard(self) -> None:
        """Forget the chips and cancel embeddings not yet started."""
        for future in self._futures:
            if future is not None:
                future.cancel()
        self._chips.clear()
        self._futures.clear()
        self._last = None

    def _result(self, chip: np.ndarray, future: Future[np.ndarray] | None) -> np.ndarray:
        if future is None:
            return self._embedder.embed_chip(chip)
        try:
            return future.result(timeout=self._timeout)
        except FutureTimeout as exc:
            raise VisionError(f"the embedding worker took over {self._timeout:g} s") from exc
        except Exception as exc:  # a dead worker: embed here rather than fail the customer
            log.warning("embedding worker failed (%s); embedding in this process", exc)
            return self._embedder.embed_chip(chip)
