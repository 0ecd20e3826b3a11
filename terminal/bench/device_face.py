"""The face part of `scanpay bench device`: the pipeline's cost on one core (a Pi stand-in).

Run inside a process already pinned to one core (``os.sched_setaffinity``; embedding workers
inherit it). Three measurements on the EyeBlink8 clips:

* per-stage milliseconds per frame: track (MediaPipe), quality gates, liveness update, chip
  alignment, embedding with and without the mirror pass;
* for each embedding option (mirror pass, probe frames, embedding workers): the work still to
  do when the challenge ends — the probe chips are taken at the start of a 2 s challenge
  while the same core keeps tracking frames at 15 fps — and the share of frames tracked;
* Smile to Pay face seen to verified through the kiosk's real flow (the kiosk defaults,
  ``--face-runs`` attempts per worker setting; the demo clip answers a blink).
"""

from __future__ import annotations

import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

FPS = 15.0
CHALLENGE_S = 2.0
PROBE_SPACING_S = 0.1


def face_costs(*, runs: int, core: int) -> dict[str, Any]:
    """Everything above, as one JSON-ready dict (``skipped`` with a reason without data)."""
    from terminal.emulator.smile_demo import shared_faces_dir

    clips = sorted((shared_faces_dir() / "video" / "eyeblink8").glob("*.mp4"))
    if not clips:
        return {"skipped": "no EyeBlink8 clips (set SCANPAY_SHARED)"}
    frames = _frames(clips[::4])
    report: dict[str, Any] = {"core": core, "frames": len(frames)}
    report["stages_ms"] = stage_costs(frames)
    # This process now holds MediaPipe's graph and dlib's models: the face stack's footprint.
    report["rss_mb_face_stack"] = round(_rss_mb(), 1)
    report["options"] = option_costs(frames)
    if runs:
        report["smile"] = smile_decisions(runs)
    return report


def _frames(clips: list[Path]) -> list[np.ndarray]:
    from hardware.emulated.file_camera import read_video

    frames: list[np.ndarray] = []
    for clip in clips:
        frames.extend(read_video(clip, limit=60)[0])
    return frames


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median": round(statistics.median(ordered), 2),
            "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 2), "n": len(ordered)}


