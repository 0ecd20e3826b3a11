"""`scanpay bench smile`: how long a Smile-to-Pay decision takes, face seen to verified.

A recorded clip of a person is replayed against the wall clock at its own frame rate, the way a
camera delivers frames: while the kiosk is busy, the frames it could not take are dropped.
Everything else is the kiosk's real path: MediaPipe tracking, quality gates, the probe
embeddings (in worker processes during the challenge, or after it with ``0`` workers), the
passive checks, and the digits rule, the 1:1 match and the charge against the reference back end
on loopback. The customer types the phone digits the moment they are asked (typing is the
customer's time, like answering a prompt; a regular asked for none skips it).

Two customers:

* ``scripted`` — the kiosk's real randomised two-step challenge (a head turn and a smile or
  blink), answered by :class:`~terminal.emulator.customer.ScriptedCustomer` acting on top of
  the recorded face after a human reaction time (0.4-0.7 s per prompt by default);
* ``swap`` — an attack on the scripted run: the enrolled customer's face for the first
  ``SWAP_AFTER_S`` (a photo held up), then another person's face answers the prompts; the
  identity-continuity check must refuse every attempt;
* ``clip`` — the emulator's clip-driven "blink" mode: the recording itself answers.

Each attempt's time is split at the state machine's transitions: face seen -> challenge answered
-> probe ready and digits asked -> digits typed -> matched. Writes ``smile.json`` and
``smile_latency.png`` into ``--out``. Needs the EyeBlink8 clips of the shared data.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from terminal.emulator.customer import ActingSensor, Responsiveness, ScriptedCustomer
from terminal.emulator.smile_demo import SWAP_AFTER_S, SWAP_CLIP
from terminal.errors import TerminalError

# Stages of one attempt, named by the transition that ends them.
STAGES: tuple[tuple[str, str], ...] = (
    ("challenge", "challenge_passed"),  # face seen -> the prompt answered
    ("probe_and_rule", "digits_needed"),  # probe embedding ready, candidates counted
    ("digits", "digits_entered"),  # the customer types (instant here)
    ("match", "matched"),  # 1:1 match at the back end
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add `bench smile`."""
    p = sub.add_parser("smile", help="Smile-to-Pay decision time (face seen to verified), "
                                     "real-time replay of a recorded clip")
    p.add_argument("--runs", type=int, default=10, metavar="N",
                   help="timed attempts per worker setting (default 10)")
    p.add_argument("--workers", default="0,1", metavar="LIST",
                   help="face.embed_workers settings to compare, comma-separated (default 0,1)")
    p.add_argument("--customer", action="append", default=None,
                   choices=["scripted", "swap", "clip"],
                   help="which customer to time (repeatable; default all three)")
    p.add_argument("--reaction", default="0.4,0.7", metavar="LOW,HIGH",
                   help="scripted customer's reaction time per prompt, seconds (default 0.4,0.7)")
    p.add_argument("--seed", type=int, default=1, help="seed of the prompts and reactions")
    p.add_argument("--clip", type=Path, default=None,
                   help="the paying customer's clip (default: the demo's EyeBlink8 clip)")
    p.add_argument("--enroll-clip", type=Path, default=None,
                   help="clip to enroll from (default: the demo's enrollment clip)")
    p.add_argument("--out", type=Path, default=Path("bench-results/smile"),
                   help="folder for smile.json and smile_latency.png")
    p.set_defaults(handler=run)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; print a summary; write JSON and a plot."""
    try:
        workers = [int(w) for w in str(args.workers).split(",") if w.strip()]
    except ValueError:
        _say(f"error: --workers must be comma-separated integers, got {args.workers!r}")
        return 2
    if not workers or any(not 0 <= w <= 8 for w in workers) or args.runs < 1:
        _say("error: --workers must list values 0..8 and --runs must be >= 1")
        return 2
    try:
        low, high = (float(x) for x in str(args.reaction).split(","))
        responsiveness = Responsiveness(reaction_s=(low, high))
    except (ValueError, TerminalError) as exc:
        _say(f"error: --reaction must be LOW,HIGH seconds with 0 <= LOW <= HIGH ({exc})")
        return 2
    try:
        report = measure(workers=workers, runs=args.runs, clip=args.clip,
                         enroll_clip=args.enroll_clip, say=_say,
                         customers=tuple(args.customer or ("scripted", "swap", "clip")),
                         responsiveness=responsiveness, seed=args.seed)
    except TerminalError as exc:
        _say(f"error: {exc}")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "smile.json").write_text(json.dumps(report, indent=2) + "\n")
    plot = plot_latency(args.out / "smile_latency.png", report)
    _print_summary(report)
    print(f"\nwrote {args.out / 'smile.json'} and {plot}")
    return 0


def measure(*, workers: list[int], runs: int, clip: Path | None = None,
            enroll_clip: Path | None = None,
            customers: tuple[str, ...] = ("scripted", "swap", "clip"),
            responsiveness: Responsiveness | None = None, seed: int = 1,
            say: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Enroll the demo customer once, then time ``runs`` attempts per customer and worker
    setting."""
    from dataclasses import replace

    from payments.clients.face import FaceClient
    from payments.clients.gateway import GatewayClient
    from terminal.config import default_config_path, load_config
    from terminal.config.schema import FaceSection
    from terminal.emulator import smile_demo
    from terminal.emulator.session import Emulator

    config = load_config(default_config_path("kiosk"))
    face = config.face or FaceSection()
    pay_clip = _clip(clip, smile_demo.PAY_CLIP)
    enroll_from = _clip(enroll_clip, smile_demo.ENROLL_CLIP)
    frames, fps = _load_clip(pay_clip)
    other = _load_clip(_clip(None, SWAP_CLIP))[0] if "swap" in customers else []
    responsiveness = responsiveness or Responsiveness()
    report: dict[str, Any] = {
        "clip": pay_clip.name, "clip_frames": len(frames), "clip_fps": fps,
        "mode": "real-time replay, digits typed instantly",
        "reaction_s": list(responsiveness.reaction_s), "seed": seed, "settings": {}}
    with tempfile.TemporaryDirectory(prefix="scanpay-bench-smile-") as tmp, \
            Emulator(config, state_dir=Path(tmp)) as emulator:
        settings = emulator.endpoints().gateway
        with FaceClient(settings) as faces, GatewayClient(settings) as gateway:
            enrolled = smile_demo.enroll_demo_customer(
                config, face, faces, enroll_from, lambda _m: None,
                payment_code=emulator.wallet_code(smile_demo.DEMO_SUBJECT))
            if not enrolled["enrolled"]:
                raise TerminalError(f"could not enroll from {enroll_from.name}: "
                                    f"{enrolled['reason']}")
            for who in customers:
                for n in workers:
                    setting = replace(face, embed_workers=n)
                    say(f"{who} customer, face.embed_workers = {n}: warming up, then {runs} "
                        "attempts")
                    run = _Run(config, setting, frames, fps, runs, who, responsiveness, seed,
                               swap_to=other)
                    report["settings"][f"{who}/{n}"] = run.attempts(faces, gateway, say)
    return report


