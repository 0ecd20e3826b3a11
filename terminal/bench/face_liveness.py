"""`scanpay bench face --only liveness`: the clip checks measured on real, verified footage.

Data: ``<shared>/data/faces/video/{blink,no-blink,head-turn}`` with their ``manifest.csv``
(clips with one verified blink each, clips with open eyes throughout, people turning their
heads). Every clip goes through ``vision.face.clip.analyse_frames`` at its own frame rate with
the configured limits; the numbers are what each check observed, the targets say whether the
limits hold on this footage, and ``derived`` re-derives the blink limit from it.
"""

from __future__ import annotations

import csv
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Targets of the liveness-on-real-footage work (issue targets, checked on the dev clips).
MIN_BLINK_RATE = 0.95
MAX_FALSE_BLINKS = 0


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def manifest(folder: Path) -> list[dict[str, str]]:
    """The rows of ``folder/manifest.csv`` whose file exists (none when it is absent)."""
    path = folder / "manifest.csv"
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as fh:
        return [r for r in csv.DictReader(fh) if (folder / r["file"]).is_file()]


def _analyse(path: Path, limits: Any) -> tuple[Any, float]:
    from hardware.emulated.file_camera import read_video
    from hardware.errors import CameraError
    from vision.face.clip import analyse_frames
    from vision.face.tracker import FaceTracker

    try:
        frames, fps = read_video(path, limit=2000)
    except CameraError:
        frames, fps = [], 0.0
    fps = fps or 30.0
    with FaceTracker(mode="video") as tracker:
        return analyse_frames(frames, tracker, fps=fps, limits=limits), fps


def _observed(verdict: Any, name: str) -> dict[str, Any]:
    check = verdict.checks.get(name)
    return dict(check.observed) if check is not None else {}


def _clip_rows(folder: Path, limits: Any, label: str) -> list[dict[str, Any]]:
    from terminal.bench.face import openness_series

    rows = []
    entries = manifest(folder)
    for k, entry in enumerate(entries, 1):
        verdict, fps = _analyse(folder / entry["file"], limits)
        blink = _observed(verdict, "blink")
        rows.append({
            "clip": entry["file"], "fps": round(fps, 2), "frames": verdict.frames,
            "face_frames": verdict.face_frames,
            "blink_seen": bool(verdict.checks.get("blink") and verdict.checks["blink"].passed),
            "blink_count": blink.get("count", 0),
            "lowest_openness": round(float(blink.get("lowest_openness", 1.0)), 3),
            "depth": round(float(blink.get("depth", 0.0)), 3),
            "manifest_ear_min_ratio": entry.get("ear_min_ratio") or None,
            "relative_openness": openness_series(verdict.relative_openness)})
        if k % 10 == 0 or k == len(entries):
            _say(f"liveness: {k}/{len(entries)} {label} clips")
    return rows


def _turn_rows(folder: Path, limits: Any) -> list[dict[str, Any]]:
    rows = []
    for entry in manifest(folder):
        verdict, fps = _analyse(folder / entry["file"], limits)
        turn = verdict.checks.get("head_turn")
        seen = _observed(verdict, "head_turn")
        rows.append({
            "video": entry["file"], "fps": round(fps, 2), "frames": verdict.frames,
            "size": f"{entry.get('width', '?')}x{entry.get('height', '?')}",
            "turn_passed": bool(turn and turn.passed),
            "max_yaw_left_deg": round(float(seen.get("max_yaw_left_deg", 0.0)), 1),
            "max_yaw_right_deg": round(float(seen.get("max_yaw_right_deg", 0.0)), 1),
            "planar_motion": round(float(verdict.checks["planar_motion"].score), 4)
            if "planar_motion" in verdict.checks else None,
            "manifest_yaw_deg_approx": [entry.get("yaw_deg_approx_image_left"),
                                        entry.get("yaw_deg_approx_image_right")]})
        _say(f"liveness: head-turn {entry['file']}")
    return rows


