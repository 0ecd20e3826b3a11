"""Liveness evidence from a recorded clip or a single image (no challenge): spontaneous blinks
and smiles against the person's own open-eye/neutral level, planar motion, image cues and the
optional anti-spoof model.

``live`` needs a spontaneous blink or smile judged against the person's own level, and no
check that points at a spoof (a screen/print cue, the anti-spoof model). Parallax is reported
but is not proof on its own: landmark models hallucinate some depth on tilted photos
(measured in docs/face.md).
A single image can never prove liveness, so it is never ``live``; its passive checks are
still reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from vision.face.antispoof import AntiSpoofModel
from vision.face.geometry import parallax_tracks
from vision.face.passive import PARALLAX_MIN_RESIDUAL, planar_motion_check, screen_print_cues
from vision.face.tracker import FaceTracker
from vision.face.types import CheckResult, FaceObservation

PROOF_CHECKS = ("blink", "smile")
ADVISORY_CHECKS = ("planar_motion",)


@dataclass(frozen=True)
class ClipLimits:
    """Limits of the spontaneous-expression checks (ratios of the person's own level)."""

    blink_closed_ratio: float = 0.72
    smile_ratio: float = 1.10
    smile_frames: int = 2
    min_parallax: float = PARALLAX_MIN_RESIDUAL
    antispoof_min_real: float = 0.5
    min_interocular_px: float = 40.0
    antispoof_frames: int = 3


@dataclass(frozen=True)
class ClipVerdict:
    """The outcome for one clip or image: ``live`` and every check with its score."""

    live: bool
    checks: dict[str, CheckResult]
    frames: int
    face_frames: int
    # Per judged frame, the eye openness the blink check saw (relative_eye_openness; NaN = not
    # judged). Empty for a single image. Numbers only; not part of as_dict().
    relative_openness: tuple[float, ...] = ()

    def as_dict(self) -> dict[str, object]:
        """JSON-ready ``{"live", "checks": {...}, "frames", "face_frames"}``."""
        return {"live": self.live, "checks": {k: v.as_dict() for k, v in self.checks.items()},
                "frames": self.frames, "face_frames": self.face_frames}


def steady_frames(observations: Sequence[FaceObservation], max_jump_deg: float = 6.0
                  ) -> np.ndarray:
    """True for frames whose yaw and pitch are within ``max_jump_deg`` of both neighbours:
    expression measures of a frame where the landmarks jumped are noise, not expression."""
    yaw = np.array([o.pose.yaw_deg for o in observations])
    pitch = np.array([o.pose.pitch_deg for o in observations])
    ok = np.ones(len(observations), dtype=bool)
    for series in (yaw, pitch):
        jump = np.abs(np.diff(series)) > max_jump_deg
        ok[1:] &= ~jump
        ok[:-1] &= ~jump
    return ok


def relative_eye_openness(observations: Sequence[FaceObservation], max_jump_deg: float = 6.0
                          ) -> np.ndarray | None:
    """Per frame, the eye openness that :func:`blink_check` judges: each eye's openness (EAR)
    over its own open level (80th percentile of the sequence), the more open of the two (a
    blink must close both); NaN for frames whose pose jumped (not judged). 1.0 = open as
    usual, 0.0 = shut. None when an eye's open level is not positive (eyes not measurable)."""
    if not observations:
        return np.empty(0)
    left = np.array([o.measures.left_eye_openness for o in observations])
    right = np.array([o.measures.right_eye_openness for o in observations])
    open_l, open_r = float(np.percentile(left, 80)), float(np.percentile(right, 80))
    if open_l <= 0 or open_r <= 0:
        return None
    rel = np.maximum(left / open_l, right / open_r)
    return np.where(steady_frames(observations, max_jump_deg), rel, np.nan)


def blink_check(observations: Sequence[FaceObservation], closed_ratio: float = 0.72,
                max_jump_deg: float = 6.0) -> CheckResult:
    """A spontaneous blink: both eyes' openness (EAR) dip to ``closed_ratio`` of their own open
    level (80th percentile of the clip) in a frame whose pose is steady.
    Score = 1 - (lowest such openness / open level)."""
    if len(observations) < 3:
        return CheckResult("blink", False, 0.0, "needs at least 3 frames with a face")
    rel = relative_eye_openness(observations, max_jump_deg)
    if rel is None:
        return CheckResult("blink", False, 0.0, "eyes not measurable")
    judged = rel[~np.isnan(rel)]
    depth = float(max(0.0, 1.0 - judged.min())) if judged.size else 0.0
    passed = depth >= 1.0 - closed_ratio
    return CheckResult("blink", passed, depth,
                       "both eyes closed in a steady frame" if passed else "no blink seen")


def smile_check(observations: Sequence[FaceObservation], ratio: float = 1.10, frames: int = 2,
                max_jump_deg: float = 6.0) -> CheckResult:
    """A spontaneous smile: mouth width / eye span rises ``ratio`` x over its 20th percentile
    for ``frames`` steady frames in a row. Score = highest such sustained rise."""
    if len(observations) < frames + 1:
        return CheckResult("smile", False, 0.0, f"needs at least {frames + 1} frames with a face")
    s = np.array([o.measures.smile for o in observations])
    neutral = float(np.percentile(s, 20))
    rel = s / neutral if neutral > 0 else np.zeros_like(s)
    rel = np.where(steady_frames(observations, max_jump_deg), rel, 0.0)
    score = float(max(rel[i:i + frames].min() for i in range(s.size - frames + 1)))
    passed = score >= ratio
    return CheckResult("smile", passed, score, "smile seen" if passed else "no smile seen")


def analyse_frames(frames: Iterable[np.ndarray], tracker: FaceTracker, *,
                   fps: float = 30.0, antispoof: AntiSpoofModel | None = None,
                   limits: ClipLimits | None = None) -> ClipVerdict:
    """Track a sequence of BGR frames and judge liveness from what they show."""
    lim = limits or ClipLimits()
    fps = fps if fps > 0 else 30.0
    observations: list[FaceObservation] = []
    keep: list[tuple[np.ndarray, FaceObservation]] = []
    count = 0
    for i, frame in enumerate(frames):
        count += 1
        obs = tracker.process(frame, i / fps)
        if obs is not None:
            observations.append(obs)
            keep.append((frame, obs))
    # Small faces' landmarks jitter by more than a blink: judge expressions on large ones only.
    judged = [o for o in observations if o.interocular >= lim.min_interocular_px]
    checks: dict[str, CheckResult] = {}
    relative: tuple[float, ...] = ()
    if not observations:
        checks["face"] = CheckResult("face", False, 0.0, "no face found")
        return ClipVerdict(False, checks, count, 0)
    checks["one_face"] = CheckResult(
        "one_face", all(o.face_count == 1 for o in observations),
        float(max(o.face_count for o in observations)), "most faces seen in one frame")
    if count > 1:
        checks["face_size"] = CheckResult(
            "face_size", len(judged) >= 3, float(np.median([o.interocular for o in observations])),
            f"median px between the eyes; frames below {lim.min_interocular_px:g} px not judged")
        checks["blink"] = blink_check(judged, lim.blink_closed_ratio)
        openness = relative_eye_openness(judged)
        if openness is not None:
            relative = tuple(float(x) for x in openness)
        checks["smile"] = smile_check(judged, lim.smile_ratio, lim.smile_frames)
        base, probe = parallax_tracks([o.landmarks for o in judged])
        checks["planar_motion"] = planar_motion_check(base, probe, min_residual=lim.min_parallax)
    mid_frame, mid_obs = keep[len(keep) // 2]
    checks.update(screen_print_cues(mid_frame, mid_obs))
    if antispoof is not None:
        step = max(1, len(keep) // lim.antispoof_frames)
        probs = [antispoof.real_probability(f, o.box) for f, o in keep[::step]]
        p = float(np.median(probs))
        checks["antispoof_model"] = CheckResult(
            "antispoof_model", p >= lim.antispoof_min_real, p,
            f"MiniFASNet probability of a real face (limit {lim.antispoof_min_real})")
    return ClipVerdict(_live(checks), checks, count, len(observations), relative)


def _live(checks: dict[str, CheckResult]) -> bool:
    proof = any(checks[k].passed for k in PROOF_CHECKS if k in checks)
    veto = [c for k, c in checks.items()
            if k not in PROOF_CHECKS and k not in ADVISORY_CHECKS and not c.passed]
    return proof and not veto