class _Run:
    """Timed attempts of one customer kind at one worker setting."""

    def __init__(self, config: Any, face: Any, frames: list[np.ndarray], fps: float,
                 runs: int, customer: str, responsiveness: Responsiveness, seed: int, *,
                 swap_to: list[np.ndarray]) -> None:
        self.config, self.face, self.frames, self.fps = config, face, frames, fps
        self.runs, self.customer = runs, customer
        self.responsiveness, self.seed = responsiveness, seed
        self.swap_to = swap_to  # the other person's frames (the swap customer)

    def attempts(self, faces: Any, gateway: Any, say: Callable[[str], None]) -> dict[str, Any]:
        """Warm up, then run and split ``runs`` attempts."""
        from payments.money import Money
        from terminal.config.schema import SmileSection
        from terminal.emulator.smile_demo import type_demo_digits
        from terminal.kiosk.smile import Order, SmileToPay
        from terminal.kiosk.smile_states import SmileState

        smile = self.config.smile or SmileSection()
        clock = time.perf_counter
        sensor, acting = self._sensor(clock)
        flow = SmileToPay(sensor=sensor, faces=faces, gateway=gateway, face=self.face,
                          smile=smile, terminal_id=self.config.terminal.id, clock=clock)
        attempts: list[dict[str, Any]] = []
        fps = self.fps
        try:
            for i in range(self.runs + 1):  # attempt 0 warms up the graph and the connection
                mark = len(flow.machine.history)
                status = flow.start(Order(f"bench-{self.customer}-{self.face.embed_workers}-{i}",
                                          Money(500, smile.currency), "Bench drink"))
                start = clock()
                shown = taken = 0
                actions: list[str] = []
                while not status.done and clock() - start < 30.0:
                    index = int((clock() - start) * fps)
                    if index < shown:  # the next frame is not out yet: a camera would block
                        time.sleep(max(0.0, shown / fps - (clock() - start)))
                        continue
                    taken, shown = taken + 1, index + 1
                    if acting is not None:
                        acting.show(status.action, clock())
                    if status.action and (not actions or actions[-1] != status.action):
                        actions.append(status.action)
                    status = flow.on_frame(self._frame(index, clock() - start), clock())
                    if status.state is SmileState.DIGITS:
                        status = type_demo_digits(flow, status, lambda _m: None)
                if i == 0:
                    continue
                row = _split(flow.machine.history[mark:], status.state.value)
                continuity = status.liveness.get("checks", {}).get("identity_continuity", {})
                row.update(frames_taken=taken, frames_shown=shown, digits=status.digits_asked,
                           actions=actions, reasons=list(status.reason_codes),
                           continuity=continuity.get("score"))
                attempts.append(row)
                say(f"  attempt {i}: {row['outcome']}, decision "
                    + (f"{row['decision_s']:.3f} s" if row["decision_s"] is not None else "-")
                    + (f" ({', '.join(actions)})" if actions else "")
                    + f", {taken}/{shown} frames processed")
        finally:
            sensor.close()
        return {"customer": self.customer, "embed_workers": self.face.embed_workers,
                "attempts": attempts, "summary": _summary(attempts)}

    def _frame(self, index: int, elapsed: float) -> np.ndarray:
        if self.customer == "swap" and elapsed >= SWAP_AFTER_S:
            return self.swap_to[index % len(self.swap_to)]
        return self.frames[index % len(self.frames)]

    def _sensor(self, clock: Callable[[], float]) -> tuple[Any, ActingSensor | None]:
        import random

        from terminal.emulator.clip_liveness import ClipBlinkJudge
        from terminal.kiosk.face_sensor import VisionFaceSensor

        if self.customer == "clip":
            sensor = VisionFaceSensor(self.face, clock=clock, judge=ClipBlinkJudge.for_sensor)
            sensor.prepare()  # a kiosk does this at start-up, before its first customer
            return sensor, None
        inner = VisionFaceSensor(self.face, clock=clock, rng=random.Random(self.seed))
        inner.prepare()
        acting = ActingSensor(inner, ScriptedCustomer(self.responsiveness,
                                                      random.Random(self.seed + 1)))
        return acting, acting