def derive_blink_limit(blink_lowest: list[float], no_blink_lowest: list[float]
                       ) -> dict[str, Any]:
    """The closed-eye limit halfway between the shallowest blink and the deepest no-blink dip,
    or None when the two overlap (no limit separates them)."""
    if not blink_lowest or not no_blink_lowest:
        return {"closed_ratio": None, "margin": None}
    shallowest, deepest = max(blink_lowest), min(no_blink_lowest)
    if shallowest >= deepest:
        return {"closed_ratio": None, "margin": round(deepest - shallowest, 3)}
    return {"closed_ratio": round((shallowest + deepest) / 2, 3),
            "margin": round(deepest - shallowest, 3),
            "shallowest_blink": shallowest, "deepest_no_blink": deepest}


def bench_footage(faces: Path, limits: Any) -> dict[str, Any]:
    """Blink, no-blink and head-turn clips through the clip checks; numbers and targets."""
    video = faces / "video"
    blink = _clip_rows(video / "blink", limits, "blink")
    no_blink = _clip_rows(video / "no-blink", limits, "no-blink")
    turns = _turn_rows(video / "head-turn", limits)
    seen = sum(r["blink_seen"] for r in blink)
    false = sum(r["blink_seen"] for r in no_blink)
    turned = sum(r["turn_passed"] for r in turns)
    rate = seen / len(blink) if blink else 0.0
    return {
        "limits": {"blink_closed_ratio": limits.blink_closed_ratio, "turn_deg": limits.turn_deg,
                   "turn_frames": limits.turn_frames},
        "blink": {"clips": len(blink), "blink_seen": seen, "rate": round(rate, 3),
                  "per_clip": blink},
        "no_blink": {"clips": len(no_blink), "false_blinks": false, "per_clip": no_blink},
        "head_turn": {"videos": len(turns), "passed": turned, "per_video": turns},
        "derived": derive_blink_limit([r["lowest_openness"] for r in blink],
                                      [r["lowest_openness"] for r in no_blink]),
        "targets": {
            "blink_rate": "PASS" if blink and rate >= MIN_BLINK_RATE else "MISS",
            "no_false_blinks": "PASS" if no_blink and false <= MAX_FALSE_BLINKS else "MISS",
            "all_turns": "PASS" if turns and turned == len(turns) else "MISS"},
    }


def print_footage(footage: dict[str, Any]) -> None:
    """A readable summary of the real-footage section."""
    b, n, t = footage["blink"], footage["no_blink"], footage["head_turn"]
    lim, tg = footage["limits"], footage["targets"]
    print(f"\nreal footage (blink limit {lim['blink_closed_ratio']}, turn {lim['turn_deg']} deg):")
    print(f"  blink clips with a blink seen  {b['blink_seen']:3d}/{b['clips']:<3d} "
          f"({100 * b['rate']:.1f}%)  target >= {100 * MIN_BLINK_RATE:.0f}%  {tg['blink_rate']}")
    print(f"  no-blink clips showing a blink {n['false_blinks']:3d}/{n['clips']:<3d}"
          f"          target 0      {tg['no_false_blinks']}")
    print(f"  head-turn videos passing turn  {t['passed']:3d}/{t['videos']:<3d}"
          f"          target all    {tg['all_turns']}")
    for r in t["per_video"]:
        print(f"    {r['video']:24s} {r['size']:>9s} yaw left {r['max_yaw_left_deg']:5.1f} deg, "
              f"right {r['max_yaw_right_deg']:5.1f} deg, parallax {r['planar_motion']}  "
              f"{'PASS' if r['turn_passed'] else 'MISS'}")
    d = footage["derived"]
    if d.get("closed_ratio") is not None:
        print(f"  blink limit re-derived from these clips: {d['closed_ratio']} (shallowest blink "
              f"{d['shallowest_blink']}, deepest no-blink {d['deepest_no_blink']})")
    else:
        print("  no blink limit separates these blink and no-blink clips")
