"""`scanpay bench device`: what a unit costs a Pi-class board to start and to keep running.

For ``scanpay run`` with the bike-lock and with the kiosk configuration on emulated devices
(synthetic camera at 15 fps, emulated lock, the reference back end on loopback), each in its
own process as systemd would start it:

* **start to ready** — from process start to its sd_notify ``READY=1`` (a real socket);
* **resident memory** — the process tree's RSS sampled every second for ``--soak-s`` (default
  60), and after ``--frames`` (default 10,000) code-free frames through the bike unit's scan
  loop (an unpaced camera: memory must stay flat);
* **CPU per idle second** — the tree's CPU time over the last ``--idle-s`` seconds of the
  soak, as a share of one core (target: under 10% for an idle unit at 15 fps);
* **the face pipeline on one core** (``os.sched_setaffinity``: the closest stand-in for a Pi
  here) — per-stage cost per frame (track, quality, liveness, chip, embedding with and
  without the mirror pass), the work left after the challenge for each embedding option
  (mirror pass, probe frames, workers), and Smile to Pay's face seen to verified through the
  kiosk's real flow with the kiosk defaults (needs the EyeBlink8 clips; skipped without).

Writes ``device.json`` and PNG plots into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from terminal.errors import TerminalError

IDLE_CPU_TARGET = 0.10
CHILD_TIMEOUT_S = 900.0
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def register(sub: argparse._SubParsersAction) -> None:
    """Add `bench device`."""
    p = sub.add_parser("device", help="unit budgets: start to ready, memory, idle CPU, face "
                                      "pipeline on one core")
    p.add_argument("--soak-s", type=float, default=60.0, metavar="S",
                   help="seconds each unit runs idle while memory is sampled (default 60)")
    p.add_argument("--idle-s", type=float, default=10.0, metavar="S",
                   help="last seconds of the soak that CPU is measured over (default 10)")
    p.add_argument("--frames", type=int, default=10_000, metavar="N",
                   help="code-free frames through the bike unit's scan loop (default 10000)")
    p.add_argument("--units", default="bike-lock,kiosk",
                   help="which units to start (default bike-lock,kiosk)")
    p.add_argument("--face-runs", type=int, default=3, metavar="N",
                   help="timed Smile to Pay attempts per worker setting (default 3; 0 skips)")
    p.add_argument("--skip-face", action="store_true", help="skip the face pipeline part")
    p.add_argument("--out", type=Path, default=Path("bench-results/device"),
                   help="folder for device.json and the plots")
    p.set_defaults(handler=run)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; print a summary; write JSON and plots."""
    units = [u.strip() for u in str(args.units).split(",") if u.strip()]
    if args.soak_s <= 0 or not 0 < args.idle_s <= args.soak_s or args.frames < 0 \
            or args.face_runs < 0 or not set(units) <= {"bike-lock", "kiosk"}:
        _say("error: --soak-s > 0, 0 < --idle-s <= --soak-s, --frames >= 0, --face-runs >= 0, "
             "--units from bike-lock,kiosk")
        return 2
    report: dict[str, Any] = {"machine": _machine(), "units": {}}
    for unit in units:
        _say(f"{unit}: start, then {args.soak_s:g} s idle")
        report["units"][unit] = measure_unit(unit, soak_s=args.soak_s, idle_s=args.idle_s)
    if args.frames:
        _say(f"bike-lock scan loop: {args.frames} code-free frames")
        report["frames"] = _child("frames", {"frames": args.frames})
    if not args.skip_face and "kiosk" in units:
        from terminal.bench.device_kiosk import measure_kiosk_face

        _say("kiosk memory with the face models loaded")
        report["kiosk_face"] = measure_kiosk_face(say=_say)
    if not args.skip_face:
        _say("face pipeline pinned to one core")
        report["face"] = _child("face", {"runs": args.face_runs})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "device.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plots = write_plots(args.out, report)
    print_report(report)
    print(f"wrote {args.out / 'device.json'} and {', '.join(p.name for p in plots)}")
    return 0