def _split(history: list[Any], outcome: str) -> dict[str, Any]:
    """Stage durations of one attempt from its transitions (seconds)."""
    at: dict[str, float] = {}
    for step in history:
        at.setdefault(step.event.value, step.at)
    row: dict[str, Any] = {"outcome": outcome}
    t0 = at.get("face_appeared")
    prev = t0
    for name, event in STAGES:
        t = at.get(event)
        if name == "probe_and_rule" and t is None:
            t = at.get("no_digits_needed")  # a regular asked for no digits goes straight on
        if name == "digits" and t is None and prev is not None and "no_digits_needed" in at:
            t = prev
        row[f"{name}_s"] = None if t is None or prev is None else round(t - prev, 4)
        prev = t if t is not None else prev
    matched = at.get("matched")
    row["decision_s"] = None if matched is None or t0 is None else round(matched - t0, 4)
    return row


def _summary(attempts: list[dict[str, Any]]) -> dict[str, Any]:
    done = [a for a in attempts if a["decision_s"] is not None]
    out: dict[str, Any] = {"attempts": len(attempts), "verified": len(done),
                           "outcomes": dict(Counter(a["outcome"] for a in attempts))}
    scores = [a["continuity"] for a in attempts if a.get("continuity") is not None]
    if scores:
        out["continuity_max"] = round(float(max(scores)), 4)
        out["continuity_min"] = round(float(min(scores)), 4)
    for key in ["decision_s", *(f"{name}_s" for name, _ in STAGES)]:
        values = np.array([a[key] for a in done if a[key] is not None], dtype=float)
        if values.size:
            out[key] = {"median": round(float(np.median(values)), 4),
                        "p90": round(float(np.percentile(values, 90)), 4),
                        "max": round(float(values.max()), 4)}
    return out


