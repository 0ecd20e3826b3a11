"""`scanpay bench face --only replay`: replayed videos of the account holder against the kiosk.

Every attempt runs the kiosk's real Smile-to-Pay flow (:class:`terminal.kiosk.smile.SmileToPay`
with the real :class:`~terminal.kiosk.face_sensor.VisionFaceSensor` of ``configs/kiosk.toml``:
MediaPipe tracking, quality gates, the randomised challenge, the probe and identity check, the
passive and session cues) against the reference back end on loopback, on a simulated 15 fps
camera clock. An attempt is *accepted* when the challenge and the identity check pass (the
flow goes on to count candidates and ask for digits): what happens after that is the 1:1
match, which a replay of the account holder would pass.

Three kinds of people in front of the camera:

* ``genuine`` -- the emulator's scripted customer acting the prompts over each real dev clip
  (blink, no-blink, head-turn): the real frames feed tracking, quality, the probe and every
  image cue, the acted head answers the prompts (:mod:`terminal.emulator.customer`);
* ``replay`` -- an attacker with footage of the account holder plays, after a reaction time,
  a clip of that person doing what the screen asks where the footage has it (a blink clip for
  a blink, the head-turn video from the start of a turn for a turn); without such footage
  they tilt the screen 45 degrees for a turn and keep the neutral footage playing. The clip
  is shown on a phone or a monitor held at several distances
  (:mod:`terminal.emulator.replay_screen`), zoomed so the face is kiosk-sized;
* ``footage`` -- the same attacker's frames straight into the camera, no screen: what the
  challenge alone does against a replay that follows the prompts.

The people: the two of the blink / no-blink clips (no turn footage) and the five of the
head-turn videos (turns, and their natural blinks where the video has one). Nobody has a smile
on record, so a smile prompt is answered by chance only.
"""

from __future__ import annotations

import csv
import random
import sys
import tempfile
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FPS = 15.0
TILT_DEG = 45.0  # a flat screen tilted this far is the closest it comes to a turned head
MAX_ATTEMPT_S = 20.0
MIN_GENUINE_RATE = 0.95
MAX_REPLAYS_ACCEPTED = 0


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Segment:
    """Frames ``start``..``stop`` (exclusive) of a clip, played at ``fps``."""

    frames: list[np.ndarray]
    fps: float
    start: int = 0
    stop: int | None = None

    @property
    def length_s(self) -> float:
        """Duration in seconds."""
        stop = len(self.frames) if self.stop is None else self.stop
        return max(1, stop - self.start) / self.fps

    def at(self, elapsed: float) -> np.ndarray | None:
        """The frame ``elapsed`` seconds in (None once it has ended)."""
        stop = len(self.frames) if self.stop is None else self.stop
        i = self.start + int(elapsed * self.fps)
        return self.frames[i] if i < stop else None

    def ping_pong(self, elapsed: float) -> np.ndarray:
        """The frame ``elapsed`` seconds in, played forwards and backwards forever."""
        stop = len(self.frames) if self.stop is None else self.stop
        n = max(1, stop - self.start)
        k = int(elapsed * self.fps) % max(1, 2 * n - 2) if n > 1 else 0
        return self.frames[self.start + (k if k < n else 2 * n - 2 - k)]


@dataclass
class Footage:
    """What an attacker has of one person: neutral footage and clips of actions."""

    person: str
    neutral: list[Segment]
    actions: dict[str, list[Segment]] = field(default_factory=dict)
    face_box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    frame_size: tuple[int, int] = (640, 480)


