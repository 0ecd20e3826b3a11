"""`scanpay bench face`: per-stage latency, 1:1 verification rates and liveness results.

Data: ``../shared/data/faces`` (LFW pairs, EyeBlink8 clips, spoof images) and the MiniFASNet
models of ``../shared/models`` when present. Embeddings are cached in memory for the run only;
no image, landmark or embedding is written to disk. Writes ``face.json`` and PNG plots into
``--out``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from terminal.errors import TerminalError
from terminal.shared_data import shared_root

log = logging.getLogger(__name__)

MINIFASNET = (("MiniFASNetV2.onnx",
               "4eed38f0bde33c9b805942a5f25e42ce1161e2bda545254be622be957727794e", 2.7),
              ("MiniFASNetV1SE.onnx",
               "d819a69bac6b9ade2a0f4d9b60b618e1260f7bf3ba1fddff6c5d82131cb1083f", 4.0))
FPS = 15.0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `bench face`."""
    p = sub.add_parser("face", help="face tracking latency, verification rates, liveness")
    p.add_argument("--shared", type=Path, default=None,
                   help="shared data folder (default $SCANPAY_SHARED or ../shared)")
    p.add_argument("--out", type=Path, default=Path("bench-results/face"),
                   help="folder for face.json and the PNG plots")
    p.add_argument("--pairs", type=int, default=0, metavar="N",
                   help="use only the first N genuine and N impostor pairs (default: all)")
    p.add_argument("--threshold", type=float, default=None, metavar="D",
                   help="payment threshold to report at (default: face.payment_threshold)")
    p.add_argument("--baseline", action="store_true",
                   help="also run plain face_recognition (HOG + face_encodings) on the pairs")
    p.add_argument("--skip", action="append", default=[], choices=SECTIONS,
                   help="skip a section (repeatable)")
    p.add_argument("--only", action="append", default=[], choices=SECTIONS,
                   help="run only this section (repeatable); 'liveness' (real blink, no-blink "
                        "and head-turn clips, EyeBlink8) takes about a minute, 'attacks' "
                        "(spoof images, held photos) most of the 17, 'replay' (replayed "
                        "videos and genuine customers through the kiosk's challenge) ~15")
    p.add_argument("--replay-seeds", type=int, default=2, metavar="N",
                   help="replay attempts per person, screen and distance (default 2)")
    p.set_defaults(handler=run)


# latency: per-stage ms; verification: LFW pairs; liveness: the clip checks on real footage and
# EyeBlink8; attacks: spoof images and held-photo challenge sessions; replay: replayed videos
# and genuine customers through the kiosk's challenge (terminal.bench.face_replay).
SECTIONS = ("latency", "verification", "liveness", "attacks", "replay")


def sections_to_run(only: list[str], skip: list[str]) -> list[str]:
    """The sections ``--only`` asks for (all when none), minus ``--skip``."""
    return [s for s in SECTIONS if (not only or s in only) and s not in skip]


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def shared_dir(explicit: Path | None) -> Path:
    """The shared data folder: explicit, else $SCANPAY_SHARED, else ``<repo>/../shared``."""
    return shared_root(explicit)


def read_clip(path: Path, limit: int = 300) -> list[np.ndarray]:
    """The frames of a video (at most ``limit``; none when it cannot be decoded)."""
    from hardware.emulated.file_camera import read_video
    from hardware.errors import CameraError

    try:
        return read_video(path, limit=limit)[0]
    except CameraError:
        return []


def load_antispoof(shared: Path) -> Any:
    """Both MiniFASNet models (averaged, as upstream) or None when absent."""
    from vision.face.antispoof import AntiSpoofModel, AntiSpoofModelSpec

    specs = [AntiSpoofModelSpec(str(shared / "models" / n), sha, scale)
             for n, sha, scale in MINIFASNET]
    if not all(Path(s.path).is_file() for s in specs):
        return None
    return AntiSpoofModel.load(specs)


# --- latency -------------------------------------------------------------------------------

