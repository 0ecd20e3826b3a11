"""`scanpay bench kiosk`: the kiosk screen as a customer meets it, in a real headless Chromium.

Three figures, each measured through the page the kiosk serves (Debian's ``chromium`` driven by
Playwright, never a downloaded browser):

* **page to usable** — from navigation start to the attract screen's button on screen, and to
  the menu after the customer's two taps (start, eat in);
* **tap to screen** — from a tap to the pushed screen painted (a MutationObserver on the screen
  and the next animation frame, timed inside the page), over taps that change the screen:
  categories, option choices, opening and closing an item;
* **face seen to paid** (needs a face clip) — a recorded customer answers the kiosk's real
  randomised prompts (the emulator's scripted customer acting over the clip) and types the
  last phone digits on the on-screen keypad; the time is the flow's own face-seen-to-verified
  plus verified-to-"paid"-painted-on-the-page.

Writes ``kiosk.json``, ``tap_latency.png`` and ``face_to_paid.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from terminal.errors import TerminalError

_TAP_JS = """
(selector) => new Promise((resolve, reject) => {
  const screen = document.getElementById("screen");
  const target = document.querySelector(selector);
  if (!target) { reject(new Error("no " + selector)); return; }
  const observer = new MutationObserver(() => {
    observer.disconnect();
    requestAnimationFrame(() => resolve(performance.now() - start));
  });
  observer.observe(screen, { childList: true });
  const start = performance.now();
  target.click();
})
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add `bench kiosk`."""
    p = sub.add_parser("kiosk", help="kiosk screen: page to usable, tap to screen, face seen "
                                     "to paid, in a real headless Chromium")
    p.add_argument("--taps", type=int, default=40, metavar="N",
                   help="timed taps (default 40)")
    p.add_argument("--loads", type=int, default=5, metavar="N",
                   help="timed page loads (default 5)")
    p.add_argument("--runs", type=int, default=5, metavar="N",
                   help="timed face payments through the page (default 5; 0 skips them)")
    p.add_argument("--clip", type=Path, default=None,
                   help="the paying customer's clip (default: the demo's EyeBlink8 clip)")
    p.add_argument("--out", type=Path, default=Path("bench-results/kiosk"),
                   help="folder for kiosk.json and the plots")
    p.set_defaults(handler=run)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; print a summary; write JSON and plots."""
    if args.taps < 1 or args.loads < 1 or args.runs < 0:
        _say("error: --taps and --loads must be >= 1 and --runs >= 0")
        return 2
    try:
        report = measure(taps=args.taps, loads=args.loads, runs=args.runs, clip=args.clip,
                         say=_say)
    except TerminalError as exc:
        _say(f"error: {exc}")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "kiosk.json").write_text(json.dumps(report, indent=2) + "\n")
    plots = plot(args.out, report)
    _print(report)
    print(f"\nwrote {args.out / 'kiosk.json'} and {', '.join(str(p) for p in plots)}")
    return 0


