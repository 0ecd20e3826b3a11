"""`scanpay bench crash`: kill a bike-lock unit at random points of rentals, then check the books.

The reference back end runs in this process on loopback. The unit runs in a child process on
one state directory (rental journal, outbox, and a file standing for the physical latch, which
keeps its position while the unit is dead). Each cycle starts the unit, which resumes whatever
the last kill interrupted, serves a few rentals and is killed with SIGKILL: either after a
random delay, or at a random instrumented point — right after the Nth outbox append, the Nth
journal write, the Nth gateway answer (the money moved, the unit never heard), or with the
latch just opened and nothing journalled yet. A last clean run finishes and uploads
everything. Then the back end's own records are checked:

- ``lost_events``: events the unit logged durably that the back end never got, plus core
  events (ride started and ended, fare captured, deposit held and released) of settled rides
  that are missing;
- ``duplicate_events``: the same event of a ride (kind and stage) stored more than once;
- ``double_charges``: extra charges or captures for one ride;
- ``orphan_holds``: deposit holds still active when no ride is in progress;
- ``free_rides``: latch openings without a ride on record, and rides that were not charged;
- ``stuck_units``: restarts after which the unit could not serve the next rider.

With ``--mode backend`` the unit is not killed: the back end is, instead. It runs as a
separate ``scanpay backend serve --dev`` process on a fixed loopback port and a SQLite file,
is SIGKILLed at a random moment of each life of the unit and restarted on the same port and
file after a random outage; the unit must carry on and finish every rental once it is back.
With ``--faults`` the unit talks to the back end through a loopback fault proxy that breaks
requests at random (seeded): connection reset, no answer, a slow drip, a 503, a body that is
not JSON, a cut body, an answer lost after the back end acted. The last, clean run goes
without faults. The same checks follow either way.

Every figure must be 0; the exit status is 1 when one is not.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

KEY_ENV = "SCANPAY_BENCH_CRASH_KEY"
TERMINAL_ID = "emu-bike-0001"
RIDERS = ("crash-rider-a", "crash-rider-b", "crash-rider-c")
# Instrumented kill points and the range of N ("kill right after the Nth ...").
KILL_POINTS: dict[str, tuple[int, int]] = {
    "append": (1, 10),  # outbox append
    "save": (1, 30),  # rental journal write
    "money": (1, 8),  # gateway answer received (money moved; the unit never acts on it)
    "unlock": (1, 3),  # latch opened, nothing journalled yet
}
TIMED_SHARE = 0.4  # share of cycles killed after a random delay instead
CHILD_TIMEOUT_S = 60.0
SETTLE_TURNS = 5  # service-loop turns a restarted unit gets to settle before it counts as stuck
FAULT_RATE = 0.15  # --faults: share of requests the proxy breaks
BACKEND_START_S = 60.0  # how long a (re)started back end may take to answer
BACKEND_UP_S = (0.0, 0.12)  # --mode backend: kill the back end this long after the unit is ready
BACKEND_DOWN_S = (0.0, 1.5)  # ... and keep it down this long


@dataclass(frozen=True)
class CrashReport:
    """What the checks found after ``cycles`` kills."""

    cycles: int
    lost_events: int
    duplicate_events: int
    double_charges: int
    orphan_holds: int
    free_rides: int
    stuck_units: int

    @property
    def clean(self) -> bool:
        """True when every fault count is 0."""
        return not any(v for k, v in asdict(self).items() if k != "cycles")


def register(sub: argparse._SubParsersAction) -> None:
    """Add `bench crash`."""
    parser = sub.add_parser("crash", help="kill a unit mid-rental or mid-payment and check "
                            "the books", description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=50, metavar="N",
                        help="kill-and-restart cycles (default 50)")
    parser.add_argument("--seed", type=int, default=1, metavar="S",
                        help="random seed of kill points and riders (default 1)")
    parser.add_argument("--rentals", type=int, default=3, metavar="K",
                        help="rentals a unit starts per life (default 3)")
    parser.add_argument("--device", choices=("bike", "kiosk"), default="bike",
                        help="the unit killed: a bike lock mid-rental (default) or a kiosk "
                             "mid-payment")
    parser.add_argument("--mode", choices=("unit", "backend"), default="unit",
                        help="what is killed: the bike-lock unit (default) or the back end")
    parser.add_argument("--faults", action="store_true",
                        help="send the unit's requests through a proxy that breaks some")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", type=Path, default=Path("bench-results/crash"),
                        help="output folder (default bench-results/crash)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from terminal.errors import TerminalError

    if args.cycles < 1 or args.rentals < 1:
        raise TerminalError("--cycles and --rentals must be >= 1")
    if args.device == "kiosk" and args.mode == "backend":
        raise TerminalError("--mode backend kills the back end under a bike unit; with "
                            "--device kiosk the kiosk itself is killed (leave out --mode)")
    started = time.monotonic()

    def progress(cycle: int) -> None:
        if cycle == args.cycles or cycle % max(1, args.cycles // 20) == 0:
            print(f"crash: {cycle}/{args.cycles}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="scanpay-crash-") as tmp:
        if args.device == "kiosk":
            from terminal.bench.crash_kiosk import run_kiosk_crash_bench

            report, extra = run_kiosk_crash_bench(
                args.cycles, seed=args.seed, work_dir=Path(tmp), orders_per_life=args.rentals,
                progress=progress, faults=args.faults, fault_rate=FAULT_RATE)
        else:
            report, extra = run_crash_bench(args.cycles, seed=args.seed, work_dir=Path(tmp),
                                            rentals_per_life=args.rentals, progress=progress,
                                            mode=args.mode, faults=args.faults)
    wall = time.monotonic() - started
    args.out.mkdir(parents=True, exist_ok=True)
    name = "crash-kiosk.json" if args.device == "kiosk" else "crash.json"
    (args.out / name).write_text(json.dumps(
        {**asdict(report), **extra, "seed": args.seed, "device": args.device,
         "mode": args.mode, "faults": args.faults, "wall_s": round(wall, 1)}, indent=2))
    if args.json:
        print(json.dumps(asdict(report)))
    else:
        for name, value in asdict(report).items():
            print(f"{name:<17} {value}")
        if args.device == "kiosk":
            reached = extra["points_reached"]
            hits = ", ".join(f"{kind} {reached.get(kind, 0)}/{planned}"
                             for kind, planned in sorted(extra["points_hit"].items()))
            print(f"{'kills':<17} {extra['kills_timed']} after a random delay, "
                  f"{extra['kills_at_points']} planned at instrumented points ({hits} reached)")
            print(f"{'orders':<17} {extra['orders']} on record, {extra['paid_orders']} paid "
                  f"({', '.join(f'{k} {v}' for k, v in sorted(extra['paid_with'].items()))}); "
                  f"orphan_holds counts payments for unpaid orders, free_rides paid orders "
                  f"without money")
        elif args.mode == "backend":
            print(f"{'kills':<17} {extra['backend_kills']} of the back end, "
                  f"{extra['backend_kills_mid_life']} while the unit was renting")
        else:
            reached = extra["points_reached"]
            hits = ", ".join(f"{kind} {reached.get(kind, 0)}/{planned}"
                             for kind, planned in sorted(extra["points_hit"].items()))
            print(f"{'kills':<17} {extra['kills_timed']} after a random delay, "
                  f"{extra['kills_at_points']} planned at instrumented points ({hits} reached)")
        if args.faults:
            faults = ", ".join(f"{k} {v}" for k, v in sorted(extra["faults_injected"].items()))
            print(f"{'faults':<17} {faults or 'none'}")
        if args.device == "bike":
            print(f"{'rentals':<17} {extra['rentals']} on record, {extra['rides']} rides")
        print(f"{'time':<17} {wall:.0f} s")
        print("PASS" if report.clean else "FAIL")
    return 0 if report.clean else 1


# -- the parent: back end, cycles, checks ---------------------------------------------------------


def run_crash_bench(
    cycles: int,
    *,
    seed: int,
    work_dir: Path,
    rentals_per_life: int = 3,
    progress: Callable[[int], None] | None = None,
    mode: str = "unit",
    faults: bool = False,
) -> tuple[CrashReport, dict[str, Any]]:
    """Run ``cycles`` disturbed lives of a unit and one clean one; returns the checks' report.

    ``mode`` "unit" kills the unit, "backend" kills the back end during each life; ``faults``
    puts the fault proxy between the unit and the back end.
    """
    from contextlib import ExitStack

    import requests

    from terminal.bench.fault_proxy import FaultProxy

    if mode not in ("unit", "backend"):
        raise ValueError(f"unknown mode {mode!r}")
    rng = random.Random(seed)
    unit_dir = work_dir / "unit"
    unit_dir.mkdir(parents=True, exist_ok=True)
    stuck = 0
    timed = 0
    backend_kills = 0
    mid_life = 0  # back-end kills that struck while the unit was still renting
    points: Counter[str] = Counter()
    reached: Counter[str] = Counter()
    with ExitStack() as stack:
        if mode == "backend":
            backend: Any = stack.enter_context(_BackendProcess(work_dir / "backend.sqlite3"))
            url, api_key = backend.url, backend.api_key
        else:
            url, api_key = _start_emulator(stack, work_dir)
        proxy = None
        if faults:
            proxy = stack.enter_context(FaultProxy(url, fault_rate=FAULT_RATE,
                                                   seed=rng.randrange(2**31), hold_s=3.5))
        for rider in RIDERS:
            response = requests.post(
                f"{url}/v1/dev/subjects", timeout=10,
                headers={"Authorization": f"Bearer {api_key}"},
                json={"subject_id": rider, "balance_minor": 10**9})
            if response.status_code not in (201, 409):
                raise RuntimeError(f"cannot create {rider}: HTTP {response.status_code}")
        child = _ChildRunner(proxy.url if proxy else url, api_key, unit_dir, rentals_per_life,
                             wallet_url=url)
        for cycle in range(1, cycles + 1):
            if mode == "backend":
                up_s, down_s = rng.uniform(*BACKEND_UP_S), rng.uniform(*BACKEND_DOWN_S)

                def outage(alive: Callable[[], bool], up_s: float = up_s,
                           down_s: float = down_s) -> None:
                    time.sleep(up_s)
                    nonlocal mid_life
                    mid_life += alive()
                    backend.kill()
                    time.sleep(down_s)
                    backend.start()

                ok = child.life(cycle, seed=rng.randrange(2**31), on_ready=outage)
                backend_kills += 1
                ok = ok and not child.killed
            else:
                ok, was_timed = killed_life(child, cycle, rng, KILL_POINTS, 0.6, points, reached)
                timed += was_timed
            stuck += not ok
            if progress is not None:
                progress(cycle)
        injected = dict(proxy.injected) if proxy else {}
        if proxy is not None:
            proxy.heal()  # the network is mended for the last, clean run
        final = child.final(cycles + 1, seed=rng.randrange(2**31))
        stuck += not final.get("served", False)
        lives = child.lives()
        stuck += sum(not life.get("idle", True) for life in lives)
        free_bikes = sum(bool(life.get("free_bike")) for life in lives)
        report, extra = _check(work_dir / "backend.sqlite3", unit_dir, cycles, stuck,
                               free_bikes)
    extra.update(kills_timed=timed, kills_at_points=sum(points.values()),
                 points_hit=dict(points), points_reached=dict(reached), final=final,
                 backend_kills=backend_kills, backend_kills_mid_life=mid_life,
                 faults_injected=injected)
    return report, extra


def killed_life(child: _ChildRunner, cycle: int, rng: random.Random,
                kill_points: dict[str, tuple[int, int]], max_delay_s: float,
                points: Counter[str], reached: Counter[str]) -> tuple[bool, bool]:
    """One life of ``child`` killed after a random delay (``TIMED_SHARE`` of lives) or right
    after the Nth pass of a random instrumented point; returns (it did not hang, timed)."""
    if rng.random() < TIMED_SHARE:
        return child.life(cycle, seed=rng.randrange(2**31),
                          kill_after_s=rng.uniform(0.0, max_delay_s)), True
    kind = rng.choice(sorted(kill_points))
    low, high = kill_points[kind]
    points[kind] += 1
    ok = child.life(cycle, seed=rng.randrange(2**31), kill_at=f"{kind}:{rng.randint(low, high)}")
    reached[kind] += child.killed
    return ok, False


def _start_emulator(stack: Any, work_dir: Path) -> tuple[str, str]:
    """The in-process reference back end on ``work_dir``; its URL and the unit's key."""
    from terminal.config import default_config_path, load_config
    from terminal.emulator.session import Emulator

    config = load_config(default_config_path("emulator"))
    emulator = stack.enter_context(Emulator(config, state_dir=work_dir))
    return emulator.server.url, emulator.api_key