def _machine() -> dict[str, Any]:
    import platform

    return {"cpus": os.cpu_count(), "machine": platform.machine(),
            "python": platform.python_version()}


# --- a whole unit in its own process -------------------------------------------------------

def unit_config(unit: str, state_dir: Path) -> str:
    """The emulated configuration of ``unit`` as TOML text (camera at 15 fps, loopback)."""
    from terminal.config import default_config_path

    text = default_config_path("emulator" if unit == "bike-lock" else "kiosk").read_text(
        encoding="utf-8")
    text = re.sub(r'(?m)^state_dir = ""', f'state_dir = "{state_dir}"', text)
    text = re.sub(r"(?m)^port = 8080", "port = 0", text)  # the kiosk's screen server
    if not re.search(r'(?m)^state_dir = "', text):
        raise TerminalError(f"cannot set the state folder of the {unit} configuration")
    return text


def with_separate_back_end(text: str, url: str, api_key: str) -> str:
    """``text`` (a configuration) talking to the back end at ``url`` instead of its own."""
    text = re.sub(r"(?ms)^\[emulator\]\n.*?(?=^\[|\Z)", "", text)
    for section in ("score_service", "gateway"):
        text, found = re.subn(rf"(?m)^\[{section}\]\n",
                              f'[{section}]\nurl = "{url}"\napi_key = "{api_key}"\n', text)
        if not found:
            raise TerminalError(f"the configuration has no [{section}] section")
    return text


def measure_unit(unit: str, *, soak_s: float, idle_s: float,
                 say: Callable[[str], None] = _say) -> dict[str, Any]:
    """Start ``scanpay run`` for ``unit``; time it to READY=1, then sample RSS and CPU.

    The reference back end runs in this process, as a real back end runs elsewhere: the unit's
    figures are its own (an [emulator] section would load the back end into the unit)."""
    from terminal.config import load_config
    from terminal.emulator.session import Emulator

    with tempfile.TemporaryDirectory(prefix="scanpay-bench-device-") as tmp:
        folder = Path(tmp)
        config = folder / f"{unit}.toml"
        (folder / "state").mkdir()
        (folder / "backend").mkdir()
        text = unit_config(unit, folder / "state")
        config.write_text(text, encoding="utf-8")
        emulator = Emulator(load_config(config), state_dir=folder / "backend").start()
        try:
            endpoints = emulator.endpoints().score
            config.write_text(with_separate_back_end(text, endpoints.url, endpoints.api_key),
                              encoding="utf-8")
            result = _run_unit(unit, config, folder, soak_s, idle_s)
        finally:
            emulator.close()
    say(f"  ready in {result['ready_s']:.2f} s, {result['rss_mb_end']:.0f} MB after "
        f"{soak_s:g} s, idle CPU {result['idle_cpu_share']:.1%} of a core")
    return result