def chromium_path() -> str:
    """Debian's Chromium, or a clear error."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise TerminalError("bench kiosk needs Debian's chromium (sudo apt install chromium, "
                            "or scripts/setup.sh --dev)")
    return found


def measure(*, taps: int, loads: int, runs: int, clip: Path | None,
            say: Callable[[str], None]) -> dict[str, Any]:
    """All three figures against a kiosk on the emulator."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise TerminalError("bench kiosk needs Playwright (scripts/setup.sh --dev installs "
                            "it)") from None
    from dataclasses import replace

    from hardware.emulated.switchable_camera import SwitchableCamera
    from terminal.config import default_config_path, load_config
    from terminal.emulator.session import Emulator
    from terminal.emulator.smile_demo import ENROLL_CLIP, PAY_CLIP, shared_faces_dir
    from terminal.kiosk.app import KioskApp

    config = load_config(default_config_path("kiosk"))
    pay_clip = clip or shared_faces_dir() / PAY_CLIP
    enroll_clip = clip or shared_faces_dir() / ENROLL_CLIP
    face = runs > 0 and pay_clip.is_file() and enroll_clip.is_file()
    if runs > 0 and not face:
        say(f"face runs skipped: no clip at {pay_clip} (pass --clip or set SCANPAY_SHARED)")
    if not face:
        config = replace(config, face=None)
    report: dict[str, Any] = {"chromium": chromium_path()}
    with tempfile.TemporaryDirectory(prefix="scanpay-bench-kiosk-") as tmp, \
            Emulator(config, state_dir=Path(tmp)) as emulator, sync_playwright() as pw:
        camera = SwitchableCamera(size=(640, 480), fps=config.camera.fps)
        verified: list[tuple[float, float]] = []  # (perf_counter at the event, decision_s)

        def on_event(event: Any) -> None:
            if event.type == "face.verified":
                verified.append((time.perf_counter(),
                                 event.attributes["decision_ms"] / 1000.0))

        from terminal.emulator.kiosk_order_demo import _acting_sensor

        with KioskApp(config, emulator.endpoints(), state_dir=Path(tmp) / "kiosk",
                      camera=camera, port=0, on_event=on_event,
                      sensor_factory=_acting_sensor if face else None) as app:
            browser = pw.chromium.launch(executable_path=report["chromium"], headless=True,
                                         args=["--no-sandbox", "--disable-dev-shm-usage"])
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 800},
                                        has_touch=True)
                say(f"page loads: {loads}")
                report["load"] = _loads(page, app, loads)
                say(f"taps: {taps}")
                report["taps"] = _taps(page, app, taps)
                if face:
                    say(f"face payments through the page: {runs}")
                    report["face"] = _face_runs(page, app, emulator, camera, config,
                                                enroll_clip, pay_clip, runs, verified, say)
            finally:
                browser.close()
    return report


def _reset(app: Any) -> None:
    flow = app.flow
    if flow.state.value == "paid":
        flow.act("finish")
    elif flow.state.value == "paying":
        flow.act("cancel_payment")
        flow.act("cancel")
    elif flow.state.value != "attract":
        flow.act("cancel")


def _loads(page: Any, app: Any, loads: int) -> dict[str, Any]:
    usable, menu = [], []
    for _ in range(loads):
        _reset(app)
        page.goto(app.url + "/")
        page.wait_for_selector("[data-state=attract] [data-action=start]")
        usable.append(page.evaluate("performance.now()"))
        page.click("[data-action=start]")
        page.wait_for_selector("[data-state=dining]")
        page.click("[data-mode=eat_in]")
        page.wait_for_selector("[data-state=menu] .item-card")
        menu.append(page.evaluate("performance.now()"))
    return {"attract_usable_ms": _stats(usable), "menu_usable_ms": _stats(menu)}


def _taps(page: Any, app: Any, taps: int) -> dict[str, Any]:
    _reset(app)
    page.goto(app.url + "/")
    page.wait_for_selector("[data-state=attract]")
    page.click("[data-action=start]")
    page.wait_for_selector("[data-state=dining]")
    page.click("[data-mode=eat_in]")
    page.wait_for_selector("[data-state=menu]")
    catalogue = app.flow.catalogue
    categories = [c.id for c in catalogue.categories]
    meal = next(i for i in catalogue.items if i.combo and app.flow.is_available(i))
    samples: list[float] = []
    kinds: dict[str, list[float]] = {"category": [], "open_item": [], "option": [],
                                     "close_item": []}
    i = 0
    while len(samples) < taps:
        category = categories[i % len(categories)]
        if i % 4 == 3:
            ms: float | None = None
            if page.get_attribute(f"[data-action=category][data-id='{meal.category}']",
                                  "aria-pressed") != "true":
                ms = page.evaluate(_TAP_JS,
                                   f"[data-action=category][data-id='{meal.category}']")
                page.wait_for_selector(f"[data-action=category][data-id='{meal.category}']"
                                       "[aria-pressed=true]")
            ms2 = page.evaluate(_TAP_JS, f"[data-action=open_item][data-id='{meal.id}']")
            page.wait_for_selector("[data-state=item]")
            kinds["open_item"].append(ms2)
            option = page.query_selector_all("[data-action=toggle_option]")[-1]
            selector = (f"[data-action=toggle_option][data-group='"
                        f"{option.get_attribute('data-group')}'][data-option='"
                        f"{option.get_attribute('data-option')}']")
            ms3 = page.evaluate(_TAP_JS, selector)
            kinds["option"].append(ms3)
            ms4 = page.evaluate(_TAP_JS, "[data-action=close_item]")
            page.wait_for_selector("[data-state=menu]")
            kinds["close_item"].append(ms4)
            if ms is not None:
                kinds["category"].append(ms)
                samples.append(ms)
            samples += [ms2, ms3, ms4]
        else:
            current = page.query_selector("[data-action=category][aria-pressed=true]")
            if current is not None and current.get_attribute("data-id") == category:
                i += 1
                continue
            ms = page.evaluate(_TAP_JS, f"[data-action=category][data-id='{category}']")
            kinds["category"].append(ms)
            samples.append(ms)
        i += 1
    return {"all_ms": _stats(samples), "samples_ms": [round(s, 2) for s in samples],
            "by_kind_ms": {k: _stats(v) for k, v in kinds.items() if v}}