def stage_costs(frames: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """Median and p90 milliseconds per frame of each stage."""
    from vision.face.embedding import Embedder
    from vision.face.liveness import ChallengePlan, LivenessSession
    from vision.face.quality import assess_quality
    from vision.face.tracker import FaceTracker

    stages: dict[str, list[float]] = {k: [] for k in (
        "track", "quality", "liveness_update", "chip", "embed_no_mirror", "embed_mirror")}
    plain, mirrored = Embedder(flip=False), Embedder(flip=True)
    session = LivenessSession(ChallengePlan.random(random.Random(0)), clock=lambda: 0.0)
    with FaceTracker(mode="video") as tracker:
        tracker.process(frames[0], 0.0)  # warm-up: graph start-up is not a per-frame cost
        for i, frame in enumerate(frames):
            t0 = time.perf_counter()
            obs = tracker.process(frame, i / FPS)
            stages["track"].append(_ms(t0))
            if obs is None:
                continue
            t0 = time.perf_counter()
            assess_quality(obs, frame)
            stages["quality"].append(_ms(t0))
            t0 = time.perf_counter()
            session.update(obs)
            stages["liveness_update"].append(_ms(t0))
            if i % 3:
                continue
            t0 = time.perf_counter()
            chip = plain.chip(frame, obs)
            stages["chip"].append(_ms(t0))
            t0 = time.perf_counter()
            plain.embed_chip(chip)
            stages["embed_no_mirror"].append(_ms(t0))
            t0 = time.perf_counter()
            mirrored.embed_chip(chip)
            stages["embed_mirror"].append(_ms(t0))
    return {k: _summary(v) for k, v in stages.items() if v}


def _rss_mb() -> float:
    from terminal.bench.device import _rss_bytes

    return _rss_bytes([os.getpid()]) / 2 ** 20


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def option_costs(frames: list[np.ndarray]) -> list[dict[str, Any]]:
    """Work left when a 2 s challenge ends, per mirror pass / probe frames / workers."""
    from vision.face.embedding import Embedder
    from vision.face.tracker import FaceTracker

    rows: list[dict[str, Any]] = []
    with FaceTracker(mode="video") as tracker:
        observed = [(f, tracker.process(f, i / FPS)) for i, f in enumerate(frames[:30])]
    faces = [(f, o) for f, o in observed if o is not None]
    if not faces:
        return rows
    chips = [Embedder(flip=False).chip(f, o) for f, o in faces[:3]]
    for mirror in (False, True):
        for workers in (0, 1, 2):
            pool = _pool(mirror, workers)
            try:
                for probe_frames in (1, 2, 3):
                    rows.append({"mirror_pass": mirror, "embed_workers": workers,
                                 "probe_frames": probe_frames,
                                 **_challenge(frames, chips[:probe_frames], mirror, pool)})
            finally:
                if pool is not None:
                    pool.close()
    return rows


def _pool(mirror: bool, workers: int) -> Any:
    if workers == 0:
        return None
    from vision.face.probe import EmbeddingPool

    pool = EmbeddingPool(workers=workers, flip=mirror)
    pool.start(wait=True)
    return pool


def _challenge(frames: list[np.ndarray], chips: list[np.ndarray], mirror: bool,
               pool: Any) -> dict[str, Any]:
    """Track frames in real time for the challenge, probe chips first; time what is left."""
    from vision.face.embedding import Embedder
    from vision.face.tracker import FaceTracker

    embedder = Embedder(flip=mirror)
    futures: list[Any] = []
    shown = tracked = 0
    with FaceTracker(mode="video") as tracker:
        tracker.process(frames[0], 0.0)
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < CHALLENGE_S:
            index = int(elapsed * FPS)
            if index < shown:
                time.sleep(max(0.0, shown / FPS - elapsed))
                continue
            shown = index + 1
            if pool is not None and len(futures) < len(chips) \
                    and elapsed >= len(futures) * PROBE_SPACING_S:
                futures.append(pool.submit(chips[len(futures)]))
            tracker.process(frames[index % len(frames)], elapsed)
            tracked += 1
        end = time.perf_counter()
        if pool is None:
            for chip in chips:  # embed_workers = 0: the probe is embedded after the challenge
                embedder.embed_chip(chip)
        else:
            for chip in chips[len(futures):]:
                futures.append(pool.submit(chip))
            for future in futures:
                future.result(timeout=120)
        left = time.perf_counter() - end
    return {"after_challenge_ms": round(left * 1000, 1), "frames_shown": shown,
            "frames_tracked": tracked}


def smile_decisions(runs: int) -> dict[str, Any]:
    """Face seen to verified through the kiosk flow, kiosk defaults, workers 0 and 1."""
    from terminal.bench.smile import measure
    from terminal.errors import TerminalError

    try:
        report = measure(workers=[0, 1], runs=runs, customers=("clip",))
    except TerminalError as exc:
        return {"skipped": str(exc)}
    out: dict[str, Any] = {}
    for key, data in report["settings"].items():
        summary = data["summary"]
        decision = summary.get("decision_s", {})
        out[key] = {"verified": summary["verified"], "attempts": summary["attempts"],
                    "decision_s_median": decision.get("median"),
                    "decision_s_p90": decision.get("p90"),
                    "decisions_s": [a["decision_s"] for a in data["attempts"]]}
    return out


def print_face(face: dict[str, Any]) -> None:
    """The face part of the summary table."""
    if face.get("skipped"):
        print(f"face pipeline: skipped ({face['skipped']})")
        return
    print(f"face pipeline on one core (cpu {face['core']}); tracker and models loaded: "
          f"{face['rss_mb_face_stack']:.0f} MB resident; ms per frame, median/p90:")
    for name, s in face["stages_ms"].items():
        print(f"  {name:<17} {s['median']:>8.1f} {s['p90']:>8.1f}")
    print("  after a 2 s challenge: mirror workers probe -> ms left, frames tracked/shown")
    for r in face["options"]:
        print(f"  {'on ' if r['mirror_pass'] else 'off':>6} {r['embed_workers']:>7} "
              f"{r['probe_frames']:>5} -> {r['after_challenge_ms']:>7.0f}  "
              f"{r['frames_tracked']}/{r['frames_shown']}")
    for key, s in face.get("smile", {}).items():
        if key == "skipped":
            print(f"  Smile to Pay: skipped ({s})")
            continue
        med = s["decision_s_median"]
        print(f"  Smile to Pay {key}: face seen to verified median "
              f"{'-' if med is None else f'{med:.2f} s'} ({s['verified']}/{s['attempts']})")


def plot_face(out: Path, face: dict[str, Any]) -> list[Path]:
    """Per-stage cost bars and the after-challenge work per option."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    names = list(face["stages_ms"])
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(names, [face["stages_ms"][n]["median"] for n in names], color="#4c72b0")
    ax.set_ylabel("ms per frame (median), one core")
    ax.set_title("face pipeline stages pinned to one core", fontsize=9)
    ax.tick_params(axis="x", labelsize=8, rotation=20)
    fig.tight_layout()
    paths.append(out / "face_stages.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    if face["options"]:
        fig, ax = plt.subplots(figsize=(8, 4))
        labels = [f"{'M' if r['mirror_pass'] else '-'} w{r['embed_workers']} p{r['probe_frames']}"
                  for r in face["options"]]
        ax.bar(labels, [r["after_challenge_ms"] for r in face["options"]], color="#dd8452")
        ax.set_ylabel("ms of probe work left when the challenge ends")
        ax.set_title("embedding options on one core (M = mirror pass, w = workers, "
                     "p = probe frames)", fontsize=9)
        ax.tick_params(axis="x", labelsize=7, rotation=60)
        fig.tight_layout()
        paths.append(out / "face_options.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths
