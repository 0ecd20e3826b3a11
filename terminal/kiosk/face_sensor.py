"""What the Smile-to-Pay flows need from vision, and the real implementation over ``vision.face``.

The flows talk to a :class:`FaceSensor` only, so tests drive them with synthetic observations
and fixed embeddings while the kiosk uses :class:`VisionFaceSensor` (MediaPipe tracking, the
quality gates, face_recognition embeddings, the randomised challenge and the passive checks).
Images stay in memory; nothing here writes one.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from terminal.config.schema import FaceSection
from vision.errors import VisionError
from vision.face.liveness import LivenessEvidence, LivenessStatus
from vision.face.probe import Probe
from vision.face.quality import QualityReport, assess_quality
from vision.face.session_cues import SessionCues
from vision.face.types import CheckResult, FaceObservation

if TYPE_CHECKING:
    from vision.face.embedding import Embedder
    from vision.face.probe import EmbeddingPool

log = logging.getLogger(__name__)

Sample = tuple[np.ndarray, FaceObservation]


class LivenessJudge(Protocol):
    """One liveness session: fed every frame's observation, says where it stands."""

    def update(self, observation: FaceObservation | None) -> LivenessStatus:
        """Judge one more frame (None when no face was seen)."""
        ...

    def evidence(self) -> LivenessEvidence:
        """The checks established so far."""
        ...


class ProbeCollector(Protocol):
    """Builds one payment probe from frames of the liveness session as they arrive
    (``vision.face.probe.ProbeBuilder``)."""

    @property
    def wanted(self) -> bool:
        """True while more frames are wanted."""
        ...

    def offer(self, image: np.ndarray, observation: FaceObservation, timestamp: float,
              *, good: bool = True) -> bool:
        """Offer every frame with a face (``good``: it passed the quality gates); True when
        it was taken."""
        ...

    def finish(self) -> Probe:
        """The combined probe and its identity continuity over the session (VisionError
        when no frame was usable)."""
        ...

    def discard(self) -> None:
        """Forget every frame taken."""
        ...


class FaceSensor(Protocol):
    """Observe, gate, embed and judge liveness — everything the flows ask of vision."""

    def observe(self, image: np.ndarray, timestamp: float) -> FaceObservation | None:
        """The largest face in the frame, or None."""
        ...

    def quality(self, observation: FaceObservation, image: np.ndarray) -> QualityReport:
        """The quality gates of one observed face."""
        ...

    def embed(self, samples: Sequence[Sample]) -> np.ndarray:
        """One combined 128-d embedding of the samples (VisionError when none is usable)."""
        ...

    def new_liveness(self) -> LivenessJudge:
        """A fresh liveness session with a newly drawn challenge."""
        ...

    def start_probe(self) -> ProbeCollector:
        """A fresh collector of probe frames for one payment attempt."""
        ...

    def close(self) -> None:
        """Release models and trackers; idempotent."""
        ...


