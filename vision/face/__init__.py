"""Faces: tracking, quality gates, identity embeddings, verification distances and liveness.

Vision measures; the terminal's policy decides (match thresholds, what counts as live enough
to pay live in config). Nothing here writes an image or an embedding to disk.

Public API (all frame arguments are uint8 BGR numpy arrays; timestamps are seconds):

Tracking (``vision.face.tracker``)
    ``FaceTracker(backend="mediapipe", *, mode="video"|"image", clock=None)``
        ``.process(image_bgr, timestamp=None) -> FaceObservation | None``; ``.close()``;
        context manager. Detection + 478 landmarks, ~5 ms per 640x480 frame here.
    ``FaceObservation``: ``timestamp``, ``box: Box``, ``landmarks`` (N,2 float32),
        ``keypoints: dict[str, Point]``, ``pose: HeadPose`` (yaw/pitch/roll degrees),
        ``measures: FaceMeasures`` (eye_openness = EAR, smile, mouth_open), ``face_count``,
        ``image_width``, ``image_height``, ``interocular``.

Quality (``vision.face.quality``)
    ``assess_quality(observation, image_bgr, limits=QualityLimits()) -> QualityReport``
        gates one_face, face_size, yaw, pitch, roll, sharpness, brightness, clipping; each a
        ``QualityGate(name, value, limit, passed, hint)``; ``report.passed``, ``report.failed``.

Identity (``vision.face.embedding``)
    ``Embedder(*, flip=True, jitters=0)``: ``.embed(image_bgr, observation=None) -> ndarray``
        (128-d, unit length; face_recognition's ResNet on a dlib 5-point aligned chip, averaged
        with its mirror image); ``.embed_frames([(image, observation), ...]) -> ndarray``;
        raises ``NoFaceError`` when no face is usable.
    ``embed_still(image_bgr, embedder, tracker=None) -> ndarray`` (mesh, else HOG, finds it).
    ``combine_embeddings(embeddings) -> ndarray`` (mean of unit vectors, re-normalised)
    ``distance(a, b) -> float`` (Euclidean between unit vectors, 0..2; compare it with the
        configured threshold, e.g. ``distance(probe, template) <= threshold``; 0.38 measured
        for zero false accepts on the LFW dev pairs, see docs/face.md).
    ``vision.face.metrics``: ``rates_at``, ``zero_fa_threshold``, ``equal_error_rate``.

Payment probe (``vision.face.probe``)
    ``ProbeBuilder(embedder, *, frames, spacing_s=0.1, check_spacing_s=0.4, pool=None)``:
        ``.offer(image_bgr, observation, timestamp, *, good=True) -> bool`` for every frame of
        a liveness session; ``.finish() -> Probe(embedding, continuity, checked)`` (the first
        good frames combined, and the largest distance of later frames to them);
        ``.discard()``.
    ``EmbeddingPool(*, workers=1, flip=True, jitters=0)``: the ResNet in spawned worker
        processes (dlib holds the GIL); ``.start(wait=False)``, ``.submit(chip) -> Future``,
        ``.close()``; ``EmbeddingPool.for_embedder(embedder, workers)``.

Liveness (``vision.face.liveness``, ``vision.face.passive``, ``vision.face.antispoof``)
    ``ChallengePlan.random(rng, *, steps=2, choices=(...), window_range_s=(2.5, 4.0),
        prompt_during_baseline=False)``: one head turn plus smile/blink, shuffled, random
        windows (with ``prompt_during_baseline`` the first prompt shows at once);
        ``LivenessSession(plan, clock=time.monotonic, limits=ActionLimits(), extra_checks=None)``
        ``.update(observation | None) -> LivenessStatus`` (state, prompt, action, reason,
        evidence so far); ``.evidence() -> LivenessEvidence``.
    ``verdict(checks, extra_checks=None) -> (state, reason)``: the final "passed"/"failed"
        and the "name: detail; ..." reason of a run's checks (used by every liveness judge).
    ``LivenessEvidence``: ``checks: dict[str, CheckResult(name, passed, score, detail)]``,
        ``live: bool`` (challenge complete and no passive check failed).
    Passive checks: ``planar_motion_check(base, probe)`` (tracks from
        ``geometry.parallax_tracks``), ``screen_print_cues(image, observation)``,
        ``AntiSpoofModel.load([AntiSpoofModelSpec(path, sha256, crop_scale)])`` (MiniFASNet).
    Clips: ``clip.analyse_frames(frames, tracker, fps=30, antispoof=None) -> ClipVerdict``.
"""

from vision.face.quality import QualityGate, QualityLimits, QualityReport, assess_quality
from vision.face.tracker import FaceTracker, TrackerError
from vision.face.types import Box, CheckResult, FaceMeasures, FaceObservation, HeadPose, Point

__all__ = [
    "Box",
    "CheckResult",
    "FaceMeasures",
    "FaceObservation",
    "FaceTracker",
    "HeadPose",
    "Point",
    "QualityGate",
    "QualityLimits",
    "QualityReport",
    "TrackerError",
    "assess_quality",
]
