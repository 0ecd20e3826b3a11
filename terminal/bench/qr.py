"""`scanpay bench qr`: every single QR engine and the cascade over the same frames, in one run.

Frame sets: the real photos of ``../shared/data/qr`` (when present), camera-like frames
rendered with ``hardware.emulated.scene`` (phone/sticker, tilt, blur, low light, glare,
moiré, dark mode, JPEG), and rendered frames holding no code. Per engine and set it reports
frames decoded, false decodes, median/p95/mean ms per frame, and the cascade against the best
single engine and the union of all single engines, and a PASS/MISS line per target of issue 3
(cascade vs zxing-cpp always timed in the same run). It writes ``qr.json`` and PNG plots:
decode rate per engine and set, decode rate per camera condition, time-per-frame histograms.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from terminal.errors import TerminalError
from terminal.shared_data import shared_root

logger = logging.getLogger(__name__)

SINGLE_ENGINES: tuple[str, ...] = ("zxing", "zbar", "wechat", "opencv")
CASCADE = "cascade"


@dataclass
class Sample:
    """One benchmark frame: gray image, accepted payload digests (empty = code-free), label."""

    name: str
    gray: np.ndarray
    expected: frozenset[str]
    family: str


@dataclass
class Tally:
    """Results of one engine on one frame set."""

    decoded: list[bool] = field(default_factory=list)
    false: int = 0
    ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        ms = np.array(self.ms) if self.ms else np.zeros(1)
        n = len(self.decoded)
        return {"frames": n, "decoded": int(sum(self.decoded)),
                "rate": float(sum(self.decoded)) / n if n else 0.0, "false": self.false,
                "median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)),
                "mean_ms": float(ms.mean())}


def register(sub: argparse._SubParsersAction) -> None:
    """Add `bench qr`."""
    from terminal.config.schema import ScanSection

    p = sub.add_parser("qr", help="QR engines vs the cascade: decode rate, false decodes, ms")
    p.add_argument("--camera", type=int, default=260, metavar="N",
                   help="rendered camera-like frames with a code (default 260)")
    p.add_argument("--empty", type=int, default=120, metavar="N",
                   help="rendered frames without a code (default 120)")
    p.add_argument("--seed", type=int, default=1, help="seed of the rendered frames")
    p.add_argument("--budget-ms", type=float, default=ScanSection().budget_ms,
                   help="cascade per-frame budget (default: the config default)")
    p.add_argument("--shared", type=Path, default=None,
                   help="shared data folder (default $SCANPAY_SHARED or ../shared)")
    p.add_argument("--out", type=Path, default=Path("bench-results/qr"),
                   help="folder for qr.json and the PNG plots")
    p.add_argument("--live", action="store_true",
                   help="instead: rendered 15-30 fps sequences of a phone coming into view, "
                        "time to the first decode for the live scanner vs zxing-cpp, on two "
                        "independent renderers (qr-live.json)")
    p.add_argument("--sequences", type=int, default=12, metavar="N",
                   help="with --live: sequences of each motion per renderer and seed "
                        "(default 12: 60 per renderer)")
    p.add_argument("--seeds", type=int, default=1, metavar="N",
                   help="with --live: run seeds --seed .. --seed+N-1 and report their spread "
                        "(default 1)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="with --live: seeds run in N processes at once (default 1)")
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                   help="with --live: time decodes (and keep their budget) on the process's "
                        "CPU time, so other load on the machine does not count, or on the wall "
                        "clock (default cpu)")
    p.set_defaults(handler=run)


def shared_dir(explicit: Path | None = None) -> Path:
    """The shared data folder: explicit, else $SCANPAY_SHARED, else ``<repo>/../shared``."""
    return shared_root(explicit)


def manifest_samples(shared: Path) -> list[Sample]:
    """The real photos listed in ``data/qr/manifest.csv`` (one sample per image)."""
    import cv2

    base = shared / "data" / "qr"
    manifest = base / "manifest.csv"
    if not manifest.is_file():
        return []
    expected: dict[str, set[str]] = {}
    folders: dict[str, str] = {}
    with manifest.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            expected.setdefault(row["file"], set()).add(row["expected_sha256"])
            folders[row["file"]] = row["source_folder"]
    samples = []
    for name, digests in expected.items():
        img = cv2.imread(str(base / name), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise TerminalError(f"cannot read benchmark image {base / name}")
        samples.append(Sample(name, img, frozenset(digests), folders[name]))
    return samples


def rendered_samples(count: int, seed: int, *, with_code: bool) -> list[Sample]:
    """Camera-like 640x480 frames from the scene renderer (deterministic for ``seed``)."""
    import cv2

    from hardware.emulated.scene import random_conditions, render_qr_scene

    rng = np.random.default_rng(seed if with_code else seed + 10_000)
    samples = []
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    for i in range(count):
        cond = random_conditions(rng)
        payload = None
        if with_code:
            tail = "".join(alphabet[int(k)] for k in rng.integers(0, 36, int(rng.integers(8, 80))))
            payload = f"SCANPAY:{seed}:{i:05d}:{tail}"
        frame = render_qr_scene(payload, cond, seed=seed * 100_003 + i + (0 if with_code else 7))
        digests = frozenset() if payload is None else frozenset(
            {hashlib.sha256(payload.encode()).hexdigest()})
        samples.append(Sample(f"{cond.name}#{i}", cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY),
                              digests, cond.name))
    return samples


def _digests(codes: Any) -> set[str]:
    out = set()
    for c in codes:
        out.add(hashlib.sha256(c.payload).hexdigest())
        if c.text is not None:
            out.add(hashlib.sha256(c.text.encode("utf-8")).hexdigest())
    return out


def evaluate(samples: list[Sample], budget_ms: float,
             progress: str = "") -> tuple[dict[str, Tally], dict[str, list[bool]]]:
    """Run every single engine and the cascade on ``samples``; return tallies and per-family."""
    from vision.qr.cascade import CascadeSettings, QrDecoder
    from vision.qr.engines import EngineSet

    engines = EngineSet()
    decoder = QrDecoder(CascadeSettings(budget_ms=budget_ms))
    tallies = {name: Tally() for name in (*SINGLE_ENGINES, CASCADE)}
    for k, s in enumerate(samples):
        for name in tallies:
            t0 = time.perf_counter()
            codes = decoder.decode(s.gray).codes if name == CASCADE else engines.run(name, s.gray)
            ms = (time.perf_counter() - t0) * 1000.0
            found = _digests(codes)
            ok = bool(found & s.expected)
            wrong = [c for c in codes if not (_digests([c]) & s.expected)]
            tally = tallies[name]
            tally.decoded.append(ok)
            tally.ms.append(ms)
            tally.false += len(wrong)
        if progress and (k % 20 == 0 or k == len(samples) - 1):
            print(f"\r{progress}: {k + 1}/{len(samples)}", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    engines.close()
    decoder.close()
    return tallies, {}


def _report_set(label: str, tallies: dict[str, Tally], has_codes: bool) -> dict[str, Any]:
    summary = {name: t.summary() for name, t in tallies.items()}
    print(f"\n{label}")
    print(f"  {'engine':10s} {'decoded':>13s} {'false':>6s} {'median ms':>10s} {'p95 ms':>8s}"
          f" {'mean ms':>8s}")
    for name, s in summary.items():
        dec = f"{s['decoded']}/{s['frames']} {100 * s['rate']:5.1f}%" if has_codes else "-"
        print(f"  {name:10s} {dec:>13s} {s['false']:6d} {s['median_ms']:10.2f}"
              f" {s['p95_ms']:8.2f} {s['mean_ms']:8.2f}")
    out: dict[str, Any] = {"engines": summary}
    if has_codes:
        singles = [np.array(tallies[n].decoded) for n in SINGLE_ENGINES]
        union = int(np.any(np.stack(singles), axis=0).sum())
        best = max(SINGLE_ENGINES, key=lambda n: summary[n]["decoded"])
        n = summary[CASCADE]["frames"]
        casc = summary[CASCADE]["decoded"]
        gain_pp = 100.0 * (casc - summary[best]["decoded"]) / n
        time_ratio = summary[CASCADE]["mean_ms"] / max(summary["zxing"]["mean_ms"], 1e-9)
        print(f"  cascade vs best single ({best}): {gain_pp:+.1f} pp; vs union of singles "
              f"({union}/{n}): {casc - union:+d} frames; mean time {time_ratio:.2f}x zxing")
        out.update(union=union, best_single=best, gain_pp=gain_pp, mean_time_vs_zxing=time_ratio)
    return out


def _targets(sets: dict[str, Any]) -> list[dict[str, Any]]:
    """Check the issue's targets on this run's numbers; print one PASS/MISS line each."""
    rows: list[dict[str, Any]] = []

    def check(name: str, ok: bool, measured: str) -> None:
        rows.append({"target": name, "pass": ok, "measured": measured})

    if "shared" in sets:
        sh = sets["shared"]
        casc = sh["engines"][CASCADE]["decoded"]
        check("real photos: cascade >= union of single engines", casc >= sh["union"],
              f"{casc} vs union {sh['union']} of {sh['engines'][CASCADE]['frames']}")
    if "camera" in sets:
        cam = sets["camera"]
        check("camera frames: >= +10 pp over the best single engine", cam["gain_pp"] >= 10.0,
              f"{cam['gain_pp']:+.1f} pp vs {cam['best_single']}")
        check("camera frames: mean time <= 5x zxing-cpp's (same run)",
              cam["mean_time_vs_zxing"] <= 5.0,
              f"{cam['mean_time_vs_zxing']:.2f}x ({cam['engines'][CASCADE]['mean_ms']:.2f} vs "
              f"{cam['engines']['zxing']['mean_ms']:.2f} ms)")
    if "empty" in sets:
        emp = sets["empty"]["engines"][CASCADE]
        check("code-free frames: zero false decodes", emp["false"] == 0,
              f"{emp['false']} false decodes in {emp['frames']} frames")
        check("code-free frames: median < 2 ms", emp["median_ms"] < 2.0,
              f"{emp['median_ms']:.2f} ms median "
              f"(zxing-cpp {sets['empty']['engines']['zxing']['median_ms']:.2f} ms)")
    print("\ntargets")
    for r in rows:
        print(f"  {'PASS' if r['pass'] else 'MISS'}  {r['target']}: {r['measured']}")
    return rows


def _family_plot(out: Path, fam: dict[str, dict[str, list[int]]]) -> Path:
    """Decode rate per camera condition and engine, as grouped bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = (*SINGLE_ENGINES, CASCADE)
    families = sorted(fam)
    fig, ax = plt.subplots(figsize=(12, 4.5))
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        rates = [100.0 * fam[f][n][0] / max(fam[f][n][1], 1) for f in families]
        ax.bar(np.arange(len(families)) + i * width, rates, width, label=n)
    ax.set_xticks(np.arange(len(families)) + width * (len(names) - 1) / 2, families,
                  rotation=30, ha="right")
    ax.set_ylabel("frames decoded (%)")
    ax.set_title("QR decode rate by camera condition")
    ax.legend(ncol=len(names), fontsize=8)
    fig.tight_layout()
    path = out / "decode_by_condition.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plots(out: Path, sets: dict[str, dict[str, Tally]]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    names = (*SINGLE_ENGINES, CASCADE)
    coded = {k: v for k, v in sets.items() if k != "empty"}
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(len(coded), 1)
    for i, (label, tallies) in enumerate(coded.items()):
        rates = [100 * tallies[n].summary()["rate"] for n in names]
        ax.bar(np.arange(len(names)) + i * width, rates, width, label=label)
    ax.set_xticks(np.arange(len(names)) + width * (len(coded) - 1) / 2, names)
    ax.set_ylabel("frames decoded (%)")
    ax.set_title("QR decode rate per engine")
    ax.legend()
    fig.tight_layout()
    paths.append(out / "decode_rate.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(sets), figsize=(4.5 * len(sets), 4), squeeze=False)
    for ax, (label, tallies) in zip(axes[0], sets.items(), strict=True):
        every = [ms for n in names for ms in tallies[n].ms]
        lo, hi = max(min(every, default=0.01), 0.01), max(max(every, default=1.0), 0.1)
        bins = np.geomspace(lo, hi * 1.01, 40)
        for n in ("zxing", "zbar", CASCADE):
            ax.hist(tallies[n].ms, bins=bins, histtype="step", label=n, linewidth=1.4)
        ax.set_xscale("log")
        ax.set_xlabel("ms per frame")
        ax.set_ylabel("frames")
        ax.set_title(f"time per frame: {label}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "time_per_frame.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and write its results."""
    if args.live:
        from terminal.bench.qr_live import run_live

        return run_live(args)
    if args.camera < 0 or args.empty < 0:
        raise TerminalError("--camera and --empty must not be negative")
    sets: dict[str, list[Sample]] = {}
    shared = manifest_samples(shared_dir(args.shared))
    if shared:
        sets["shared"] = shared
    else:
        print("shared QR photos not found (set SCANPAY_SHARED or --shared); skipping them",
              file=sys.stderr)
    print("rendering frames...", file=sys.stderr)
    if args.camera:
        sets["camera"] = rendered_samples(args.camera, args.seed, with_code=True)
    if args.empty:
        sets["empty"] = rendered_samples(args.empty, args.seed, with_code=False)
    results: dict[str, Any] = {"budget_ms": args.budget_ms, "seed": args.seed, "sets": {}}
    tallies: dict[str, dict[str, Tally]] = {}
    for label, samples in sets.items():
        tallies[label], _ = evaluate(samples, args.budget_ms, progress=label)
    for label, samples in sets.items():
        desc = {"shared": "real photos (../shared/data/qr)",
                "camera": "rendered camera frames with a code, 640x480",
                "empty": "rendered frames without a code, 640x480"}[label]
        results["sets"][label] = _report_set(f"{label}: {desc}, {len(samples)} frames",
                                             tallies[label], label != "empty")
    if "camera" in tallies:
        fam: dict[str, dict[str, list[int]]] = {}
        for i, s in enumerate(sets["camera"]):
            row = fam.setdefault(s.family, {n: [0, 0] for n in tallies["camera"]})
            for n, t in tallies["camera"].items():
                row[n][0] += int(t.decoded[i])
                row[n][1] += 1
        print("\ncamera frames per condition (decoded/frames): "
              + " ".join(f"{n}" for n in tallies["camera"]))
        for f, row in sorted(fam.items()):
            print(f"  {f:15s} " + " ".join(f"{row[n][0]:>3d}/{row[n][1]:<3d}" for n in row))
        results["camera_families"] = fam
    results["targets"] = _targets(results["sets"])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "qr.json").write_text(json.dumps(results, indent=2))
    plots = _plots(args.out, tallies)
    if "camera" in tallies:
        plots.append(_family_plot(args.out, results["camera_families"]))
    print(f"\nwrote {args.out / 'qr.json'} and {', '.join(str(p) for p in plots)}")
    return 0