class VisionFaceSensor:
    """The kiosk's face sensor over :mod:`vision.face`, configured by the ``[face]`` section.

    Models load on first use, not at construction. Passive checks (screen and print cues, the
    optional anti-spoofing model) run once per session on the latest good frame and join the
    challenge's evidence. ``judge`` replaces the randomised challenge (the emulator's
    recorded-clip mode does; a kiosk never should).
    """

    def __init__(self, settings: FaceSection, *, clock: Callable[[], float],
                 rng: random.Random | None = None,
                 judge: Callable[[VisionFaceSensor], LivenessJudge] | None = None,
                 tracker_mode: Literal["video", "image"] = "video") -> None:
        self.settings = settings
        self._tracker_mode = tracker_mode
        self._clock = clock
        self._rng = rng or random.SystemRandom()
        self._judge_factory = judge
        self._limits = settings.quality
        self._tracker: object | None = None
        self._embedder: Embedder | None = None
        self._antispoof: object | None = None
        self._pool: EmbeddingPool | None = None
        self._pool_failed = False
        self._last_good: Sample | None = None
        self._cues: SessionCues | None = None  # image evidence of the running challenge
        self._closed = False

    def observe(self, image: np.ndarray, timestamp: float) -> FaceObservation | None:
        """Track the face in one frame (MediaPipe face mesh; ``tracker_mode`` "image" for
        unrelated stills)."""
        if self._tracker is None:
            from vision.face.tracker import FaceTracker

            self._tracker = FaceTracker(mode=self._tracker_mode)
        observation: FaceObservation | None = self._tracker.process(  # type: ignore[attr-defined]
            image, timestamp)
        if observation is not None and self._cues is not None:
            self._cues.add(image, observation)
        return observation

    def quality(self, observation: FaceObservation, image: np.ndarray) -> QualityReport:
        """Quality gates with the configured limits; remembers the latest passing frame."""
        report = assess_quality(observation, image, self._limits)
        if report.passed:
            self._last_good = (image, observation)
        return report

    def embed(self, samples: Sequence[Sample]) -> np.ndarray:
        """face_recognition's ResNet embedding, 5-point aligned, averaged over the samples."""
        return self._get_embedder().embed_frames(samples)

    def start_probe(self) -> ProbeCollector:
        """A probe of ``probe_frames`` frames, embedded by the worker pool when configured."""
        from vision.face.probe import ProbeBuilder

        s = self.settings
        return ProbeBuilder(self._get_embedder(), frames=s.probe_frames,
                            spacing_s=s.probe_spacing_s, check_spacing_s=s.check_spacing_s,
                            pool=self._get_pool())

    def prepare(self) -> None:
        """Load the tracker and start (and warm) the embedding workers now, so the first
        customer does not wait for them."""
        from vision.face.tracker import FaceTracker

        if self._tracker is None:
            self._tracker = FaceTracker(mode=self._tracker_mode)
        pool = self._get_pool()
        if pool is not None:
            try:
                pool.start(wait=True)
                return
            except VisionError as exc:
                log.warning("%s; embedding in this process instead", exc)
                pool.close()
                self._pool_failed = True
                self._pool = None
        from vision.face.embedding import CHIP_SIZE

        self._get_embedder().embed_chip(np.zeros((CHIP_SIZE, CHIP_SIZE, 3), np.uint8))

    def _get_embedder(self) -> Embedder:
        if self._embedder is None:
            from vision.face.embedding import Embedder

            self._embedder = Embedder(flip=self.settings.mirror_pass)
        return self._embedder

    def _get_pool(self) -> EmbeddingPool | None:
        if (self._pool is None and self.settings.embed_workers > 0 and not self._closed
                and not self._pool_failed):
            from vision.face.probe import EmbeddingPool

            self._pool = EmbeddingPool.for_embedder(self._get_embedder(),
                                                    workers=self.settings.embed_workers)
        return self._pool

    def new_liveness(self) -> LivenessJudge:
        """A session with a random challenge drawn from the configured actions."""
        from vision.face.liveness import ChallengePlan, LivenessSession

        s = self.settings
        self._last_good = None
        self._cues = SessionCues()
        if self._judge_factory is not None:
            return self._judge_factory(self)
        plan = ChallengePlan.random(
            self._rng, steps=s.challenge_steps, choices=s.challenges,
            window_range_s=(s.challenge_window_s * 0.75, s.challenge_window_s),
            prompt_during_baseline=s.prompt_during_baseline,
        )
        return LivenessSession(plan, clock=self._clock, extra_checks=self.passive_checks)

    @property
    def clock(self) -> Callable[[], float]:
        """The clock sessions are timed with."""
        return self._clock

    def passive_checks(self) -> dict[str, CheckResult]:
        """Screen/print cues and the optional model on the latest good frame of the session,
        and the session's image evidence (flat motion, flicker bands, moiré) over all of it."""
        if self._last_good is None:
            return {"passive": CheckResult("passive", False, 0.0, "no good frame to examine")}
        from vision.face.passive import screen_print_cues
        from vision.face.session_cues import session_cue_checks

        s = self.settings
        image, observation = self._last_good
        checks = dict(screen_print_cues(image, observation, max_moire=s.max_moire,
                                        max_specular=s.max_specular, min_gamut=s.min_gamut))
        if self._cues is not None:
            checks.update(session_cue_checks(
                self._cues, flat_min_bend=s.flat_motion_min_bend,
                flat_max_ratio=s.flat_motion_max_ratio, max_banding=s.max_banding,
                max_moire=s.max_screen_moire))
            self._cues = None  # the frames leave memory with the challenge
        model = self._antispoof_model()
        if model is not None:
            checks["antispoof_model"] = model.check(  # type: ignore[attr-defined]
                image, observation, min_real=self.settings.antispoof_min_live)
        return checks

    def _antispoof_model(self) -> object | None:
        s = self.settings
        if not s.antispoof_model:
            return None
        if self._antispoof is None:
            from vision.face.antispoof import AntiSpoofModel, AntiSpoofModelSpec

            self._antispoof = AntiSpoofModel.load(
                [AntiSpoofModelSpec(s.antispoof_model, s.antispoof_sha256,
                                    s.antispoof_crop_scale)])
        return self._antispoof

    def close(self) -> None:
        """Release the tracker and stop the embedding workers; idempotent."""
        if not self._closed:
            self._closed = True
            if self._tracker is not None:
                self._tracker.close()  # type: ignore[attr-defined]
            if self._pool is not None:
                self._pool.close()
            self._last_good = None
            self._cues = None