def bench_latency(faces: Path, antispoof: Any) -> dict[str, list[float]]:
    """Per-frame ms of each stage on the 640x480 EyeBlink8 frames."""
    from vision.face.embedding import Embedder
    from vision.face.liveness import ChallengePlan, LivenessSession
    from vision.face.quality import assess_quality
    from vision.face.tracker import FaceTracker

    clips = sorted((faces / "video" / "eyeblink8").glob("*.mp4"))
    frames = [f for c in clips[::4] for f in read_clip(c)]
    if not frames:
        return {}
    stages: dict[str, list[float]] = {"track": [], "quality": [], "liveness_update": [],
                                      "embed": [], "antispoof": []}
    embedder = Embedder()
    session = LivenessSession(ChallengePlan.random(random.Random(0)), clock=lambda: 0.0)
    with FaceTracker(mode="video") as tracker:
        tracker.process(frames[0], 0.0)  # warm-up: graph start-up is not per-frame cost
        embedder.embed(frames[0])
        for i, frame in enumerate(frames):
            t0 = time.perf_counter()
            obs = tracker.process(frame, i / 30)
            stages["track"].append((time.perf_counter() - t0) * 1000)
            if obs is None:
                continue
            t0 = time.perf_counter()
            assess_quality(obs, frame)
            stages["quality"].append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            session.update(obs)
            stages["liveness_update"].append((time.perf_counter() - t0) * 1000)
            if i % 4 == 0:
                t0 = time.perf_counter()
                embedder.embed(frame, obs)
                stages["embed"].append((time.perf_counter() - t0) * 1000)
                if antispoof is not None:
                    t0 = time.perf_counter()
                    antispoof.real_probability(frame, obs.box)
                    stages["antispoof"].append((time.perf_counter() - t0) * 1000)
    _say(f"latency: {len(frames)} frames")
    return {k: v for k, v in stages.items() if v}


# --- verification --------------------------------------------------------------------------

def read_pairs(faces: Path, limit: int) -> list[tuple[str, str, bool]]:
    """(file_a, file_b, same) rows of ``lfw_pairs.csv``; ``limit`` per class when > 0."""
    path = faces / "lfw_pairs.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [(r["file_a"], r["file_b"], r["same"] == "1") for r in csv.DictReader(fh)]
    if limit > 0:
        rows = ([r for r in rows if r[2]][:limit] + [r for r in rows if not r[2]][:limit])
    return rows


def embed_all(faces: Path, files: list[str], how: str) -> dict[str, np.ndarray | None]:
    """Embeddings of every file (None = no face), in memory only, with progress on stderr."""
    import cv2

    from vision.face.embedding import Embedder, NoFaceError, embed_still
    from vision.face.tracker import FaceTracker

    out: dict[str, np.ndarray | None] = {}
    embedder = Embedder()
    started = time.perf_counter()
    with FaceTracker(mode="image") as tracker:
        for k, name in enumerate(files, 1):
            image = cv2.imread(str(faces / name))
            try:
                if image is None:
                    raise NoFaceError(name)
                if how == "scanpay":
                    out[name] = embed_still(image, embedder, tracker)
                else:
                    out[name] = _face_recognition_baseline(image)
            except NoFaceError:
                out[name] = None
            if k % 100 == 0 or k == len(files):
                rate = k / (time.perf_counter() - started)
                _say(f"verification [{how}]: {k}/{len(files)} images "
                     f"({rate:.1f}/s, ~{(len(files) - k) / rate:.0f} s left)")
    return out


def _face_recognition_baseline(image: np.ndarray) -> np.ndarray:
    import face_recognition

    from vision.face.embedding import NoFaceError

    rgb = np.ascontiguousarray(image[:, :, ::-1])
    boxes = face_recognition.face_locations(rgb)
    if not boxes:
        raise NoFaceError("no face")
    box = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
    return np.asarray(face_recognition.face_encodings(rgb, [box])[0])