class ReplayDirector:
    """The attacker: watches the prompt and plays the matching footage after a reaction time.

    :meth:`frame` returns the clip frame to show at time ``t`` and the screen's deliberate tilt
    (yaw, pitch), degrees.
    """

    def __init__(self, footage: Footage, rng: random.Random,
                 reaction_s: tuple[float, float] = (0.4, 0.8)) -> None:
        self.footage = footage
        self._rng = rng
        self._reaction = reaction_s
        self._neutral = rng.choice(footage.neutral)
        self._action: str | None = None
        self._since = 0.0
        self._delay = 0.0
        self._segment: Segment | None = None
        self._tilt = 0.0
        self.played: list[str] = []

    def see(self, action: str | None, t: float) -> None:
        """The screen asks for ``action`` at ``t``."""
        if action == self._action:
            return
        self._action, self._since = action, t
        self._delay = self._rng.uniform(*self._reaction)
        self._segment = None
        clips = self.footage.actions.get(action or "", [])
        if action is not None:
            if clips:
                self._segment = self._rng.choice(clips)
                self.played.append(f"{action}:clip")
            elif action in ("turn_left", "turn_right"):
                self.played.append(f"{action}:tilt")
            else:
                self.played.append(f"{action}:none")

    def frame(self, t: float) -> tuple[np.ndarray, tuple[float, float]]:
        """The clip frame shown at ``t`` and the screen's tilt."""
        acting = self._action is not None and t - self._since >= self._delay
        elapsed = t - self._since - self._delay
        target = 0.0
        if acting and self._segment is None and self._action in ("turn_left", "turn_right"):
            target = TILT_DEG if self._action == "turn_right" else -TILT_DEG
        step = 120.0 / FPS  # degrees per frame: a brisk wrist turn
        self._tilt += float(np.clip(target - self._tilt, -step, step))
        if acting and self._segment is not None:
            image = self._segment.at(elapsed)
            if image is not None:
                return image, (self._tilt, 0.0)
        return self._neutral.ping_pong(t), (self._tilt, 0.0)


# --- footage ----------------------------------------------------------------------------------

def _manifest(folder: Path) -> list[dict[str, str]]:
    from terminal.bench.face_liveness import manifest

    return manifest(folder)


def _read(path: Path) -> tuple[list[np.ndarray], float]:
    from hardware.emulated.file_camera import read_video
    from hardware.errors import CameraError

    try:
        frames, fps = read_video(path, limit=2000)
    except CameraError:
        return [], 0.0
    return frames, fps or 30.0


def _track(frames: list[np.ndarray], fps: float) -> list[Any]:
    from vision.face.tracker import FaceTracker

    with FaceTracker(mode="video") as tracker:
        return [tracker.process(f, i / fps) for i, f in enumerate(frames)]


def _median_box(observations: list[Any]) -> tuple[float, float, float, float]:
    boxes = np.array([[o.box.left, o.box.top, o.box.width, o.box.height]
                      for o in observations if o is not None])
    if boxes.size == 0:
        return (0.0, 0.0, 0.0, 0.0)
    m = np.median(boxes, axis=0)
    return (float(m[0]), float(m[1]), float(m[2]), float(m[3]))


def clip_footage(video: Path) -> dict[str, Footage]:
    """The blink / no-blink people: blink clips from 0.4 s before the blink, no-blink clips as
    neutral footage."""
    people: dict[str, Footage] = {}
    for kind in ("no-blink", "blink"):
        for row in _manifest(video / kind):
            frames, fps = _read(video / kind / row["file"])
            if not frames:
                continue
            person = row["person"]
            if person not in people:
                obs = _track(frames[:10], fps)
                people[person] = Footage(person, [], {}, _median_box(obs),
                                         (frames[0].shape[1], frames[0].shape[0]))
            if kind == "no-blink":
                people[person].neutral.append(Segment(frames, fps))
            else:
                first = int((row.get("blink_frames") or "0").split("-")[0])
                start = max(0, first - int(0.4 * fps))
                people[person].actions.setdefault("blink", []).append(
                    Segment(frames, fps, start))
    return {p: f for p, f in people.items() if f.neutral}


def turn_footage(video: Path, only: tuple[str, ...] = ()) -> dict[str, Footage]:
    """The head-turn people (``only`` those files when given): turn segments (from the last
    frontal frame before a turn of 20+ degrees either way, 2.5 s), blinks (an eye openness dip
    to 0.6 of the open level in a steady frontal frame, from 0.4 s before), the longest steady
    frontal run as neutral."""
    people: dict[str, Footage] = {}
    for row in _manifest(video / "head-turn"):
        if only and row["file"] not in only:
            continue
        frames, fps = _read(video / "head-turn" / row["file"])
        if not frames:
            continue
        obs = _track(frames, fps)
        people[row["file"]] = _label_turn_video(row["file"], frames, fps, obs)
    return people


