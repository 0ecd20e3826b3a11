"""PNG plots of `scanpay bench face`: verification error curves, ROC, latency histograms,
held-photo parallax, the real-footage blink and head-turn measurements and the EyeBlink8
eye-openness traces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plot_all(out: Path, report: dict[str, Any],
             curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[Path]:
    """Write every plot the report has data for; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    paths: list[Path] = []
    if curves:
        paths += _verification(out, curves, report.get("threshold"))
    if report.get("_latency_raw"):
        paths.append(_latency(out, report["_latency_raw"]))
    footage = report.get("liveness", {}).get("footage", {})
    if footage.get("blink", {}).get("per_clip") or footage.get("head_turn", {}).get("per_video"):
        paths.append(_footage(out, footage))
    blinks = report.get("liveness", {}).get("eyeblink8", {})
    if blinks.get("per_clip"):
        paths.append(_blink_traces(out, blinks["per_clip"], blinks["closed_ratio"]))
    held = report.get("attacks", {}).get("held_photo", {})
    if held.get("parallax_scores"):
        paths.append(_parallax(out, held["parallax_scores"]))
    return paths


def _verification(out: Path, curves: dict[str, tuple[np.ndarray, np.ndarray]],
                  threshold: float | None) -> list[Path]:
    import matplotlib.pyplot as plt

    from vision.face.metrics import error_curve

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, (g, i) in curves.items():
        c = error_curve(g, i)
        ax.plot(c["threshold"], 100 * c["far"], label=f"{name} FAR")
        ax.plot(c["threshold"], 100 * c["frr"], "--", label=f"{name} FRR")
    if threshold is not None:
        ax.axvline(threshold, color="k", lw=0.8, label=f"payment threshold {threshold}")
    ax.set_xlabel("distance threshold")
    ax.set_ylabel("%")
    ax.set_title("LFW dev pairs: false accepts / false rejects vs threshold")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    first = out / "verification_far_frr.png"
    fig.tight_layout()
    fig.savefig(first, dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, (g, i) in curves.items():
        c = error_curve(g, i, points=2001)
        ax.semilogx(np.maximum(c["far"], 1e-4), 100 * (1 - c["frr"]), label=name)
    ax.set_xlabel("false-accept rate (log; 1e-4 = none of the impostor pairs)")
    ax.set_ylabel("genuine accepted (%)")
    ax.set_title("ROC, LFW dev pairs")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    second = out / "verification_roc.png"
    fig.tight_layout()
    fig.savefig(second, dpi=110)
    plt.close(fig)
    return [first, second]


def _latency(out: Path, stages: dict[str, list[float]]) -> Path:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(stages), figsize=(3.2 * len(stages), 3.2))
    for ax, (name, values) in zip(np.atleast_1d(axes), stages.items(), strict=True):
        ax.hist(values, bins=30, color="tab:blue")
        ax.set_title(f"{name}\nmedian {np.median(values):.1f} ms", fontsize=9)
        ax.set_xlabel("ms")
    fig.suptitle("per-frame latency by stage (640x480)")
    fig.tight_layout()
    path = out / "latency_hist.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _parallax(out: Path, scores: list[float]) -> Path:
    import matplotlib.pyplot as plt

    from vision.face.passive import PARALLAX_MIN_RESIDUAL

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(scores, bins=30, color="tab:red", label="held photo / screen clips")
    ax.axvline(PARALLAX_MIN_RESIDUAL, color="k", lw=0.8, label="parallax limit")
    ax.set_xlabel("nose parallax / eye span")
    ax.legend()
    fig.tight_layout()
    path = out / "held_photo_parallax.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _blink_traces(out: Path, clips: list[dict[str, Any]], closed_ratio: float) -> Path:
    import matplotlib.pyplot as plt

    cols = 8
    rows = -(-len(clips) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.0 * cols, 1.45 * rows + 0.9),
                             sharex=True, sharey=True, squeeze=False)
    for ax in axes.flat[len(clips):]:
        ax.set_axis_off()
    for ax, clip in zip(axes.flat, clips, strict=False):
        series = np.array([np.nan if x is None else x for x in clip["relative_openness"]],
                          dtype=float)
        passed = clip["blink_passed"]
        ax.plot(np.arange(series.size), series, lw=0.7,
                color="tab:green" if passed else "tab:blue")
        ax.axhline(closed_ratio, color="tab:red", lw=0.7, ls="--")
        ax.set_title(f"{clip['clip']} {'PASS' if passed else 'fail'} "
                     f"(depth {clip['blink_depth']:.2f})", fontsize=7,
                     color="tab:green" if passed else "black")
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylim(0.0, 1.3)
    passed_n = sum(bool(c["blink_passed"]) for c in clips)
    fig.suptitle(f"EyeBlink8: eye openness per judged frame relative to the clip's own open "
                 f"level (the more open eye; 1 = usual). A blink needs a dip below the red line "
                 f"({closed_ratio:g}); {passed_n}/{len(clips)} clips pass", fontsize=9)
    fig.supxlabel("judged frame (30 fps; gaps: pose jumped, not judged)", fontsize=8)
    fig.tight_layout()
    path = out / "eyeblink8_openness.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _footage(out: Path, footage: dict[str, Any]) -> Path:
    """Lowest eye openness per real clip against the blink limit, and head-turn yaw."""
    import matplotlib.pyplot as plt

    limit = footage["limits"]["blink_closed_ratio"]
    turn_deg = footage["limits"]["turn_deg"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2),
                                      gridspec_kw={"width_ratios": [3, 2]})
    rng = np.random.default_rng(0)
    for x, (key, label, colour) in enumerate((("blink", "blink clips", "tab:green"),
                                              ("no_blink", "no-blink clips", "tab:blue"))):
        rows = footage[key]["per_clip"]
        values = np.array([r["lowest_openness"] for r in rows], dtype=float)
        low_fps = np.array([r["fps"] < 20 for r in rows], dtype=bool)
        jitter = x + rng.uniform(-0.18, 0.18, values.size)
        left.scatter(jitter[~low_fps], values[~low_fps], s=18, color=colour,
                     label=f"{label}, ~30 fps")
        left.scatter(jitter[low_fps], values[low_fps], s=22, color=colour, marker="^",
                     facecolors="none", label=f"{label}, 15-17 fps")
    left.axhline(limit, color="tab:red", ls="--", lw=0.9, label=f"blink limit {limit:g}")
    b, n = footage["blink"], footage["no_blink"]
    left.set_xticks([0, 1], [f"blink ({b['blink_seen']}/{b['clips']} seen)",
                             f"no-blink ({n['false_blinks']}/{n['clips']} false)"])
    left.set_ylabel("lowest eye openness / own open level")
    left.set_ylim(0.0, 1.1)
    left.set_title("blink check on the dev clips (below the line = blink)", fontsize=9)
    left.legend(fontsize=7, loc="lower right")
    left.grid(alpha=0.3)
    videos = footage["head_turn"]["per_video"]
    idx = np.arange(len(videos))
    right.bar(idx - 0.2, [v["max_yaw_left_deg"] for v in videos], 0.4, label="to the left")
    right.bar(idx + 0.2, [v["max_yaw_right_deg"] for v in videos], 0.4, label="to the right")
    right.axhline(turn_deg, color="tab:red", ls="--", lw=0.9, label=f"turn limit {turn_deg:g} deg")
    right.set_xticks(idx, [v["video"].removesuffix(".mp4") for v in videos], rotation=20,
                     fontsize=7)
    right.set_ylabel("largest yaw held 2 frames (deg from median pose)")
    t = footage["head_turn"]
    right.set_title(f"head-turn videos: {t['passed']}/{t['videos']} pass", fontsize=9)
    top = max([turn_deg] + [max(v["max_yaw_left_deg"], v["max_yaw_right_deg"]) for v in videos])
    right.set_ylim(0, top * 1.3)
    right.legend(fontsize=7, loc="upper center", ncol=3)
    right.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    path = out / "liveness_footage.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