class _BackendProcess:
    """``scanpay backend serve --dev`` in a child process on a fixed port and SQLite file."""

    def __init__(self, database: Path) -> None:
        import socket

        from backend.keyring import dev_api_key
        from backend.settings import DEV_SIGNING_SEED_HEX

        with socket.socket() as sock:  # a free port, kept for every restart
            sock.bind(("127.0.0.1", 0))
            self._port = sock.getsockname()[1]
        self._database = database
        self.url = f"http://127.0.0.1:{self._port}"
        self.api_key = dev_api_key(DEV_SIGNING_SEED_HEX, TERMINAL_ID)
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the back end and wait until it answers."""
        import requests

        self._proc = subprocess.Popen(
            [sys.executable, "-m", "terminal.cli.main", "backend", "serve", "--dev",
             "--port", str(self._port), "--db", str(self._database), "--terminal", TERMINAL_ID],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        limit = time.monotonic() + BACKEND_START_S
        while time.monotonic() < limit:
            if self._proc.poll() is not None:
                raise RuntimeError(f"the back end exited with {self._proc.returncode}")
            try:
                if requests.get(f"{self.url}/v1/health", timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)  # an external process: there is no event to wait on
        raise RuntimeError(f"the back end did not answer within {BACKEND_START_S:.0f} s")

    def kill(self) -> None:
        """SIGKILL the back end (it gets no chance to close anything)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait()

    def close(self) -> None:
        """Stop the back end (idempotent)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._proc = None

    def __enter__(self) -> _BackendProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _ChildRunner:
    """Starts lives of the unit in child processes."""

    def __init__(self, url: str, api_key: str, unit_dir: Path, rentals: int, *,
                 wallet_url: str = "") -> None:
        self._url, self._key, self._dir, self._rentals = url, api_key, unit_dir, rentals
        self._wallet_url = wallet_url or url
        self.killed = False  # whether the last life died by SIGKILL (not a clean exit)

    def _command(self, life: int, seed: int, extra: list[str]) -> list[str]:
        return [sys.executable, "-m", "terminal.bench.crash", "--child", "--url", self._url,
                "--state-dir", str(self._dir), "--life", str(life), "--seed", str(seed),
                "--rentals", str(self._rentals), "--wallet-url", self._wallet_url, *extra]

    def _env(self) -> dict[str, str]:
        return {**os.environ, KEY_ENV: self._key}

    def life(self, life: int, *, seed: int, kill_after_s: float | None = None,
             kill_at: str = "", on_ready: Callable[[Callable[[], bool]], None] | None = None
             ) -> bool:
        """One life, killed after ``kill_after_s`` (from ready) or at ``kill_at``; or left
        alive while ``on_ready`` runs once it is ready (it gets a test of whether the unit still
        runs).

        False when the unit hung (it did not finish or die within the time limit).
        """
        extra = ["--kill-at", kill_at] if kill_at else []
        with subprocess.Popen(self._command(life, seed, extra), stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=self._env()) as proc:
            assert proc.stdout is not None
            if kill_after_s is not None or on_ready is not None:
                line = proc.stdout.readline()  # "ready", or "" when it died first
                if line.strip() == "ready" and on_ready is not None:
                    on_ready(lambda: proc.poll() is None)
                elif line.strip() == "ready":
                    time.sleep(kill_after_s or 0.0)
                    proc.send_signal(signal.SIGKILL)
            try:
                proc.wait(CHILD_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                log.error("life %d hung and was killed", life)
                self.killed = True
                return False
        self.killed = proc.returncode == -signal.SIGKILL
        return True

    def final(self, life: int, *, seed: int) -> dict[str, Any]:
        """A clean last life that settles, reconciles and uploads everything; its report."""
        try:
            done = subprocess.run(self._command(life, seed, ["--final"]), capture_output=True,
                                  text=True, env=self._env(), timeout=CHILD_TIMEOUT_S * 2,
                                  check=False)
        except subprocess.TimeoutExpired:
            return {"served": False, "error": "the final run hung"}
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
        if done.returncode != 0 or not lines:
            return {"served": False, "error": done.stderr.strip().splitlines()[-1:]}
        result: dict[str, Any] = json.loads(lines[-1])
        return result

    def lives(self) -> list[dict[str, Any]]:
        """What each life recorded right after its restart."""
        path = self._dir / "lives.jsonl"
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line cut by the kill
        return out


def _check(backend_db: Path, unit_dir: Path, cycles: int, stuck: int,
           free_bikes: int = 0) -> tuple[CrashReport, dict[str, Any]]:
    """Compare the unit's journal, outbox and latch log with the back end's records.

    ``stuck`` counts restarts that left the unit unable to serve; ``free_bikes`` restarts that
    found the latch open with no ride running (the same bikes as latch openings without a
    ride, seen from the other side: the larger count is taken).
    """
    rentals = [json.loads(row[0]) for row in _rows(unit_dir / "rentals.sqlite3",
                                                   "SELECT data FROM rentals")]
    outbox_ids = {row[0] for row in _rows(unit_dir / "outbox.sqlite3",
                                          "SELECT event_id FROM outbox")}
    events = _rows(backend_db, "SELECT event_id, type, attributes FROM events "
                   "WHERE terminal_id = ?", (TERMINAL_ID,))
    stored_ids = {row[0] for row in events}
    per_ride: Counter[tuple[str, str, str]] = Counter()
    for _, kind, attributes in events:
        attrs = json.loads(attributes)
        per_ride[(str(attrs.get("ride_id")), kind, str(attrs.get("stage", "")))] += 1
    duplicates = sum(n - 1 for n in per_ride.values() if n > 1)
    lost = len(outbox_ids - stored_ids)
    rides = 0
    unpaid_rides = 0
    for rental in rentals:
        if rental.get("unlocked_at") is None:
            continue
        rides += 1
        ride = rental["ride_id"]
        if rental["state"] != "settled" or rental.get("fare_paid_by") not in (
                "charge", "deposit", "free"):
            unpaid_rides += 1
            continue
        core = ["ride.started", "ride.ended"]
        paid_by = rental.get("fare_paid_by")
        core += {"charge": ["payment.captured"], "deposit": ["deposit.captured"]}.get(
            paid_by, [])
        if rental.get("outcome") == "required":
            core.append("deposit.held")
            if paid_by != "deposit":
                core.append("deposit.released")
        lost += sum(1 for kind in core if not any(
            key[0] == ride and key[1] == kind for key in per_ride))
    charges = Counter(row[0] for row in _rows(
        backend_db, "SELECT reference FROM charges WHERE terminal_id = ?", (TERMINAL_ID,)))
    double = sum(n - 1 for n in charges.values() if n > 1)
    orphans = len(_rows(backend_db, "SELECT hold_id FROM holds WHERE status = 'held' "
                        "AND terminal_id = ?", (TERMINAL_ID,)))
    latch_log = unit_dir / "latch.log"
    opened = latch_log.read_text().split().count("opened") if latch_log.exists() else 0
    report = CrashReport(cycles=cycles, lost_events=lost, duplicate_events=duplicates,
                         double_charges=double, orphan_holds=orphans,
                         free_rides=max(opened - rides, free_bikes, 0) + unpaid_rides,
                         stuck_units=stuck)
    extra = {"rentals": len(rentals), "rides": rides, "latch_openings": opened,
             "events_stored": len(stored_ids), "events_logged": len(outbox_ids),
             "states": dict(Counter(r["state"] for r in rentals))}
    return report, extra


def _rows(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()


# -- the child: one life of the unit ---------------------------------------------------------------


def _latch_class() -> type:
    from hardware.emulated.lock import EmulatedLock

    class FileLatch(EmulatedLock):
        """The emulated lock, its latch position kept in a file: it outlives the unit's death.

        ``kill_on_open`` kills the process the moment the latch has opened (before the unit
        could journal anything after the pulse).
        """

        def __init__(self, folder: Path, kill_on_open: int = 0) -> None:
            self._log_file = folder / "latch.log"
            moves = self._log_file.read_text().split() if self._log_file.exists() else []
            super().__init__(closed=not moves or moves[-1] != "opened")
            self._kill_on_open = kill_on_open
            self._opens = 0

        def _record(self, event: Any) -> None:
            super()._record(event)
            if event in ("opened", "closed"):
                # The latch's position is the last line: one append, the physical fact.
                with open(self._log_file, "a") as fh:
                    fh.write(f"{event}\n")
                    fh.flush()
                    os.fsync(fh.fileno())

        def unlock(self) -> None:
            super().unlock()
            self._opens += 1
            if self._kill_on_open and self._opens == self._kill_on_open:
                _die()

    return FileLatch


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _after_nth(call: Callable[..., Any], n: int) -> Callable[..., Any]:
    """``call``, but the process dies right after its ``n``th return."""
    count = [0]

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = call(*args, **kwargs)
        count[0] += 1
        if count[0] == n:
            _die()
        return result

    return wrapped


def _arm(stack: Any, kill_at: str) -> None:
    """Install the instrumented kill point ``kind:N`` on the unit's parts."""
    if not kill_at:
        return
    kind, _, n_text = kill_at.partition(":")
    n = int(n_text)
    if kind == "append":
        stack.outbox.append = _after_nth(stack.outbox.append, n)
    elif kind == "save":
        stack.journal.save = _after_nth(stack.journal.save, n)
    elif kind == "money":
        count = [0]

        def counted(call: Callable[..., Any]) -> Callable[..., Any]:
            def wrapped(*args: Any, **kwargs: Any) -> Any:
                result = call(*args, **kwargs)
                count[0] += 1
                if count[0] == n:
                    _die()
                return result
            return wrapped

        for name in ("place_hold", "release_hold", "capture_hold", "charge"):
            setattr(stack.gateway, name, counted(getattr(stack.gateway, name)))