def _label_turn_video(person: str, frames: list[np.ndarray], fps: float, obs: list[Any]
                      ) -> Footage:
    nan = float("nan")
    yaw = np.array([o.pose.yaw_deg if o is not None else nan for o in obs])
    pitch = np.array([o.pose.pitch_deg if o is not None else nan for o in obs])
    eye = np.array([o.measures.eye_openness if o is not None else nan for o in obs])
    base_yaw, base_pitch = np.nanmedian(yaw), np.nanmedian(pitch)
    dy, dp = yaw - base_yaw, pitch - base_pitch
    frontal = (np.abs(dy) < 6) & (np.abs(dp) < 8)
    open_level = np.nanpercentile(eye[frontal], 80) if frontal.any() else nan
    rel = eye / open_level
    footage = Footage(person, [], {}, _median_box(obs), (frames[0].shape[1], frames[0].shape[0]))
    length = int(2.5 * fps)
    for action, sign in (("turn_left", 1.0), ("turn_right", -1.0)):
        turned = np.nan_to_num(sign * dy) >= 20
        i = 0
        while i < len(frames):
            if turned[i] and (i + 1 < len(frames) and turned[i + 1]):
                start = i
                while start > 0 and not frontal[start]:
                    start -= 1
                footage.actions.setdefault(action, []).append(
                    Segment(frames, fps, start, min(len(frames), start + length)))
                while i < len(frames) and turned[i]:
                    i += 1
            i += 1
    dips = np.nan_to_num(rel, nan=1.0) <= 0.6
    i = 0
    while i < len(frames):
        if dips[i] and frontal[max(0, i - 2):i + 1].all():
            start = max(0, i - int(0.4 * fps))
            footage.actions.setdefault("blink", []).append(
                Segment(frames, fps, start, min(len(frames), i + int(0.8 * fps))))
            i += int(fps)
        i += 1
    steady = frontal & (np.nan_to_num(rel, nan=0.0) >= 0.85)
    best, run_start, best_start = 0, 0, 0
    for i, ok in enumerate([*steady, False]):
        if not ok:
            if i - run_start > best:
                best, best_start = i - run_start, run_start
            run_start = i + 1
    if best >= 3:
        footage.neutral.append(Segment(frames, fps, best_start, best_start + best))
    else:
        footage.neutral.append(Segment(frames, fps, 0, max(2, int(fps))))
    return footage


# --- attempts ---------------------------------------------------------------------------------

@dataclass
class Attempt:
    """One attempt's outcome."""

    who: str
    person: str
    variant: str
    distance_m: float | None
    seed: int
    accepted: bool
    outcome: str
    reasons: list[str]
    failed_checks: list[str]
    actions: list[str]
    played: list[str]
    checks: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return dict(self.__dict__)


class KioskRig:
    """The kiosk's real face sensor and Smile-to-Pay flow on a simulated camera clock."""

    def __init__(self, config: Any, face: Any, faces: Any, gateway: Any, seed: int) -> None:
        from hardware.emulated.clock import ManualClock
        from terminal.kiosk.face_sensor import VisionFaceSensor

        self.config, self.face, self.faces, self.gateway = config, face, faces, gateway
        self.clock = ManualClock(0.0)
        self.sensor = VisionFaceSensor(face, clock=self.clock, rng=random.Random(seed))
        self.sensor.prepare()
        self._n = 0

    def close(self) -> None:
        """Stop the sensor's workers."""
        self.sensor.close()

    def attempt(self, source: Callable[[str | None, float], np.ndarray], sensor: Any = None,
                show: Callable[[str | None, float], None] | None = None
                ) -> tuple[Any, list[str]]:
        """Run one attempt: ``source(action, t)`` gives the camera frame at ``t``. Returns the
        final status and the events of the state machine."""
        from payments.money import Money
        from terminal.config.schema import SmileSection
        from terminal.kiosk.smile import Order, SmileToPay
        from terminal.kiosk.smile_states import SmileState

        smile = self.config.smile or SmileSection()
        flow = SmileToPay(sensor=sensor or self.sensor, faces=self.faces, gateway=self.gateway,
                          face=self.face, smile=smile, terminal_id=self.config.terminal.id,
                          clock=self.clock)
        self._n += 1
        start = self.clock() + 1.0  # a gap between attempts (the tracker's clock only rises)
        self.clock.set(start)
        status = flow.start(Order(f"replay-{self._n}", Money(500, smile.currency), "Bench"))
        i = 0
        while not status.done and status.state is not SmileState.DIGITS:
            t = start + i / FPS
            if t - start > MAX_ATTEMPT_S:
                break
            self.clock.set(t)
            if show is not None:
                show(status.action, t)
            status = flow.on_frame(source(status.action, t), t)
            i += 1
        events = [step.event.value for step in flow.machine.history]
        flow.reset()
        return status, events


def _summarise(status: Any, events: list[str]) -> dict[str, Any]:
    checks = status.liveness.get("checks", {}) if status.liveness else {}
    accepted = "challenge_passed" in events and not any(
        r in ("face_changed",) for r in status.reason_codes)
    return {
        "accepted": accepted,
        "outcome": "accepted" if accepted else status.state.value,
        "reasons": list(status.reason_codes),
        "failed_checks": sorted(k for k, v in checks.items() if not v.get("passed", True)),
        "checks": {**{k: v.get("score") for k, v in checks.items()},
                   **({"flat_motion_bend": checks["flat_motion"]["observed"]["bend"]}
                      if "observed" in checks.get("flat_motion", {}) else {})},
    }


def _variants(distances: bool) -> list[tuple[str, float | None]]:
    from terminal.emulator.replay_screen import SCREENS

    out: list[tuple[str, float | None]] = [("footage", None)]
    for name, spec in SCREENS.items():
        out += [(name, d) for d in (spec.distances_m if distances else spec.distances_m[1:2])]
    return out


def _renderer(footage: Footage, variant: str, distance: float, seed: int) -> Any:
    from terminal.emulator.replay_screen import ReplayRenderer, face_crop, screen

    spec = screen(variant)
    # The attacker zooms so the face is kiosk-sized: about 190 px high on the camera.
    projected_h = 1.1 * 640 * spec.height_m / distance
    fraction = min(0.9, 190.0 / projected_h)
    crop = (face_crop(footage.face_box, footage.frame_size, spec.width_m / spec.height_m,
                      fraction) if footage.face_box[2] > 0 else None)
    return ReplayRenderer(spec, distance, seed=seed, crop=crop)


