"""CPU use of the benchmark's processes from /proc (no psutil): what saturates first.

A :class:`CpuMeter` is given named process trees (the broker, the back end's workers, the
database, this simulator); :meth:`CpuMeter.sample` reads every process's user + system ticks
and :meth:`CpuMeter.report` gives, per name, the mean and the highest one-interval CPU use in
cores. A single-threaded process (mosquitto, one Python worker, the simulator's event loop)
cannot use more than one core, so a name near its limit is the one that saturates.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
# A process tree at or above this share of the cores it can use counts as saturated.
SATURATED_SHARE = 0.85
# The report's entry for the whole machine (every process, ours or not).
MACHINE = "machine"
STALL = "machine_cpu_stall_us"
# Peaks are taken over sampling intervals at least this long.
MIN_PEAK_INTERVAL_S = 0.5


def _ticks_per_s() -> int:
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError):
        return 100


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, user + system ticks) of ``pid``; None once it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after its last ')'.
    fields = text[text.rfind(")") + 2:].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, CPU ticks so far) of every live process."""
    table: dict[int, tuple[int, int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                table[int(entry.name)] = stat
    return table


def tree_ticks(root: int, table: Mapping[int, tuple[int, int]] | None = None) -> int:
    """CPU ticks used so far by ``root`` and every live descendant."""
    table = table if table is not None else process_table()
    parents = {pid: parent for pid, (parent, _) in table.items()}
    members = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in members and pid not in members:
                members.add(pid)
                grew = True
    return sum(table[pid][1] for pid in members if pid in table)


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far, from /proc/stat."""
    try:
        first = (PROC / "stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return 0, 0
    values = [int(v) for v in first]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


def cpu_stall_us() -> int:
    """Microseconds so far in which some runnable task waited for a CPU (Linux pressure
    stall information, /proc/pressure/cpu ``some total``); 0 where the kernel has none."""
    try:
        first = (PROC / "pressure" / "cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return 0
    for part in first.split():
        if part.startswith("total="):
            return int(part[len("total="):])
    return 0


def self_ticks() -> int:
    """CPU ticks this process used so far (all its threads)."""
    stat = _stat(os.getpid())
    return stat[1] if stat else 0


@dataclass
class CpuMeter:
    """Samples of named process trees' CPU use; ``limits`` are the cores each may use."""

    roots: Mapping[str, int]
    limits: Mapping[str, float]
    clock: Callable[[], float] = time.monotonic
    samples: list[tuple[float, dict[str, int]]] = field(default_factory=list)

    def sample(self) -> None:
        """Read every tree's ticks now."""
        now = self.clock()
        table = process_table()
        reading = {name: (self_ticks() if pid == os.getpid() else tree_ticks(pid, table))
                   for name, pid in self.roots.items()}
        reading[MACHINE], reading[MACHINE + "_total"] = machine_ticks()
        reading[STALL] = cpu_stall_us()
        self.samples.append((now, reading))

    def report(self) -> dict[str, dict[str, float]]:
        """Per name: mean and peak cores used between the first and last sample, and the
        cores it may use."""
        hz = _ticks_per_s()
        out: dict[str, dict[str, float]] = {}
        if len(self.samples) < 2:
            return out
        (t0, first), (t1, last) = self.samples[0], self.samples[-1]
        pairs = list(zip(self.samples, self.samples[1:], strict=False))
        for name in self.roots:
            peak, used = 0.0, 0
            for (ta, a), (tb, b) in pairs:
                # Fewer ticks than before: a new process (a restarted broker) counts from 0.
                delta = b.get(name, 0) - a.get(name, 0) if b.get(name, 0) >= a.get(name, 0) \
                    else b.get(name, 0)
                used += delta
                if tb - ta >= MIN_PEAK_INTERVAL_S:  # shorter: a few clock ticks look huge
                    peak = max(peak, delta / hz / (tb - ta))
            mean = used / hz / (t1 - t0) if t1 > t0 else 0.0
            out[name] = {"mean_cores": round(mean, 3), "peak_cores": round(peak, 3),
                         "limit_cores": float(self.limits.get(name, 1.0))}
        cores = os.cpu_count() or 1

        def machine(a: dict[str, int], b: dict[str, int]) -> float:
            total = b[MACHINE + "_total"] - a[MACHINE + "_total"]
            return cores * (b[MACHINE] - a[MACHINE]) / total if total > 0 else 0.0

        # Every process on the machine, other users' included.
        peak = max((machine(a, b) for (ta, a), (tb, b) in pairs
                    if tb - ta >= MIN_PEAK_INTERVAL_S), default=0.0)
        out[MACHINE] = {"mean_cores": round(machine(first, last), 3),
                        "peak_cores": round(peak, 3), "limit_cores": float(cores),
                        # Share of the time some runnable task waited for a CPU.
                        "cpu_waiting_share": round(
                            (last[STALL] - first[STALL]) / 1e6 / (t1 - t0), 3)
                        if t1 > t0 else 0.0}
        return out


def saturated(report: Mapping[str, Mapping[str, float]], cpus: int | None = None) -> str:
    """What saturates first: the process tree closest to its core limit when at or above
    :data:`SATURATED_SHARE` of it, else the machine's CPU when our trees, or every process on
    the machine, use nearly every core, else ``"none"``."""
    procs = {name: r for name, r in report.items() if name != MACHINE}
    if not procs:
        return "unknown"
    share = {name: r["mean_cores"] / max(r["limit_cores"], 1e-9) for name, r in procs.items()}
    name = max(share, key=lambda n: share[n])
    if share[name] >= SATURATED_SHARE:
        return f"{name} CPU"
    cores = cpus or os.cpu_count() or 1
    ours = sum(r["mean_cores"] for r in procs.values())
    machine = report.get(MACHINE, {}).get("mean_cores", ours)
    if max(ours, machine) >= SATURATED_SHARE * cores:
        return "machine CPU (all cores busy" + ("" if ours >= SATURATED_SHARE * cores
                                                else ", other processes included") + ")"
    return "none"