def pair_distances(rows: list[tuple[str, str, bool]], emb: dict[str, np.ndarray | None],
                   raw: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(genuine, impostor) distances; NaN where a face was missing."""
    from vision.face.embedding import distance

    g, i = [], []
    for a, b, same in rows:
        ea, eb = emb.get(a), emb.get(b)
        if ea is None or eb is None:
            d = float("nan")
        elif raw:  # face_recognition's own scale: Euclidean of raw descriptors
            d = float(np.linalg.norm(ea - eb))
        else:
            d = distance(ea, eb)
        (g if same else i).append(d)
    return np.array(g), np.array(i)


def verification_summary(genuine: np.ndarray, impostor: np.ndarray,
                         threshold: float | None) -> dict[str, Any]:
    """Rates at the payment threshold and at zero false accepts, and the EER."""
    from vision.face.metrics import equal_error_rate, rates_at, zero_fa_threshold

    t0 = zero_fa_threshold(impostor)
    at0 = rates_at(genuine, impostor, t0)
    eer, eer_t = equal_error_rate(genuine, impostor)
    out: dict[str, Any] = {
        "genuine_pairs": int(genuine.size), "impostor_pairs": int(impostor.size),
        "no_face_pairs": int(np.isnan(genuine).sum() + np.isnan(impostor).sum()),
        "zero_fa_threshold": round(t0, 4), "gar_at_zero_fa": round(at0.gar, 4),
        "eer": round(eer, 4), "eer_threshold": round(eer_t, 4),
    }
    out["table"] = [
        {"threshold": round(float(t), 3), "false_accepts": r.false_accepts,
         "gar": round(r.gar, 4)}
        for t in np.round(np.arange(0.30, 0.62, 0.02), 3)
        for r in [rates_at(genuine, impostor, float(t))]]
    if threshold is not None:
        r = rates_at(genuine, impostor, threshold)
        out.update(threshold=threshold, false_accepts=r.false_accepts,
                   gar_at_threshold=round(r.gar, 4), far_at_threshold=round(r.far, 5))
    return out


def all_pairs_fmr(emb: dict[str, np.ndarray | None], threshold: float) -> dict[str, Any]:
    """False matches among every pair of images of different people (identity = folder)."""
    names = [n for n, e in emb.items() if e is not None]
    if len(names) < 2:
        return {}
    ident = np.array([Path(n).parent.name for n in names])
    x = np.stack([emb[n] for n in names]).astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    d = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * (x @ x.T)))
    upper = np.triu(np.ones(d.shape, dtype=bool), k=1)
    impostor = d[upper & (ident[:, None] != ident[None, :])]
    out: dict[str, Any] = {"pairs": int(impostor.size),
                           "smallest_distance": round(float(impostor.min()), 4)}
    for t in sorted({threshold, 0.36, 0.38, 0.40}):
        n = int(np.sum(impostor <= t))
        out[f"false_matches_at_{t:g}"] = n
        out[f"fmr_at_{t:g}"] = float(n / impostor.size)
    return out


# --- liveness ------------------------------------------------------------------------------

def bench_liveness(faces: Path, antispoof: Any, limits: Any) -> dict[str, Any]:
    """The clip checks on the real blink / no-blink / head-turn footage, and on EyeBlink8."""
    from terminal.bench.face_liveness import bench_footage, manifest
    from vision.face.clip import analyse_frames
    from vision.face.tracker import FaceTracker

    result: dict[str, Any] = {}
    if manifest(faces / "video" / "blink") or manifest(faces / "video" / "head-turn"):
        result["footage"] = bench_footage(faces, limits)
    clips = sorted((faces / "video" / "eyeblink8").glob("*.mp4"))
    blink_scores, blink_pass, live = [], 0, 0
    per_clip: list[dict[str, Any]] = []
    for k, clip in enumerate(clips, 1):
        with FaceTracker(mode="video") as tracker:
            v = analyse_frames(read_clip(clip), tracker, fps=30.0, antispoof=antispoof,
                               limits=limits)
        b = v.checks.get("blink")
        blink_scores.append(b.score if b else 0.0)
        blink_pass += bool(b and b.passed)
        live += v.live
        per_clip.append({"clip": clip.stem, "blink_passed": bool(b and b.passed),
                         "blink_depth": round(b.score if b else 0.0, 3),
                         "relative_openness": openness_series(v.relative_openness)})
        if k % 8 == 0 or k == len(clips):
            _say(f"liveness: {k}/{len(clips)} EyeBlink8 clips")
    if clips:
        result["eyeblink8"] = {"clips": len(clips), "blink_passed": blink_pass, "live": live,
                               "blink_depths": [round(s, 3) for s in blink_scores],
                               "closed_ratio": limits.blink_closed_ratio,
                               "per_clip": per_clip}
    return result


def bench_attacks(faces: Path, antispoof: Any, seeds: int = 3) -> dict[str, Any]:
    """Verdicts on the spoof images, and held-photo attacks."""
    import cv2

    from vision.face.clip import analyse_frames
    from vision.face.tracker import FaceTracker

    result: dict[str, Any] = {}
    spoof_rows = []
    with (faces / "manifest.csv").open(encoding="utf-8", newline="") as fh:
        manifest = [r for r in csv.DictReader(fh) if r["file"].startswith("spoof/")]
    for row in manifest:
        image = cv2.imread(str(faces / row["file"]))
        if image is None:
            continue
        image = _fit(image)
        with FaceTracker(mode="image") as tracker:
            v = analyse_frames([image], tracker, antispoof=antispoof)
        m = v.checks.get("antispoof_model")
        spoof_rows.append({"file": row["file"], "kind": row["kind"], "live": v.live,
                           "antispoof_real": None if m is None else round(m.score, 3),
                           "antispoof_passed": None if m is None else m.passed})
    result["spoof_images"] = spoof_rows
    result["held_photo"] = held_photo_attacks(faces, antispoof, seeds)
    return result


def openness_series(values: tuple[float, ...] | list[float]) -> list[float | None]:
    """A per-frame openness series ready for JSON: 3 decimals, None for unjudged (NaN) frames."""
    return [None if np.isnan(x) else round(float(x), 3) for x in values]


def _fit(image: np.ndarray, side: int = 640) -> np.ndarray:
    import cv2

    scale = side / max(image.shape[:2])
    if scale >= 1:
        return image
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def held_photo_attacks(faces: Path, antispoof: Any, seeds: int) -> dict[str, Any]:
    """Genuine stills held up as a print or a phone screen: challenge sessions and clips."""
    from hardware.emulated.held_photo import HeldPhotoCamera
    from vision.face.clip import analyse_frames
    from vision.face.liveness import ChallengePlan, LivenessSession
    from vision.face.tracker import FaceTracker

    stills = sorted((faces / "deepface").rglob("*.jpg"))[::3] + sorted(
        (faces / "face_recognition").rglob("*.jpg"))[:4]
    sessions = passed = clip_live = 0
    parallax: list[float] = []
    for k, still in enumerate(stills, 1):
        for medium, framing in (("print", "whole"), ("screen", "whole"),
                                ("print", "close-up"), ("screen", "close-up")):
            photo = _close_up(still) if framing == "close-up" else str(still)
            if photo is None:
                continue
            for seed in range(seeds):
                clock = {"t": 0.0}
                cam = HeldPhotoCamera(photo, medium=medium, seed=seed, motion=2.0,
                                      limit=int(12 * FPS), clock=lambda c=clock: c["t"])
                frames = [f.image for f in cam]
                plan = ChallengePlan.random(random.Random(seed))
                session = LivenessSession(plan, clock=lambda c=clock: c["t"])
                status = None
                with FaceTracker(mode="video") as tracker:
                    for i, frame in enumerate(frames):
                        clock["t"] = i / FPS
                        status = session.update(tracker.process(frame, clock["t"]))
                        if status.done:
                            break
                sessions += 1
                passed += bool(status and status.state == "passed")
                with FaceTracker(mode="video") as tracker:
                    v = analyse_frames(frames[:60], tracker, fps=FPS, antispoof=antispoof)
                clip_live += v.live
                if "planar_motion" in v.checks:
                    parallax.append(round(v.checks["planar_motion"].score, 4))
        _say(f"liveness: held photo {k}/{len(stills)}")
    return {"stills": len(stills), "sessions": sessions, "sessions_passed": passed,
            "clips_live": clip_live, "parallax_scores": parallax}


def _close_up(still: Path) -> np.ndarray | None:
    """The still cropped to its face (x2.2), so the held photo shows a kiosk-sized face."""
    import cv2

    from vision.face.tracker import FaceTracker

    image = cv2.imread(str(still))
    if image is None:
        return None
    with FaceTracker(mode="image") as tracker:
        obs = tracker.process(image, 0.0)
    if obs is None:
        return None
    rows, cols = obs.box.scaled(2.2).slices(image.shape[1], image.shape[0])
    return image[rows, cols].copy()


# --- run -----------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> int:
    """Run the benchmark sections and write face.json plus plots."""
    from terminal.bench.face_plots import plot_all

    shared = shared_dir(args.shared)
    faces = shared / "data" / "faces"
    if not (faces / "lfw_pairs.csv").is_file():
        raise TerminalError(f"face data not found in {faces} (set --shared or SCANPAY_SHARED)")
    threshold = args.threshold
    if threshold is None:
        from terminal.config.schema import FaceSection

        threshold = FaceSection().payment_threshold
    sections = sections_to_run(args.only, args.skip)
    args.out.mkdir(parents=True, exist_ok=True)
    antispoof = (load_antispoof(shared) if set(sections) - {"verification", "replay"}
                 else None)
    report: dict[str, Any] = {"threshold": threshold, "sections": sections}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if "latency" in sections:
        stages = bench_latency(faces, antispoof)
        report["latency_ms"] = {k: {"median": round(float(np.median(v)), 2),
                                    "p95": round(float(np.percentile(v, 95)), 2),
                                    "n": len(v)} for k, v in stages.items()}
        report["_latency_raw"] = stages
    if "verification" in sections:
        rows = read_pairs(faces, args.pairs)
        files = sorted({r[0] for r in rows} | {r[1] for r in rows})
        methods = [("scanpay", False)] + ([("face_recognition", True)] if args.baseline else [])
        report["verification"] = {}
        for how, raw in methods:
            emb = embed_all(faces, files, how)
            g, i = pair_distances(rows, emb, raw=raw)
            t = threshold if how == "scanpay" else 0.6
            report["verification"][how] = verification_summary(g, i, t)
            if how == "scanpay":
                report["verification"][how]["all_impostor_pairs"] = all_pairs_fmr(emb, t)
            curves[how] = (g, i)
    if "liveness" in sections:
        from terminal.cli.face import clip_limits
        from terminal.config.schema import FaceSection

        report["liveness"] = bench_liveness(faces, antispoof, clip_limits(FaceSection()))
    if "attacks" in sections:
        report["attacks"] = bench_attacks(faces, antispoof)
    plots: list[Path] = []
    if "replay" in sections:
        from terminal.bench.face_replay import bench_replay, plot_replay, write_csv

        report["replay"] = bench_replay(faces, seeds=max(1, args.replay_seeds))
        if report["replay"]:
            plots += plot_replay(args.out, report["replay"])
            plots.append(write_csv(args.out / "replay_attempts.csv", report["replay"]))
    plots = plot_all(args.out, report, curves) + plots
    report.pop("_latency_raw", None)
    name = "face.json" if sections == list(SECTIONS) else f"face-{'-'.join(sections)}.json"
    (args.out / name).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print_report(report)
    for p in [*plots, args.out / name]:
        print(f"wrote {p}")
    return 0


def print_report(report: dict[str, Any]) -> None:
    """A readable summary of the numbers."""
    if "latency_ms" in report:
        print(f"{'stage (ms per 640x480 frame)':32s} {'median':>8s} {'p95':>8s} {'n':>6s}")
        for k, v in report["latency_ms"].items():
            print(f"{k:32s} {v['median']:8.2f} {v['p95']:8.2f} {v['n']:6d}")
    for how, v in report.get("verification", {}).items():
        print(f"\nverification [{how}]: {v['genuine_pairs']} genuine / {v['impostor_pairs']} "
              f"impostor pairs, {v['no_face_pairs']} with no usable face")
        print(f"  at threshold {v.get('threshold')}: {v.get('false_accepts')} false accepts, "
              f"{100 * v.get('gar_at_threshold', 0):.1f}% genuine accepted")
        print(f"  zero-FA threshold {v['zero_fa_threshold']}: "
              f"{100 * v['gar_at_zero_fa']:.1f}% genuine accepted; EER {100 * v['eer']:.2f}%")
        allp = v.get("all_impostor_pairs")
        if allp:
            print(f"  all {allp['pairs']} cross-identity image pairs: "
                  + ", ".join(f"{allp[k]} false matches at {k.rsplit('_', 1)[1]}"
                              for k in allp if k.startswith("false_matches_at_")))
    live = report.get("liveness", {})
    if "footage" in live:
        from terminal.bench.face_liveness import print_footage

        print_footage(live["footage"])
    if "eyeblink8" in live:
        e = live["eyeblink8"]
        print(f"\nEyeBlink8 (calibration windows, 46/48 without a blink): blink check passed "
              f"{e['blink_passed']}/{e['clips']}, live {e['live']}/{e['clips']}")
    attacks = report.get("attacks")
    if attacks:
        for r in attacks["spoof_images"]:
            print(f"  {r['kind']:8s} {r['file']:48s} live={r['live']} "
                  f"MiniFASNet P(real)={r['antispoof_real']}")
        h = attacks["held_photo"]
        print(f"held photo attacks: {h['sessions_passed']}/{h['sessions']} challenge sessions "
              f"passed, {h['clips_live']}/{h['sessions']} clips judged live")
    if report.get("replay"):
        from terminal.bench.face_replay import print_replay

        print_replay(report["replay"])