def render_replay(frames: list[np.ndarray], fps: float, *, variant: str = "monitor",
                  distance_m: float | None = None, seed: int = 0) -> list[np.ndarray]:
    """``frames`` (a clip at ``fps``) played on a ``variant`` screen held ``distance_m`` away
    (default: the bench's middle distance), zoomed as the bench's attacker zooms, as the
    camera sees them at ``FPS``: the replay the kiosk's session cues must catch."""
    from terminal.emulator.replay_screen import screen

    spec = screen(variant)
    distance = distance_m if distance_m is not None else spec.distances_m[
        len(spec.distances_m) // 2]
    footage = Footage("clip", [Segment(frames, fps)], {},
                      _median_box(_track(frames[:10], fps)),
                      (frames[0].shape[1], frames[0].shape[0]))
    renderer = _renderer(footage, variant, distance, seed)
    segment = footage.neutral[0]
    return [renderer.render(segment.at(i / FPS), i / FPS)  # type: ignore[arg-type]
            for i in range(int(segment.length_s * FPS))]


def cue_cost(video: Path, *, session_s: float = 6.0,
             kinds: tuple[str, ...] = ("blink", "no-blink", "head-turn"),
             say: Callable[[str], None] = _say) -> dict[str, Any]:
    """CPU milliseconds the session cues take per frame (:meth:`SessionCues.add`) over
    kiosk-length sessions at the kiosk's 15 fps, OpenCV on one thread (one core's view): the
    first clip of each dev folder (``kinds``: blink, no-blink, head-turn) played ``session_s``
    seconds back and forth, straight and replayed on a phone and a monitor. Tracking is done
    first and not counted."""
    import time

    import cv2

    from vision.face.session_cues import SessionCues

    sessions: list[tuple[str, list[tuple[np.ndarray, Any]]]] = []
    for kind in kinds:
        rows = _manifest(video / kind)
        frames, fps = _read(video / kind / rows[0]["file"]) if rows else ([], 0.0)
        if not frames:
            continue
        segment = Segment(frames, fps)
        shown = [segment.ping_pong(i / FPS) for i in range(int(session_s * FPS))]
        for variant in ("genuine", "phone", "monitor"):
            clip = shown if variant == "genuine" else render_replay(shown, FPS, variant=variant)
            observed = _track(clip, FPS)
            sessions.append((f"{kind}/{variant}", [(f, o) for f, o in zip(clip, observed,
                                                                          strict=True)
                                                  if o is not None]))
        say(f"replay: cue cost, {kind} sessions tracked")
    if not sessions:
        return {}
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        ms: list[float] = []
        for _name, pairs in sessions:
            cues = SessionCues()
            for image, observation in pairs:
                started = time.process_time()
                cues.add(image, observation)
                ms.append((time.process_time() - started) * 1000.0)
    finally:
        cv2.setNumThreads(threads)
    values = np.array(ms)
    return {"sessions": [name for name, _ in sessions], "frames": int(values.size),
            "session_s": session_s, "fps": FPS, "opencv_threads": 1,
            "mean_ms": round(float(values.mean()), 3),
            "median_ms": round(float(np.median(values)), 3),
            "p90_ms": round(float(np.percentile(values, 90)), 3), "ms": [round(v, 3) for v in ms]}


def bench_replay(faces_dir: Path, *, seeds: int = 2, all_distances: bool = True,
                 genuine: bool = True, say: Callable[[str], None] = _say) -> dict[str, Any]:
    """Replay, footage and genuine attempts through the kiosk's flow; counts and targets."""
    from payments.clients.face import FaceClient
    from payments.clients.gateway import GatewayClient
    from terminal.config import default_config_path, load_config
    from terminal.config.schema import FaceSection
    from terminal.emulator.session import Emulator

    video = faces_dir / "video"
    say("replay: labelling the footage (tracking every clip once)")
    people = {**clip_footage(video), **turn_footage(video)}
    if not people:
        return {}
    cost = cue_cost(video, say=say)
    config = load_config(default_config_path("kiosk"))
    face = config.face or FaceSection()
    attempts: list[Attempt] = []
    with tempfile.TemporaryDirectory(prefix="scanpay-bench-replay-") as tmp, \
            Emulator(config, state_dir=Path(tmp)) as emulator:
        settings = emulator.endpoints().gateway
        with FaceClient(settings) as faces, GatewayClient(settings) as gateway:
            rig = KioskRig(config, face, faces, gateway, seed=7)
            try:
                if genuine:
                    attempts += _genuine(rig, video, say)
                attempts += _replays(rig, people, seeds, all_distances, say)
            finally:
                rig.close()
    return {**_report(attempts, people, face), "cue_cost": cost}


def _genuine(rig: KioskRig, video: Path, say: Callable[[str], None]) -> list[Attempt]:
    from terminal.emulator.customer import ActingSensor, ScriptedCustomer

    out = []
    rows = [(kind, r) for kind in ("blink", "no-blink", "head-turn")
            for r in _manifest(video / kind)]
    for k, (kind, row) in enumerate(rows, 1):
        frames, fps = _read(video / kind / row["file"])
        if not frames:
            continue
        segment = Segment(frames, fps)
        customer = ScriptedCustomer(rng=random.Random(k))
        acting = ActingSensor(rig.sensor, customer)
        origin: dict[str, float] = {}

        def source(_action: str | None, t: float, seg: Segment = segment,
                   o: dict[str, float] = origin) -> np.ndarray:
            o.setdefault("t0", t)
            return seg.ping_pong(t - o["t0"])

        status, events = rig.attempt(source, sensor=acting, show=acting.show)
        s = _summarise(status, events)
        out.append(Attempt("genuine", row["file"], kind, None, k, s["accepted"], s["outcome"],
                           s["reasons"], s["failed_checks"], _actions(events, status), [],
                           s["checks"]))
        if k % 10 == 0 or k == len(rows):
            ok = sum(a.accepted for a in out)
            say(f"replay: genuine {k}/{len(rows)} clips, {ok} accepted")
    return out


def _actions(events: list[str], status: Any) -> list[str]:
    checks = status.liveness.get("checks", {}) if status.liveness else {}
    return [k for k in ("smile", "blink", "turn_left", "turn_right") if k in checks]


def _replays(rig: KioskRig, people: dict[str, Footage], seeds: int, all_distances: bool,
             say: Callable[[str], None]) -> list[Attempt]:
    out = []
    variants = _variants(all_distances)
    total = len(people) * len(variants) * seeds
    n = 0
    for person, footage in people.items():
        for variant, distance in variants:
            for seed in range(seeds):
                n += 1
                rng = random.Random(zlib.crc32(f"{person}/{variant}/{distance}/{seed}".encode()))
                director = ReplayDirector(footage, rng)
                renderer = (None if distance is None
                            else _renderer(footage, variant, distance, seed))

                def source(action: str | None, t: float, d: ReplayDirector = director,
                           r: Any = renderer) -> np.ndarray:
                    d.see(action, t)
                    image, tilt = d.frame(t)
                    return image if r is None else r.render(image, t, tilt_deg=tilt)

                status, events = rig.attempt(source)
                s = _summarise(status, events)
                who = "footage" if distance is None else "replay"
                out.append(Attempt(who, person, variant, distance, seed, s["accepted"],
                                   s["outcome"], s["reasons"], s["failed_checks"],
                                   _actions(events, status), director.played, s["checks"]))
                if n % 10 == 0 or n == total:
                    acc = sum(a.accepted for a in out if a.who == "replay")
                    say(f"replay: {n}/{total} attacks, {acc} replays accepted")
    return out


def _report(attempts: list[Attempt], people: dict[str, Footage], face: Any) -> dict[str, Any]:
    genuine = [a for a in attempts if a.who == "genuine"]
    replays = [a for a in attempts if a.who == "replay"]
    footage = [a for a in attempts if a.who == "footage"]
    per_variant: dict[str, dict[str, Any]] = {}
    for a in replays + footage:
        key = a.variant if a.distance_m is None else f"{a.variant}@{a.distance_m:g}m"
        row = per_variant.setdefault(key, {"attempts": 0, "accepted": 0,
                                           "stopped_by": Counter()})
        row["attempts"] += 1
        row["accepted"] += a.accepted
        if not a.accepted:
            row["stopped_by"][_stopper(a)] += 1
    for row in per_variant.values():
        row["stopped_by"] = dict(row["stopped_by"])
    g_ok = sum(a.accepted for a in genuine)
    r_ok = sum(a.accepted for a in replays)
    rate = g_ok / len(genuine) if genuine else 0.0
    return {
        "limits": {k: getattr(face, k) for k in (
            "flat_motion_min_bend", "flat_motion_max_ratio", "max_banding", "max_screen_moire",
            "max_moire", "max_specular", "min_gamut")},
        "people": {p: {"neutral": len(f.neutral),
                       "actions": {k: len(v) for k, v in f.actions.items()}}
                   for p, f in people.items()},
        "genuine": {"attempts": len(genuine), "accepted": g_ok, "rate": round(rate, 3),
                    "refused": dict(Counter(_stopper(a) for a in genuine if not a.accepted))},
        "replay": {"attempts": len(replays), "accepted": r_ok},
        "footage": {"attempts": len(footage), "accepted": sum(a.accepted for a in footage)},
        "per_variant": per_variant,
        "derived": derive_limits(genuine, replays, face.flat_motion_min_bend),
        "targets": {
            "replays_accepted": "PASS" if replays and r_ok <= MAX_REPLAYS_ACCEPTED else "MISS",
            "genuine_accepted": "PASS" if genuine and rate >= MIN_GENUINE_RATE else "MISS"},
        "attempts": [a.as_dict() for a in attempts],
    }


# Each session cue: the check's name, the [face] limit it is judged against, and whether a
# replay lies above (True) or below (False) the limit.
CUE_LIMITS: tuple[tuple[str, str, bool], ...] = (
    ("banding", "max_banding", True),
    ("screen_moire", "max_screen_moire", True),
    ("moire", "max_moire", True),
    ("flat_motion", "flat_motion_max_ratio", False),
)


def derive_limits(genuine: list[Attempt], replays: list[Attempt], bend: float
                  ) -> dict[str, Any]:
    """Per cue: the genuine range (every genuine attempt that reached the cues), the replays'
    range, and a limit halfway between the most replay-like genuine score and the least
    replay-like replay score that still lies beyond it (None when they overlap entirely)."""
    out: dict[str, Any] = {}
    for name, limit, above in CUE_LIMITS:
        g = [a.checks[name] for a in genuine if a.checks.get(name) is not None]
        r = [a.checks[name] for a in replays if a.checks.get(name) is not None]
        if name == "flat_motion":  # only sessions whose face flow bent enough to be judged
            g = [a.checks[name] for a in genuine if name in a.checks
                 and (a.checks.get("flat_motion_bend") or 0) >= bend]
            r = [a.checks[name] for a in replays if name in a.checks
                 and (a.checks.get("flat_motion_bend") or 0) >= bend]
        row: dict[str, Any] = {"limit": limit, "genuine": _range(g), "replays": _range(r)}
        if g and r:
            edge = max(g) if above else min(g)
            beyond = [v for v in r if (v > edge if above else v < edge)]
            row["replays_beyond_genuine"] = f"{len(beyond)}/{len(r)}"
            if beyond:
                near = min(beyond) if above else max(beyond)
                row["suggested"] = round((edge + near) / 2, 3)
        out[name] = row
    return out


def _range(values: list[float]) -> list[float] | None:
    return [round(min(values), 4), round(max(values), 4)] if values else None


def _stopper(a: Attempt) -> str:
    """What stopped an attempt: the first failed image cue, else the reason code."""
    cues = [c for c in a.failed_checks if c not in ("smile", "blink", "turn_left", "turn_right")]
    if cues:
        return ",".join(cues)
    return a.reasons[0] if a.reasons else a.outcome


def print_replay(report: dict[str, Any]) -> None:
    """A readable summary of the replay section."""
    g, r, f, tg = report["genuine"], report["replay"], report["footage"], report["targets"]
    print("\nreplayed videos through the kiosk's challenge (default [face] configuration):")
    print(f"  genuine (scripted customer over the real clips) accepted {g['accepted']}/"
          f"{g['attempts']} ({100 * g['rate']:.1f}%)  target >= "
          f"{100 * MIN_GENUINE_RATE:.0f}%  {tg['genuine_accepted']}")
    if g["refused"]:
        print("    refused by: " + ", ".join(f"{k} {v}" for k, v in g["refused"].items()))
    print(f"  replays accepted {r['accepted']}/{r['attempts']}  target 0  "
          f"{tg['replays_accepted']}")
    print(f"  footage straight into the camera (no screen) accepted {f['accepted']}/"
          f"{f['attempts']}")
    cost = report.get("cue_cost")
    if cost:
        print(f"  session cues cost {cost['mean_ms']:.2f} ms per frame (mean; median "
              f"{cost['median_ms']:.2f}, p90 {cost['p90_ms']:.2f}; CPU, one OpenCV thread, "
              f"{cost['frames']} frames of {len(cost['sessions'])} {cost['session_s']:g} s "
              f"sessions at {cost['fps']:g} fps)")
    for name, d in report.get("derived", {}).items():
        print(f"    {name:13s} genuine {d['genuine']}  replays {d['replays']}  replays beyond "
              f"every genuine {d.get('replays_beyond_genuine', '-')}  limit "
              f"{report['limits'][d['limit']]} (midpoint {d.get('suggested', '-')})")
    for key, row in report["per_variant"].items():
        stops = ", ".join(f"{k} {v}" for k, v in sorted(row["stopped_by"].items()))
        print(f"    {key:16s} accepted {row['accepted']:2d}/{row['attempts']:<3d} stopped by: "
              f"{stops}")


def plot_replay(out: Path, report: dict[str, Any]) -> list[Path]:
    """``replay_outcomes.png`` (accepted vs stopped per variant and distance, by what stopped
    them) and ``replay_cues.png`` (each session cue's score, genuine vs replays, with its
    limit)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    rows = report["per_variant"]
    stoppers = sorted({k for r in rows.values() for k in r["stopped_by"]})
    fig, ax = plt.subplots(figsize=(9, 4.5))
    x = np.arange(len(rows))
    bottom = np.zeros(len(rows))
    acc = np.array([r["accepted"] for r in rows.values()], float)
    ax.bar(x, acc, color="black", label="accepted")
    bottom += acc
    cmap = plt.get_cmap("tab10")
    for k, name in enumerate(stoppers):
        v = np.array([r["stopped_by"].get(name, 0) for r in rows.values()], float)
        ax.bar(x, v, bottom=bottom, color=cmap(k % 10), label=f"stopped: {name}")
        bottom += v
    ax.set_xticks(x, list(rows), rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("attempts")
    g = report["genuine"]
    ax.set_title(f"Replayed videos through the kiosk's challenge; genuine accepted "
                 f"{g['accepted']}/{g['attempts']}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    path = out / "replay_outcomes.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(path)
    cues = [("flat_motion", "flat_motion_max_ratio", "homography share of the bend"),
            ("banding", "max_banding", "flicker bands (row/column energy)"),
            ("screen_moire", "max_screen_moire", "moiré at camera resolution"),
            ("moire", "max_moire", "moiré of the 128 px face crop")]
    fig, axes = plt.subplots(1, len(cues), figsize=(4 * len(cues), 4))
    groups = [("genuine", "#55a868"), ("footage", "#8172b2"), ("replay", "#c44e52")]
    for ax, (name, limit, label) in zip(axes, cues, strict=True):
        for j, (who, colour) in enumerate(groups):
            vals = [a["checks"].get(name) for a in report["attempts"]
                    if a["who"] == who and a["checks"].get(name) is not None]
            jitter = np.random.default_rng(j).uniform(-0.15, 0.15, len(vals))
            ax.scatter(np.full(len(vals), j) + jitter, vals, s=10, color=colour, alpha=0.7)
        ax.axhline(report["limits"][limit], color="k", ls="--", lw=0.8, label="limit")
        ax.set_xticks(range(len(groups)), [g for g, _ in groups])
        ax.set_title(label, fontsize=9)
    axes[0].legend(fontsize=7)
    fig.suptitle("Session cues of attempts that reached the end of the challenge", fontsize=9)
    fig.tight_layout()
    path = out / "replay_cues.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(path)
    cost = report.get("cue_cost")
    if cost:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.hist(cost["ms"], bins=40, color="#4c72b0")
        ax.axvline(cost["mean_ms"], color="k", ls="--", lw=0.8,
                   label=f"mean {cost['mean_ms']:.2f} ms")
        ax.set_xlabel("CPU ms per frame, session cues (one OpenCV thread)")
        ax.set_ylabel("frames")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out / "replay_cue_cost.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def write_csv(path: Path, report: dict[str, Any]) -> Path:
    """One row per attempt (who, person, variant, distance, outcome, what stopped it)."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["who", "person", "variant", "distance_m", "seed", "accepted", "outcome",
                    "failed_checks", "played"])
        for a in report["attempts"]:
            w.writerow([a["who"], a["person"], a["variant"], a["distance_m"], a["seed"],
                        a["accepted"], a["outcome"], ";".join(a["failed_checks"]),
                        ";".join(a["played"])])
    return path