def _run_unit(unit: str, config: Path, folder: Path, soak_s: float, idle_s: float
              ) -> dict[str, Any]:
    """``scanpay run --config config`` as systemd would start it, timed and sampled."""
    notify_path = str(folder / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(notify_path)
        notify.settimeout(1.0)
        env = {**os.environ, "NOTIFY_SOCKET": notify_path}
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "terminal.cli.main", "run", "--config", str(config)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            ready_s = _wait_ready(notify, proc, started)
            samples = _soak(proc.pid, soak_s, idle_s, started, drain=lambda: _drain(notify))
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
    if proc.returncode != 0:
        raise TerminalError(f"scanpay run ({unit}) exited {proc.returncode}: "
                            f"{(err or '').strip()[-300:]}")
    return {"ready_s": round(ready_s, 3), "back_end": "separate process", **samples}


def _wait_ready(notify: socket.socket, proc: subprocess.Popen[str], started: float) -> float:
    while time.perf_counter() - started < 120.0:
        try:
            message = notify.recv(4096)
        except TimeoutError:
            message = b""
        if message.startswith(b"READY=1"):
            return time.perf_counter() - started
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr is not None else ""
            raise TerminalError(f"the unit exited ({proc.returncode}) before it was ready: "
                                f"{err.strip()[-300:]}")
    raise TerminalError("the unit did not report READY=1 within 120 s")


def _drain(notify: socket.socket) -> None:
    """Read the watchdog pings, as systemd does."""
    notify.setblocking(False)
    try:
        while notify.recv(4096):
            pass
    except BlockingIOError:
        pass
    finally:
        notify.settimeout(1.0)


def _soak(pid: int, soak_s: float, idle_s: float, started: float,
          drain: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """RSS of the process tree every second for ``soak_s``; CPU share over the last idle_s."""
    series: list[tuple[float, float]] = []
    begin = time.perf_counter()
    cpu_mark: tuple[float, float] | None = None
    idle_from = begin + soak_s - idle_s
    while True:
        drain()
        now = time.perf_counter()
        pids = _tree(pid)
        series.append((round(now - started, 2), round(_rss_bytes(pids) / 2 ** 20, 1)))
        if cpu_mark is None and now >= idle_from:
            cpu_mark = (now, _cpu_seconds(pids))
        if now - begin >= soak_s:
            break
        time.sleep(min(1.0, max(0.0, begin + soak_s - now)))
    end = time.perf_counter()
    assert cpu_mark is not None
    cpu = (_cpu_seconds(_tree(pid)) - cpu_mark[1]) / max(1e-6, end - cpu_mark[0])
    return {"rss_mb_end": series[-1][1], "rss_mb_max": max(v for _, v in series),
            "rss_series": series, "idle_cpu_share": round(cpu, 4),
            "idle_cpu_window_s": round(end - cpu_mark[0], 2),
            "processes": len(_tree(pid))}


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (the kiosk's embedding workers count too)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def _rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
    return total / _TICKS


# --- helpers run in a child process --------------------------------------------------------

def _child(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run ``_<kind>_child(params)`` in a fresh interpreter; its last stdout line is JSON."""
    code = (f"import json, sys; from terminal.bench.device import _{kind}_child; "
            f"print(json.dumps(_{kind}_child(json.loads(sys.argv[1]))))")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(params)], text=True,
                          capture_output=True, timeout=CHILD_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        raise TerminalError(f"bench device {kind}: {proc.stderr.strip()[-400:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _frames_child(params: dict[str, Any]) -> dict[str, Any]:
    """The bike unit's scan loop on an unpaced code-free camera: RSS per 1000 frames scanned."""
    from hardware.emulated.synthetic_camera import SyntheticCamera
    from terminal.bikelock.stack import BikeLockStack
    from terminal.config import default_config_path, load_config
    from terminal.emulator.session import Emulator
    from vision.qr import QrDecoder, QrScanner

    frames = int(params["frames"])
    step = max(1, min(1000, frames // 10))
    config = load_config(default_config_path("emulator"))
    series: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory(prefix="scanpay-bench-frames-") as tmp, \
            Emulator(config, state_dir=Path(tmp)) as emulator:
        camera = SyntheticCamera(None, size=(config.camera.width, config.camera.height))
        with BikeLockStack(config, emulator.endpoints(), state_dir=Path(tmp) / "unit",
                           camera=camera) as stack, \
                QrDecoder(budget_ms=config.scan.budget_ms) as decoder, \
                QrScanner(stack.camera, decoder,
                          confirm_frames=config.scan.confirm_frames) as scanner:
            started = time.perf_counter()
            next_mark = 0
            while True:
                done = scanner.stats.processed
                if done >= next_mark:
                    series.append((done, round(_rss_bytes([os.getpid()]) / 2 ** 20, 1)))
                    next_mark += step
                if done >= frames:
                    break
                stack.unit.tick()
                if scanner.next_code(timeout_s=0.2) is not None:
                    raise TerminalError("a code-free frame decoded as a code")
            elapsed = time.perf_counter() - started
    first = series[1][1] if len(series) > 2 else series[0][1]  # after warm-up
    return {"frames": frames, "rss_series": series, "rss_mb_start": first,
            "rss_mb_end": series[-1][1], "growth_mb": round(series[-1][1] - first, 1),
            "frames_per_s": round(frames / elapsed, 1)}


def _kiosk_face_child(params: dict[str, Any]) -> dict[str, Any]:
    """The kiosk built as `scanpay run` builds it, then its face models loaded."""
    from terminal.bench.device_kiosk import kiosk_face_memory

    return kiosk_face_memory(str(params["config"]))


def _face_child(params: dict[str, Any]) -> dict[str, Any]:
    """The face pipeline pinned to one core (importing nothing heavy before pinning)."""
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})  # children (embedding workers) inherit it
    from terminal.bench.device_face import face_costs

    return face_costs(runs=int(params["runs"]), core=core)


# --- report --------------------------------------------------------------------------------

def print_report(report: dict[str, Any]) -> None:
    """A short table on stdout."""
    print(f"{'unit':<10} {'ready s':>8} {'RSS MB end':>11} {'RSS MB max':>11} "
          f"{'idle CPU':>9}  processes")
    for unit, r in report["units"].items():
        flag = "" if r["idle_cpu_share"] < IDLE_CPU_TARGET else "  (over the 10% target)"
        print(f"{unit:<10} {r['ready_s']:>8.2f} {r['rss_mb_end']:>11.0f} {r['rss_mb_max']:>11.0f} "
              f"{r['idle_cpu_share']:>8.1%}  {r['processes']}{flag}")
    frames = report.get("frames")
    if frames:
        print(f"scan loop: {frames['frames']} code-free frames at {frames['frames_per_s']:.0f}/s, "
              f"RSS {frames['rss_mb_start']:.0f} -> {frames['rss_mb_end']:.0f} MB "
              f"({frames['growth_mb']:+.1f} MB)")
    from terminal.bench.device_kiosk import print_kiosk_face

    for key, kiosk_face in report.get("kiosk_face", {}).items():
        print(f"[{key}] ", end="")
        print_kiosk_face(kiosk_face)
    face = report.get("face")
    if face:
        from terminal.bench.device_face import print_face

        print_face(face)


def write_plots(out: Path, report: dict[str, Any]) -> list[Path]:
    """RSS over time per unit, RSS over frames scanned, and the face plots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths: list[Path] = []
    if report["units"]:
        fig, ax = plt.subplots(figsize=(7, 4))
        for unit, r in report["units"].items():
            t, rss = zip(*r["rss_series"], strict=True)
            ax.plot(t, rss, marker=".", label=f"{unit} (ready {r['ready_s']:.2f} s, idle CPU "
                                               f"{r['idle_cpu_share']:.1%})")
        ax.set_xlabel("seconds since start")
        ax.set_ylabel("resident memory, MB (process tree)")
        top = max(r["rss_mb_max"] for r in report["units"].values())
        ax.set_ylim(0, top * 1.2)
        ax.set_title("scanpay run, idle on emulated devices", fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(out / "rss_over_time.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    frames = report.get("frames")
    if frames:
        fig, ax = plt.subplots(figsize=(7, 4))
        n, rss = zip(*frames["rss_series"], strict=True)
        ax.plot(n, rss, marker=".")
        ax.set_xlabel("code-free frames scanned")
        ax.set_ylabel("resident memory, MB")
        ax.set_ylim(0, max(rss) * 1.2)
        ax.set_title(f"bike-lock scan loop: {frames['growth_mb']:+.1f} MB over "
                     f"{frames['frames']} frames", fontsize=9)
        fig.tight_layout()
        paths.append(out / "rss_over_frames.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    if report.get("face") and not report["face"].get("skipped"):
        from terminal.bench.device_face import plot_face

        paths.extend(plot_face(out, report["face"]))
    return paths