def _print_summary(report: dict[str, Any]) -> None:
    print(f"Smile-to-Pay decision time ({report['mode']}; clip {report['clip']})")
    print(f"{'customer/workers':>17} {'verified':>9} {'decision med/p90 s':>19} {'challenge':>10} "
          f"{'probe+rule':>11} {'match':>7} {'continuity':>12}  outcomes")
    for n, data in report["settings"].items():
        s = data["summary"]

        def med(key: str, s: dict[str, Any] = s) -> str:
            return f"{s[key]['median']:.3f}" if key in s else "-"

        dec = (f"{s['decision_s']['median']:.3f}/{s['decision_s']['p90']:.3f}"
               if "decision_s" in s else "-")
        cont = (f"{s['continuity_min']:.2f}-{s['continuity_max']:.2f}"
                if "continuity_max" in s else "-")
        outcomes = ", ".join(f"{k} {v}" for k, v in s["outcomes"].items())
        print(f"{n:>17} {s['verified']:>4}/{s['attempts']:<4} {dec:>19} {med('challenge_s'):>10} "
              f"{med('probe_and_rule_s'):>11} {med('match_s'):>7} {cont:>12}  {outcomes}")


def plot_latency(path: Path, report: dict[str, Any]) -> Path:
    """Stacked bars of each attempt's stages, one group per customer and worker setting;
    attempts that were not charged are hatched, with the group's outcome counts above it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(report["settings"].values())
    bars = sum(len(g["attempts"]) + 1 for g in groups)
    fig, ax = plt.subplots(figsize=(max(8.0, 0.12 * bars + 2), 4.8))
    colours = {"challenge": "#4c72b0", "probe_and_rule": "#dd8452", "digits": "#aaaaaa",
               "match": "#55a868"}
    x = 0
    ticks, labels, labelled = [], [], set()
    top = 0.0
    for data in groups:
        first = x
        group_top = 0.0
        for a in data["attempts"]:
            bottom = 0.0
            refused = a["outcome"] != "charged"
            for name, _ in STAGES:
                v = a.get(f"{name}_s") or 0.0
                label = name.replace("_", " ")
                if refused:
                    label = "until refused"
                ax.bar(x, v, bottom=bottom, color="#c44e52" if refused else colours[name],
                       hatch="//" if refused else None, edgecolor="white", linewidth=0.3,
                       label=label if label not in labelled and v > 0 else None)
                if v > 0:
                    labelled.add(label)
                bottom += v
            top = max(top, bottom)
            group_top = max(group_top, bottom)
            x += 1
        ticks.append((first + x - 1) / 2)
        labels.append(f"{data['customer']}\nworkers={data['embed_workers']}")
        outcomes = data["summary"].get("outcomes", {})
        ax.text((first + x - 1) / 2, group_top + 0.03,
                "\n".join(f"{v} {k}" for k, v in outcomes.items()),
                ha="center", va="bottom", fontsize=7)
        x += 1
    ax.axhline(2.0, color="k", lw=0.8, ls="--", label="2 s target")
    ax.set_xticks(ticks, labels, fontsize=8)
    ax.set_ylim(0, max(2.4, top * 1.15))
    ax.set_ylabel("seconds from face seen")
    ax.set_title("Smile to Pay, face seen to verified (real-time replay; scripted customer "
                 f"reacts in {report['reaction_s'][0]:g}-{report['reaction_s'][1]:g} s)",
                 fontsize=9)
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _clip(given: Path | None, default: str) -> Path:
    from terminal.emulator.smile_demo import shared_faces_dir

    path = Path(given) if given is not None else shared_faces_dir() / default
    if not path.is_file():
        raise TerminalError(f"clip not found: {path}"
                            + ("" if given else " (set SCANPAY_SHARED or pass --clip)"))
    return path


def _load_clip(path: Path) -> tuple[list[np.ndarray], float]:
    """All frames of the clip (short clips: seconds) and its frame rate."""
    from hardware.emulated.file_camera import read_video
    from hardware.errors import CameraError

    try:
        frames, fps = read_video(path)
    except CameraError as exc:
        raise TerminalError(f"cannot read {path}: {exc}") from exc
    return frames, fps or 30.0
