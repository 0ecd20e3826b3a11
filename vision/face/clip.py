"""Liveness evidence from a recorded clip or a single image (no challenge): spontaneous blinks
and smiles against the person's own open-eye/neutral level, head turns, planar motion, image
cues and the optional anti-spoof model. Every check reports what it measured (``observed``).

``live`` needs a spontaneous blink or smile judged against the person's own level, and no
check that points at a spoof (a screen/print cue, the anti-spoof model, and, when the caller
gives their limits, the replay cues the kiosk measures over a session: flat face flow,
drifting flicker bands, moiré at camera resolution; :mod:`vision.face.session_cues`).
Parallax is reported but is not proof on its own: landmark models hallucinate some depth on
tilted photos (measured in docs/face.md).
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
from vision.face.session_cues import SessionCueLimits, SessionCues, judge_session
from vision.face.tracker import FaceTracker
from vision.face.types import CheckResult, FaceObservation

PROOF_CHECKS = ("blink", "smile")
# Reported, never deciding: parallax (landmarks hallucinate depth on tilted photos) and the head
# turn (a tilted photo makes the mesh report a turn).
ADVISORY_CHECKS = ("planar_motion", "head_turn")

# Eye openness (each eye's EAR over its own open level, the more open of the two) at or below
# which a clip shows a blink. Re-derived on the shared dev clips (docs/face.md): the 41 blink
# clips reach 0.06-0.81 (the 15-17 fps ones are shallow: motion blur hides the closed lid),
# the 16 no-blink clips stay at 0.88 or above; 0.85 sits between them.
BLINK_CLOSED_RATIO = 0.85
# Degrees of yaw away from the clip's own median pose, held for TURN_FRAMES frames.
TURN_DEG = 15.0
TURN_FRAMES = 2


@dataclass(frozen=True)
class ClipLimits:
    """Limits of the spontaneous-expression checks (ratios of the person's own level) and of
    the head-turn observation (degrees from the clip's median pose)."""

    blink_closed_ratio: float = BLINK_CLOSED_RATIO
    smile_ratio: float = 1.10
    smile_frames: int = 2
    min_parallax: float = PARALLAX_MIN_RESIDUAL
    antispoof_min_real: float = 0.5
    min_interocular_px: float = 40.0
    antispoof_frames: int = 3
    turn_deg: float = TURN_DEG
    turn_frames: int = TURN_FRAMES
    # Pose stays measurable on smaller faces than eyelids do.
    turn_min_interocular_px: float = 20.0
    # Screen and print cues on the middle frame (vision.face.passive).
    max_moire: float = 2.6
    max_specular: float = 0.12
    min_gamut: float = 2.0
    # The replay cues measured over every frame of a clip (None: not measured).
    session: SessionCueLimits | None = None


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


def blink_check(observations: Sequence[FaceObservation],
                closed_ratio: float = BLINK_CLOSED_RATIO, max_jump_deg: float = 6.0
                ) -> CheckResult:
    """A spontaneous blink: both eyes' openness (EAR) dip to ``closed_ratio`` of their own open
    level (80th percentile of the clip) in a frame whose pose is steady.
    Score = depth = 1 - (lowest such openness / open level). ``observed`` gives the number of
    blinks (dips to ``closed_ratio`` with the eyes reopened half-way back between them), the
    depth, the lowest openness and each eye's open level (EAR)."""
    if len(observations) < 3:
        return CheckResult("blink", False, 0.0, "needs at least 3 frames with a face")
    rel = relative_eye_openness(observations, max_jump_deg)
    if rel is None:
        return CheckResult("blink", False, 0.0, "eyes not measurable")
    judged = rel[~np.isnan(rel)]
    lowest = float(judged.min()) if judged.size else 1.0
    depth = max(0.0, 1.0 - lowest)
    passed = depth >= 1.0 - closed_ratio
    observed = {
        "count": count_blinks(rel, closed_ratio), "depth": depth, "lowest_openness": lowest,
        "open_ear_left": float(np.percentile([o.measures.left_eye_openness
                                              for o in observations], 80)),
        "open_ear_right": float(np.percentile([o.measures.right_eye_openness
                                               for o in observations], 80)),
        "closed_ratio": closed_ratio, "frames_judged": int(judged.size)}
    return CheckResult("blink", passed, depth,
                       "both eyes closed in a steady frame" if passed else "no blink seen",
                       observed)


def count_blinks(relative: np.ndarray, closed_ratio: float = BLINK_CLOSED_RATIO) -> int:
    """Dips of ``relative`` openness to ``closed_ratio`` or below; a dip ends once the eyes are
    back above half-way between ``closed_ratio`` and fully open (NaN frames are skipped)."""
    reopen = closed_ratio + (1.0 - closed_ratio) / 2.0
    count, closed = 0, False
    for value in relative:
        if np.isnan(value):
            continue
        if not closed and value <= closed_ratio:
            count, closed = count + 1, True
        elif closed and value >= reopen:
            closed = False
    return count


def turn_check(observations: Sequence[FaceObservation], turn_deg: float = TURN_DEG,
               frames: int = TURN_FRAMES) -> CheckResult:
    """A head turn: yaw away from the clip's median pose by ``turn_deg`` or more, held for
    ``frames`` frames in a row. ``observed`` gives the largest held yaw to the person's left
    and right and pitch up and down, in degrees from that median. Score = the larger yaw."""
    if len(observations) < frames + 1:
        return CheckResult("head_turn", False, 0.0,
                           f"needs at least {frames + 1} frames with a face")
    yaw = np.array([o.pose.yaw_deg for o in observations])
    pitch = np.array([o.pose.pitch_deg for o in observations])
    base_yaw, base_pitch = float(np.median(yaw)), float(np.median(pitch))
    left = _held(yaw - base_yaw, frames)
    right = _held(base_yaw - yaw, frames)
    up = _held(pitch - base_pitch, frames)
    down = _held(base_pitch - pitch, frames)
    score = max(left, right)
    passed = score >= turn_deg
    observed = {"max_yaw_left_deg": left, "max_yaw_right_deg": right,
                "max_pitch_up_deg": up, "max_pitch_down_deg": down,
                "median_yaw_deg": base_yaw, "turn_deg": turn_deg,
                "frames_judged": len(observations)}
    return CheckResult("head_turn", passed, score,
                       "head turned" if passed else "no head turn seen", observed)


def _held(series: np.ndarray, frames: int) -> float:
    """The largest value ``series`` keeps for ``frames`` samples in a row (0 at least)."""
    if series.size < frames:
        return 0.0
    held = max(float(series[i:i + frames].min()) for i in range(series.size - frames + 1))
    return max(0.0, held)


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
    return CheckResult("smile", passed, score, "smile seen" if passed else "no smile seen",
                       {"rise": score, "neutral_level": neutral, "ratio": ratio})


def analyse_frames(frames: Iterable[np.ndarray], tracker: FaceTracker, *,
                   fps: float = 30.0, antispoof: AntiSpoofModel | None = None,
                   limits: ClipLimits | None = None) -> ClipVerdict:
    """Track a sequence of BGR frames and judge liveness from what they show."""
    lim = limits or ClipLimits()
    fps = fps if fps > 0 else 30.0
    observations: list[FaceObservation] = []
    keep: list[tuple[np.ndarray, FaceObservation]] = []
    cues = SessionCues() if lim.session is not None else None
    count = 0
    for i, frame in enumerate(frames):
        count += 1
        obs = tracker.process(frame, i / fps)
        if obs is not None:
            observations.append(obs)
            keep.append((frame, obs))
            if cues is not None:  # as the kiosk feeds them: every frame with a face
                cues.add(frame, obs)
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
        checks["head_turn"] = turn_check(
            [o for o in observations if o.interocular >= lim.turn_min_interocular_px],
            lim.turn_deg, lim.turn_frames)
        base, probe = parallax_tracks([o.landmarks for o in judged])
        checks["planar_motion"] = planar_motion_check(base, probe, min_residual=lim.min_parallax)
        if cues is not None and lim.session is not None:
            checks.update(judge_session(cues, lim.session))
            cues.reset()
    mid_frame, mid_obs = keep[len(keep) // 2]
    checks.update(screen_print_cues(mid_frame, mid_obs, max_moire=lim.max_moire,
                                    max_specular=lim.max_specular, min_gamut=lim.min_gamut))
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