def _face_runs(page: Any, app: Any, emulator: Any, camera: Any, config: Any, enroll_clip: Path,
               pay_clip: Path, runs: int, verified: list[tuple[float, float]],
               say: Callable[[str], None]) -> dict[str, Any]:
    from payments.clients.face import FaceClient
    from terminal.emulator.smile_demo import DEMO_PHONE, DEMO_SUBJECT, enroll_demo_customer

    with FaceClient(emulator.endpoints().gateway) as faces:
        enrolled = enroll_demo_customer(config, config.face, faces, enroll_clip,
                                        lambda line: None,
                                        payment_code=emulator.wallet_code(DEMO_SUBJECT))
    if not enrolled["enrolled"]:
        raise TerminalError(f"the bench customer could not be enrolled: {enrolled['reason']}")
    results: list[dict[str, Any]] = []
    for n in range(runs):
        _reset(app)
        camera.show_nothing()
        page.goto(app.url + "/")
        page.click("[data-state=attract] [data-action=start]")
        page.click("[data-mode=eat_in]")
        meal = next(i for i in app.flow.catalogue.items if i.combo and app.flow.is_available(i)
                    and all(g.max == 1 for g in app.flow.catalogue.groups_of(i)))
        page.click(f"[data-action=category][data-id='{meal.category}']")
        page.click(f"[data-action=open_item][data-id='{meal.id}']")
        page.click("[data-action=add_item]")
        page.wait_for_selector("[data-state=menu]")
        page.click("[data-action=open_cart]")
        page.click("[data-action=checkout]")
        page.wait_for_selector("[data-state=pay_choice]")
        before = len(verified)
        camera.show_clip(pay_clip, label="bench customer")
        page.click("[data-method=face]")
        outcome, typing = _answer_on_page(page, app, DEMO_PHONE)
        painted = time.perf_counter()
        camera.show_nothing()
        if outcome == "paid" and len(verified) > before:
            at, decision = verified[-1]
            total = decision + (painted - at)
            results.append({"outcome": "paid", "face_seen_to_verified_s": round(decision, 3),
                            "typing_s": round(typing, 3),
                            "verified_to_painted_s": round(painted - at, 3),
                            "face_seen_to_paid_s": round(total, 3),
                            "without_typing_s": round(total - typing, 3)})
            say(f"  run {n + 1}: paid, face seen to paid on screen {total:.2f} s "
                f"({typing:.2f} s of it typing the digits)")
        else:
            reasons = [r["code"] for r in (app.flow.snapshot().get("failure") or {})
                       .get("reasons", [])]
            results.append({"outcome": outcome, "reasons": reasons})
            say(f"  run {n + 1}: {outcome} ({', '.join(reasons) or 'no reason'})")
    paid = [r for r in results if r["outcome"] == "paid"]
    return {"runs": results, "paid": len(paid),
            "face_seen_to_paid_s": _stats([r["face_seen_to_paid_s"] for r in paid]),
            "without_typing_s": _stats([r["without_typing_s"] for r in paid]),
            "clip": pay_clip.name}