def _child(argv: list[str]) -> int:
    """One life of the unit: resume, note whether it is free, rent, (be killed)."""
    import requests

    from payments.clients.http import ServiceSettings
    from terminal.bikelock.stack import BikeLockStack
    from terminal.bikelock.states import RideState
    from terminal.config import default_config_path, load_config
    from terminal.endpoints import Endpoints

    parser = argparse.ArgumentParser(prog="crash-child")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--url", required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--life", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--rentals", type=int, default=3)
    parser.add_argument("--kill-at", default="")
    parser.add_argument("--final", action="store_true")
    parser.add_argument("--wallet-url", default="")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    key = os.environ[KEY_ENV]
    config = load_config(default_config_path("emulator"))
    service = ServiceSettings(url=args.url, api_key=key, connect_timeout_s=1.0,
                              read_timeout_s=3.0, max_retries=2, backoff_base_s=0.05,
                              backoff_max_s=0.2, deadline_s=5.0)
    kind, _, n_text = args.kill_at.partition(":")
    latch = _latch_class()(args.state_dir, kill_on_open=int(n_text) if kind == "unlock" else 0)
    rng = random.Random(args.seed)
    session = requests.Session()
    session.trust_env = False

    wallet_url = args.wallet_url or args.url

    def wallet_code() -> str:
        # The rider's wallet asks the back end directly; while it is down, the rider waits.
        subject = rng.choice(RIDERS)
        limit = time.monotonic() + CHILD_TIMEOUT_S / 2
        while True:
            try:
                response = session.post(f"{wallet_url}/v1/dev/payment-codes", timeout=10,
                                        headers={"Authorization": f"Bearer {key}"},
                                        json={"subject_id": subject, "ttl_s": 60})
                response.raise_for_status()
                return str(response.json()["code"])
            except requests.RequestException:
                if time.monotonic() > limit:
                    raise
                time.sleep(0.1)

    with BikeLockStack(config, Endpoints(service, service), state_dir=args.state_dir,
                       clock=time.time, lock=latch) as stack:
        _arm(stack, "" if kind == "unlock" else args.kill_at)
        unit = stack.unit
        unit.resume()
        if unit.state is RideState.RIDING:
            latch.close_latch()  # the rider brings the bike back
        # An open latch with no ride running is a bike out for free: its rider brings it back.
        free_bike = not latch.is_closed
        if free_bike:
            latch.close_latch()
        # As the service loop does on each turn: retry a settlement the back end could not take
        # while resuming (a network fault); a unit still busy after a few turns is stuck.
        turns = 0
        while unit.state is RideState.LOCK_CLOSED and turns < SETTLE_TURNS:
            turns += 1
            unit.settle()
        with open(args.state_dir / "lives.jsonl", "a") as fh:
            fh.write(json.dumps({"life": args.life, "idle": unit.state is RideState.IDLE,
                                 "state": unit.state.value, "free_bike": free_bike,
                                 "settle_turns": turns}) + "\n")
        print("ready", flush=True)
        stack.uploader.start()
        for _ in range(args.rentals):
            unit.tick()
            if unit.state is RideState.LOCK_CLOSED:
                unit.settle()  # as the service loop does
            unit.present_code(wallet_code())
            if unit.state is RideState.RIDING:
                latch.close_latch()
        if not args.final:
            stack.uploader.flush(deadline_s=5.0)
            return 0
        for _ in range(10):
            if not stack.journal.money_open() and unit.state is RideState.IDLE:
                break
            unit.settle()
            unit.reconcile()
        served = unit.present_code(wallet_code())
        if unit.state is RideState.RIDING:
            latch.close_latch()
        flushed = stack.uploader.flush(deadline_s=30.0)
        print(json.dumps({
            "served": served.state is RideState.SETTLED and unit.state is RideState.IDLE,
            "unfinished": len(stack.journal.unfinished()),
            "money_open": len(stack.journal.money_open()),
            "outbox_pending": flushed.pending,
        }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