def _answer_on_page(page: Any, app: Any, phone: str) -> tuple[str, float]:
    """Type the digits on the keypad when asked; wait for the paid or failed screen.

    Returns the outcome and the seconds spent typing (the customer's time, like answering a
    prompt: from the keypad on screen to the OK tap sent)."""
    deadline = time.monotonic() + 60.0
    wake = threading.Event()
    typing = 0.0
    while time.monotonic() < deadline:
        state = page.get_attribute("#screen > .screen", "data-state")
        if state in ("paid", "failed"):
            return str(state), typing
        keypad = page.query_selector("[data-action=submit_digits]")
        if keypad is not None:
            started = time.perf_counter()
            asked = (app.flow.snapshot().get("pay") or {}).get("digits_asked")
            for digit in (phone[-4:] if asked == "last4" else phone):
                page.click(f"[data-action=key][data-digit='{digit}']")
            page.click("[data-action=submit_digits]")
            typing += time.perf_counter() - started
            page.wait_for_selector("[data-state=paid], [data-state=failed]", timeout=30_000)
            continue
        wake.wait(0.01)
    return "timed_out", typing


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"n": len(values), "median": round(statistics.median(values), 2),
            "p95": round(p95, 2), "max": round(max(values), 2),
            "mean": round(statistics.fmean(values), 2)}


def _print(report: dict[str, Any]) -> None:
    load, taps = report["load"], report["taps"]
    print("Kiosk screen in headless Chromium (landscape 1280x800)")
    print(f"  page to attract usable   median {load['attract_usable_ms']['median']:.0f} ms, "
          f"max {load['attract_usable_ms']['max']:.0f} ms (target 1000 ms to the menu)")
    print(f"  page to menu (2 taps)    median {load['menu_usable_ms']['median']:.0f} ms, "
          f"max {load['menu_usable_ms']['max']:.0f} ms")
    t = taps["all_ms"]
    print(f"  tap to screen painted    median {t['median']:.1f} ms, p95 {t['p95']:.1f} ms, "
          f"max {t['max']:.1f} ms over {t['n']} taps (target 100 ms)")
    for kind, s in taps["by_kind_ms"].items():
        print(f"    {kind:<12} median {s['median']:.1f} ms, p95 {s['p95']:.1f} ms (n={s['n']})")
    face = report.get("face")
    if face:
        f = face["face_seen_to_paid_s"]
        if f.get("n"):
            w = face["without_typing_s"]
            print(f"  face seen to paid        {face['paid']}/{len(face['runs'])} paid, median "
                  f"{f['median']:.2f} s, max {f['max']:.2f} s; without the customer's typing "
                  f"median {w['median']:.2f} s, max {w['max']:.2f} s (target 2 s)")
        else:
            print(f"  face seen to paid        0/{len(face['runs'])} paid")


def plot(out: Path, report: dict[str, Any]) -> list[Path]:
    """A histogram of tap latencies and bars of face-seen-to-paid times."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    samples = report["taps"]["samples_ms"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(samples, bins=min(30, max(5, len(samples) // 2)), color="#4c72b0")
    ax.axvline(100, color="k", ls="--", lw=0.8, label="100 ms target")
    ax.set_xlabel("tap to screen painted (ms)")
    ax.set_ylabel("taps")
    ax.set_title("Kiosk taps in headless Chromium (server push, loopback)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / "tap_latency.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(path)
    face = report.get("face")
    if face and face["runs"]:
        fig, ax = plt.subplots(figsize=(8, 4.6))
        for i, run in enumerate(face["runs"]):
            if run["outcome"] == "paid":
                kiosk = run["face_seen_to_verified_s"] - run["typing_s"]
                ax.bar(i, kiosk, color="#55a868",
                       label="face seen to verified (prompts answered)" if i == 0 else None)
                ax.bar(i, run["typing_s"], bottom=kiosk, color="#aaaaaa",
                       label="customer typing digits" if i == 0 else None)
                ax.bar(i, run["verified_to_painted_s"], bottom=run["face_seen_to_verified_s"],
                       color="#dd8452", label="charged and painted" if i == 0 else None)
            else:
                ax.bar(i, 0.05, color="#c44e52", hatch="//")
                ax.text(i, 0.08, run["outcome"], ha="center", fontsize=7, rotation=90)
        ax.axhline(2.0, color="k", ls="--", lw=0.8, label="2 s target")
        ax.set_xlabel("run")
        ax.set_ylabel("seconds")
        ax.set_title("Smile to Pay through the kiosk page: face seen to 'paid' on screen",
                     fontsize=9)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=4)
        fig.tight_layout()
        path = out / "face_to_paid.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
