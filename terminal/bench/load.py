"""`scanpay bench load`: many terminals against the reference back end over loopback HTTP.

A back end pre-filled with N events serves in its own process(es) (``scanpay backend serve
--workers N``): on a SQLite file (``--store sqlite``, the default), on a private PostgreSQL
server started for the run (``--store postgresql``: :mod:`backend.localpg`, fsync on, commits
not waiting for the WAL flush) or on a database you name (``--store postgresql://...``: the run
uses a schema of its own and drops it afterwards). This process plays ``--terminals`` concurrent
terminals, each on its own keep-alive connection, each sending one request at a time from a
fixed mix: score reads, event batches (10 chained events), payment-code resolves and deposit
holds, each signed as terminals sign them (``sign_requests``; the back end serves with
``--require-signatures``, so every request also costs a remembered nonce; ``--unsigned`` for
bearer keys only). Requests/s and p50/p95/p99 latency per call kind go to ``load.json`` and a
latency histogram to ``load.png``.

Back to back (the default) each terminal sends its next request as soon as its answer comes:
that measures capacity. Paced (``--rate R``) the terminals together offer R requests a second,
each request timed from when it was due: the issue's target is a paced run, ``--workers 2
--rate 1000`` on this 2-core machine (:func:`target_verdict`).

The client is stdlib asyncio on raw HTTP/1.1 rather than threads with ``requests``: on a 2-core
machine the load generator shares the CPU with the server, and a thread-per-terminal client
with a full HTTP library spends more CPU per request than the server it measures. No new
dependency either.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Share of each call kind in the mix.
DEFAULT_MIX: Mapping[str, float] = {"score": 0.5, "events": 0.2, "resolve": 0.15, "hold": 0.15}
KINDS: tuple[str, ...] = tuple(DEFAULT_MIX)
EVENTS_PER_BATCH = 10
SUBJECTS_PER_TERMINAL = 8
WARMUP_S = 2.0
# Targets of issue #10 at 128 terminals and 100k stored events.
TARGET_RPS = 1000.0
TARGET_P99_MS = 100.0
# A paced run kept up when it answered at least this share of what it offered.
KEPT_UP = 0.98


@dataclass(frozen=True)
class LoadPlan:
    """What to run: terminals, stored events, seconds measured, server processes, mix."""

    terminals: int = 128
    events: int = 100_000
    seconds: float = 20.0
    workers: int = 1
    seed: int = 1
    # "sqlite", "postgresql" (a private server for the run) or a store URL.
    store: str = "sqlite"
    # PostgreSQL connections per worker at most.
    pool_max: int = 16
    # Offered requests/s over all terminals (paced); 0: closed loop, as fast as answers come.
    rate: float = 0.0
    # Sign every request as terminals do (sign_requests on in the example configurations)
    # and serve with --require-signatures; False: bearer key only.
    signed: bool = True
    mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))


@dataclass
class _Terminal:
    terminal_id: str
    key: str
    subjects: list[str]
    codes: list[str]
    prev_hash: str | None = None


def _terminal_ids(n: int) -> list[str]:
    return [f"load-bike-{i:04d}" for i in range(n)]


def prefill(db: Path | str, plan: LoadPlan, now: float) -> list[_Terminal]:
    """Create the database: subjects, ``plan.events`` scored events, each terminal's served
    subjects and payer proofs, and unused payment codes for its resolves."""
    from backend.app import create_app
    from backend.score_state import add_event
    from backend.settings import BackendSettings
    from payments.paycode import issue_code

    app = create_app(BackendSettings(database=str(db), seed_demo=False))
    backend = app.state.backend
    rng = random.Random(plan.seed)
    terminals: list[_Terminal] = []
    # Enough codes for a terminal resolving at 4x the target rate of its share.
    per_terminal_rate = TARGET_RPS / max(1, plan.terminals)
    n_codes = int((plan.seconds + WARMUP_S) * per_terminal_rate * plan.mix.get("resolve", 0)
                  * 4) + 5
    try:
        with backend.store.transaction() as conn:
            subjects: list[str] = []
            for tid in _terminal_ids(plan.terminals):
                mine = [f"load-sub-{tid[-4:]}-{j}" for j in range(SUBJECTS_PER_TERMINAL)]
                subjects += mine
                conn.executemany(
                    "INSERT INTO subjects(subject_id, description, created_at) VALUES (?, '', ?)",
                    [(s, now) for s in mine])
                conn.executemany("INSERT INTO wallets(subject_id, currency, balance_minor)"
                                 " VALUES (?, 'CNY', ?)", [(s, 10**12) for s in mine])
                conn.executemany("INSERT INTO served_subjects(terminal_id, subject_id, first_at)"
                                 " VALUES (?, ?, ?)", [(tid, s, now) for s in mine])
                conn.executemany("INSERT INTO payer_proofs(terminal_id, subject_id, source,"
                                 " proved_at, expires_at) VALUES (?, ?, 'code', ?, ?)",
                                 [(tid, s, now, now + 86400.0) for s in mine])
                codes = [issue_code(rng.choice(mine), signing_key=backend.signing_key, now=now,
                                    ttl_s=3600) for _ in range(n_codes)]
                terminals.append(_Terminal(tid, backend.api_key_for(tid), mine, codes))
            kinds = [("ride.ended", {"on_time": True}), ("ride.ended", {"on_time": False}),
                     ("ride.started", {}), ("payment.declined", {}),
                     ("parking.reported", {"misparked": True})]
            for n in range(plan.events):
                kind, attributes = kinds[n % len(kinds)]
                add_event(conn, {"id": f"evt_{n:032x}", "type": kind,
                                 "time": "2026-11-26T10:30:00Z", "terminal_id": "load-history",
                                 "subject_id": subjects[n % len(subjects)],
                                 "attributes": attributes}, now=now)
    finally:
        backend.close()
    return terminals


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def store_for(store: str, work_dir: Path,
              pids: dict[str, int] | None = None) -> Iterator[str]:
    """The store URL of a run: a SQLite file in ``work_dir``, a private PostgreSQL server
    (stopped afterwards; its pid put in ``pids["postgres"]``), or the URL given (PostgreSQL:
    in a schema of its own, dropped afterwards)."""
    from terminal.errors import TerminalError

    if store == "sqlite":
        yield str(work_dir / "load.sqlite3")
        return
    if store == "postgresql":
        from backend.errors import BackendError
        from backend.localpg import LocalPostgres

        try:
            server = LocalPostgres(durable=True).start()
        except BackendError as exc:
            raise TerminalError(str(exc)) from None
        if pids is not None and server.pid is not None:
            pids["postgres"] = server.pid
        try:
            yield server.url()
        finally:
            server.stop()
        return
    if store.startswith(("postgresql://", "postgres://")):
        import psycopg

        from backend.pgstore import parse_url

        schema = f"scanpay_load_{uuid.uuid4().hex[:8]}"
        yield store + ("&" if "?" in store else "?") + f"schema={schema}"
        with psycopg.connect(parse_url(store)[0], autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        return
    path = Path(store.removeprefix("sqlite://"))
    if path.exists():
        raise TerminalError(f"{path} exists; --store takes a new SQLite file (the run fills it)")
    yield str(path)


def start_server(db: Path | str, workers: int, terminals: list[str], pool_max: int = 16,
                 signed: bool = False) -> tuple[subprocess.Popen[bytes], int]:
    """Serve the back end on loopback (``scanpay backend serve --dev``) in ``workers``
    processes, with development keys for ``terminals`` (``--require-signatures`` when
    ``signed``); waits for health."""
    from terminal.errors import TerminalError

    port = _free_port()
    cmd = [sys.executable, "-m", "terminal.cli.main", "backend", "serve", "--dev",
           "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
           "--store", str(db), "--no-dev-routes", "--pool-max", str(pool_max)]
    for terminal_id in terminals:
        cmd += ["--terminal", terminal_id]
    if signed:
        cmd.append("--require-signatures")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise TerminalError(f"the back end exited with {proc.returncode} at start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
                sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return proc, port
        except OSError:
            pass
        time.sleep(0.1)  # polling a child process's port: there is no event to await
    proc.terminate()
    raise TerminalError("the back end did not answer /v1/health within 60 s")


class _Connection:
    """One keep-alive HTTP/1.1 connection (a terminal's)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, headers: Mapping[str, str],
                      body: bytes = b"") -> tuple[int, bytes]:
        """Send one request and read its answer (reconnecting after ``Connection: close``)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            return await self._exchange(method, path, headers, body)
        except (ConnectionError, asyncio.IncompleteReadError, IndexError):
            self.close()
            raise

    async def _exchange(self, method: str, path: str, headers: Mapping[str, str],
                        body: bytes) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1",
                 *(f"{k}: {v}" for k, v in headers.items())]
        if body or method == "POST":
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        length, chunked, closing = 0, False, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                closing = True
        if not chunked:
            data = await self.reader.readexactly(length)
        else:
            data = b""
            while size := int((await self.reader.readline()).strip() or b"0", 16):
                data += (await self.reader.readexactly(size + 2))[:-2]
            await self.reader.readline()
        if closing:
            self.close()
        return status, data

    def close(self) -> None:
        """Close the connection (the next request opens a new one); idempotent."""
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _build(kind: str, term: _Terminal, rng: random.Random, all_subjects: list[str],
           signed: bool = True) -> tuple[str, str, dict[str, str], bytes] | None:
    """One request of ``kind`` from ``term`` (None: out of payment codes), signed as a
    terminal signs it when ``signed``."""
    request = _unsigned(kind, term, rng, all_subjects)
    if request is None or not signed:
        return request
    from payments.clients.signing import sign_request

    method, path, headers, body = request
    return method, path, {**headers, **sign_request(term.key, method, path, body)}, body


def _unsigned(kind: str, term: _Terminal, rng: random.Random,
              all_subjects: list[str]) -> tuple[str, str, dict[str, str], bytes] | None:
    from payments.event_chain import chain_hash

    auth = {"Authorization": f"Bearer {term.key}"}
    if kind == "score":
        return "GET", f"/v1/subjects/{rng.choice(all_subjects)}/score", auth, b""
    if kind == "events":
        events = []
        for _ in range(EVENTS_PER_BATCH):
            event = {"id": f"evt_{uuid.uuid4().hex}", "schema": 1, "type": "ride.ended",
                     "time": "2026-11-30T10:30:00.000Z", "terminal_id": term.terminal_id,
                     "subject_id": rng.choice(term.subjects),
                     "attributes": {"on_time": rng.random() < 0.9, "duration_s": 900},
                     "prev_hash": term.prev_hash}
            term.prev_hash = chain_hash(event, term.prev_hash)
            events.append(event)
        return "POST", "/v1/events:batch", auth, json.dumps({"events": events}).encode()
    keyed = {**auth, "Idempotency-Key": uuid.uuid4().hex}
    if kind == "resolve":
        if not term.codes:
            return None
        return ("POST", "/v1/payment-codes/resolve", keyed,
                json.dumps({"code": term.codes.pop()}).encode())
    body = {"subject_id": rng.choice(term.subjects), "reference": f"ride_{uuid.uuid4().hex[:12]}",
            "amount": {"amount_minor": 1, "currency": "CNY"}}
    return "POST", "/v1/holds", keyed, json.dumps(body).encode()


async def _drive(port: int, terminals: list[_Terminal], plan: LoadPlan,
                 meter: Any = None
                 ) -> tuple[dict[str, list[float]], dict[str, dict[str, int]], float]:
    """Run every terminal until the measured window ends; latencies (s) and statuses per kind,
    and the measured window's length."""
    latencies: dict[str, list[float]] = {k: [] for k in KINDS}
    statuses: dict[str, dict[str, int]] = {k: {} for k in KINDS}
    all_subjects = [s for t in terminals for s in t.subjects]
    kinds = [k for k in KINDS if plan.mix.get(k, 0) > 0]
    weights = [plan.mix[k] for k in kinds]
    loop = asyncio.get_running_loop()
    start = loop.time()
    measure_from, stop_at = start + WARMUP_S, start + WARMUP_S + plan.seconds

    # Paced: each terminal sends every `interval` s; 0: the next request as soon as an answer
    # arrives (closed loop: latency is then terminals / throughput, by Little's law).
    interval = len(terminals) / plan.rate if plan.rate > 0 else 0.0

    async def terminal(i: int, term: _Terminal) -> None:
        rng = random.Random(plan.seed * 100_003 + i)
        conn = _Connection(port)
        due = start + rng.random() * interval
        try:
            while True:
                if interval:
                    if due > loop.time():
                        await asyncio.sleep(due - loop.time())  # pacing, not synchronisation
                    intended, due = due, due + interval
                else:
                    intended = loop.time()
                if intended >= stop_at:
                    break
                kind = rng.choices(kinds, weights)[0]
                request = _build(kind, term, rng, all_subjects, plan.signed)
                if request is None:  # out of payment codes: read a score instead
                    kind, request = "score", _build("score", term, rng, all_subjects,
                                                    plan.signed)
                    assert request is not None
                status, body = await conn.request(*request)
                # From when it was due, so a server that falls behind is not flattered
                # (no coordinated omission).
                took = loop.time() - intended
                if intended >= measure_from:
                    latencies[kind].append(took)
                    statuses[kind][str(status)] = statuses[kind].get(str(status), 0) + 1
                    if kind == "events" and status == 200:  # refused events are failures too
                        refused = len(json.loads(body)["rejected"])
                        if refused:
                            statuses[kind]["refused_events"] = \
                                statuses[kind].get("refused_events", 0) + refused
        finally:
            conn.close()

    async def sample_cpu() -> None:
        """CPU use of the back end, the database and this process over the measured window."""
        await asyncio.sleep(max(0.0, measure_from - loop.time()))
        while True:
            meter.sample()
            if loop.time() >= stop_at:
                return
            await asyncio.sleep(min(1.0, max(0.0, stop_at - loop.time())))

    extra = [sample_cpu()] if meter is not None else []
    await asyncio.gather(*(terminal(i, t) for i, t in enumerate(terminals)), *extra)
    return latencies, statuses, max(loop.time(), stop_at) - measure_from


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarise(latencies: Mapping[str, list[float]], statuses: Mapping[str, Mapping[str, int]],
              window_s: float, plan: LoadPlan) -> dict[str, Any]:
    """Requests/s and latency percentiles (ms) per call kind and overall."""
    def stats(values: list[float], codes: Mapping[str, int]) -> dict[str, Any]:
        return {"requests": len(values), "rps": round(len(values) / window_s, 1),
                "p50_ms": round(_percentile(values, 0.50) * 1e3, 1),
                "p95_ms": round(_percentile(values, 0.95) * 1e3, 1),
                "p99_ms": round(_percentile(values, 0.99) * 1e3, 1),
                "max_ms": round(max(values, default=0.0) * 1e3, 1),
                "statuses": dict(sorted(codes.items())),
                "errors": sum(n for c, n in codes.items() if not c.startswith("2"))}
    # "refused_events" counts events inside 200 answers; an error, not a request.

    everything = [v for values in latencies.values() for v in values]
    merged: dict[str, int] = {}
    for codes in statuses.values():
        for code, n in codes.items():
            merged[code] = merged.get(code, 0) + n
    total = stats(everything, merged)
    return {"terminals": plan.terminals, "stored_events": plan.events,
            "seconds": round(window_s, 2), "workers": plan.workers, "seed": plan.seed,
            "store": store_kind(plan.store), "pool_max": plan.pool_max,
            "offered_rps": plan.rate or None, "signed": plan.signed,
            "mix": dict(plan.mix), "cpus": os.cpu_count(), "total": total,
            "by_kind": {k: stats(latencies[k], statuses[k]) for k in KINDS if latencies[k]},
            "target": target_verdict(total, plan)}


def target_verdict(total: Mapping[str, Any], plan: LoadPlan) -> dict[str, Any]:
    """Whether the run shows issue #10's target: the terminals together send at least
    :data:`TARGET_RPS` requests a second and p99 stays within :data:`TARGET_P99_MS`.

    Paced (``--rate``), it is met when the offered rate is at least the target, the back end
    answered at least :data:`KEPT_UP` of it (the window's edges cost a few requests), and p99,
    timed from when each request was due, is within the limit. In the closed loop, 128
    terminals each waiting for their answer make latency terminals / throughput on average
    (Little's law), so p99 within 100 ms there needs far more than 1,000 req/s: the closed
    loop measures capacity, and the verdict asks the same of it literally."""
    if plan.rate > 0:
        met = (plan.rate >= TARGET_RPS and total["rps"] >= KEPT_UP * plan.rate
               and total["p99_ms"] <= TARGET_P99_MS)
    else:
        met = total["rps"] >= TARGET_RPS and total["p99_ms"] <= TARGET_P99_MS
    return {"rps": TARGET_RPS, "p99_ms": TARGET_P99_MS,
            "mode": "paced" if plan.rate > 0 else "closed_loop", "met": met}


def run_load(plan: LoadPlan, work_dir: Path) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Pre-fill, serve, drive; returns the summary and the raw latencies (s) per kind."""
    from terminal.bench.fleet_cpu import CpuMeter

    pids: dict[str, int] = {}
    with store_for(plan.store, work_dir, pids) as db:
        started = time.monotonic()
        terminals = prefill(db, plan, time.time())
        prefill_s = time.monotonic() - started
        print(f"load: pre-filled in {prefill_s:.1f} s; serving with {plan.workers} worker(s)",
              file=sys.stderr, flush=True)
        proc, port = start_server(db, plan.workers, [t.terminal_id for t in terminals],
                                  plan.pool_max, plan.signed)
        roots = {"backend": proc.pid, **pids, "load_generator": os.getpid()}
        meter = CpuMeter(roots, {"backend": float(plan.workers), "postgres": float(
            os.cpu_count() or 1), "load_generator": 1.0})
        try:
            latencies, statuses, window = asyncio.run(_drive(port, terminals, plan, meter))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    summary = summarise(latencies, statuses, window, plan)
    summary["prefill_s"] = round(prefill_s, 1)
    # Mean cores used over the measured window: where the machine's time went.
    summary["cpu_cores"] = {name: r["mean_cores"] for name, r in meter.report().items()}
    return summary, latencies


def store_kind(store: str) -> str:
    """"sqlite" or "postgresql" for a --store value (a URL's password never reported)."""
    return "postgresql" if store.startswith(("postgresql", "postgres://")) else "sqlite"


def plot_latencies(latencies: Mapping[str, list[float]], summary: Mapping[str, Any],
                   path: Path) -> None:
    """A latency histogram per call kind (log-spaced bins, ms), p99 marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    everything = [v * 1e3 for values in latencies.values() for v in values]
    if not everything:
        return
    bins = np.logspace(np.log10(max(0.1, min(everything))), np.log10(max(everything) * 1.05), 60)
    fig, ax = plt.subplots(figsize=(9, 5))
    for kind, values in latencies.items():
        if values:
            p99 = summary["by_kind"][kind]["p99_ms"]
            ax.hist([v * 1e3 for v in values], bins=bins, histtype="step", linewidth=1.5,
                    label=f"{kind}: {summary['by_kind'][kind]['rps']}/s, p99 {p99} ms")
    ax.axvline(TARGET_P99_MS, color="grey", linestyle="--", label="p99 target 100 ms")
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("requests")
    total = summary["total"]
    offered = summary.get("offered_rps")
    mode = f"offered {offered:g} req/s" if offered else "closed loop"
    signed = "signed" if summary.get("signed", True) else "unsigned"
    ax.set_title(f"{summary['terminals']} terminals, {summary['stored_events']} stored events, "
                 f"{summary.get('store', 'sqlite')}, {summary['workers']} worker(s), {mode}, "
                 f"{signed}: {total['rps']} req/s, p99 {total['p99_ms']} ms", fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def register(sub: argparse._SubParsersAction) -> None:
    """Add `bench load`."""
    parser = sub.add_parser("load", help="many terminals against the back end over HTTP",
                            description=__doc__.splitlines()[0])
    parser.add_argument("--terminals", type=int, default=128, metavar="N",
                        help="concurrent terminals (default 128)")
    parser.add_argument("--events", type=int, default=100_000, metavar="N",
                        help="events stored before the run (default 100000)")
    parser.add_argument("--seconds", type=float, default=20.0, metavar="S",
                        help=f"measured seconds, after {WARMUP_S:g} s of warm-up (default 20)")
    parser.add_argument("--workers", default="1", metavar="W[,W...]",
                        help="back-end worker processes over the one store (default 1); "
                             "several counts (e.g. 1,4) run one after the other and plot "
                             "requests/s against workers (load[-pg]-scaling.png)")
    parser.add_argument("--store", default="sqlite", metavar="STORE",
                        help="sqlite (a file, the default), postgresql (a private server "
                             "started for the run; needs Debian's postgresql) or a store URL "
                             "(postgresql://...: the run uses a schema of its own, dropped "
                             "afterwards; or a new SQLite file path)")
    parser.add_argument("--rate", type=float, default=0.0, metavar="R",
                        help="offered requests/s over all terminals, each terminal paced; "
                             "0 (default): closed loop, each terminal sends as soon as it has "
                             "its answer")
    parser.add_argument("--unsigned", action="store_true",
                        help="send bearer keys only; by default every request is signed as "
                             "terminals sign them (sign_requests) and the back end serves "
                             "with --require-signatures (a nonce remembered per request)")
    parser.add_argument("--pool-max", type=int, default=16, metavar="N",
                        help="PostgreSQL connections per worker at most (default 16)")
    parser.add_argument("--seed", type=int, default=1, metavar="S", help="random seed")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", type=Path, default=Path("bench-results/load"),
                        help="output folder (default bench-results/load)")
    parser.set_defaults(handler=_run)


def _workers(text: str) -> list[int]:
    from terminal.errors import TerminalError

    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        counts = []
    if not counts or any(not 1 <= n <= 64 for n in counts):
        raise TerminalError(f"--workers takes worker counts 1..64, comma-separated, not {text!r}")
    return counts


def plot_scaling(summaries: list[dict[str, Any]], path: Path) -> None:
    """Requests/s and p99 against the number of workers (one run each)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workers = [s["workers"] for s in summaries]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5))
    left.bar([str(w) for w in workers], [s["total"]["rps"] for s in summaries], color="#4c72b0")
    left.set_xlabel("workers")
    left.set_ylabel("requests/s (closed loop)" if not summaries[0]["offered_rps"]
                    else "requests/s")
    base = summaries[0]["total"]["rps"] or 1.0
    for i, s in enumerate(summaries):
        cores = s.get("cpu_cores", {}).get("backend")
        note = f"x{s['total']['rps'] / base:.2f}" + (f"\n{cores:.2f} cores" if cores else "")
        left.annotate(note, (i, s["total"]["rps"]), ha="center", va="bottom")
    right.plot(workers, [s["total"]["p99_ms"] for s in summaries], marker="o", label="p99")
    right.plot(workers, [s["total"]["p50_ms"] for s in summaries], marker="o", label="p50")
    right.axhline(TARGET_P99_MS, color="grey", linestyle="--", label="p99 target")
    right.set_xlabel("workers")
    right.set_ylabel("latency (ms)")
    right.set_yscale("log")
    right.legend()
    first = summaries[0]
    fig.suptitle(f"{first['store']}: {first['terminals']} terminals, {first['stored_events']} "
                 f"stored events, {first['cpus']} CPUs")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _run(args: argparse.Namespace) -> int:
    from terminal.errors import TerminalError

    counts = _workers(args.workers)
    if args.terminals < 1 or args.events < 0 or args.seconds <= 0 or args.rate < 0:
        raise TerminalError("--terminals must be >= 1, --events and --rate >= 0, --seconds > 0")
    summaries = [_one(args, LoadPlan(
        terminals=args.terminals, events=args.events, seconds=args.seconds, workers=n,
        seed=args.seed, rate=args.rate, store=args.store, pool_max=args.pool_max,
        signed=not args.unsigned))
        for n in counts]
    if len(summaries) > 1:
        name = f"load{'-pg' if summaries[0]['store'] == 'postgresql' else ''}-scaling" \
            + (f"-r{args.rate:g}" if args.rate else "")
        (args.out / f"{name}.json").write_text(json.dumps(summaries, indent=2) + "\n",
                                               encoding="utf-8")
        plot_scaling(summaries, args.out / f"{name}.png")
        base = summaries[0]["total"]["rps"] or 1.0
        if not args.json:
            print("scaling: " + ", ".join(
                f"{s['workers']} worker(s) {s['total']['rps']} req/s "
                f"(x{s['total']['rps'] / base:.2f})" for s in summaries))
            print(f"wrote {args.out}/{name}.json and {name}.png")
    return 0


def _one(args: argparse.Namespace, plan: LoadPlan) -> dict[str, Any]:
    print(f"load: pre-filling {plan.events} events for {plan.terminals} terminals ...",
          file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="scanpay-load-") as tmp:
        summary, latencies = run_load(plan, Path(tmp))
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = ("-pg" if store_kind(plan.store) == "postgresql" else "") \
        + ("" if plan.workers == 1 else f"-w{plan.workers}") \
        + (f"-r{plan.rate:g}" if plan.rate else "")
    (args.out / f"load{suffix}.json").write_text(json.dumps(summary, indent=2) + "\n",
                                                 encoding="utf-8")
    plot_latencies(latencies, summary, args.out / f"load{suffix}.png")
    if args.json:
        print(json.dumps(summary))
        return summary
    total = summary["total"]
    offered = f"offered {plan.rate:g} req/s" if plan.rate else "closed loop"
    print(f"load: {plan.terminals} terminals, {plan.events} stored events, "
          f"{store_kind(plan.store)}, {plan.workers} worker(s), {offered}, "
          f"{'signed' if plan.signed else 'unsigned'}, "
          f"{summary['seconds']} s: {total['rps']} req/s, "
          f"p50 {total['p50_ms']} ms, p95 {total['p95_ms']} ms, p99 {total['p99_ms']} ms, "
          f"{total['errors']} errors")
    for kind, s in summary["by_kind"].items():
        print(f"  {kind:8s} {s['rps']:8.1f}/s  p50 {s['p50_ms']:6.1f}  p95 {s['p95_ms']:6.1f}  "
              f"p99 {s['p99_ms']:6.1f} ms  statuses {s['statuses']}")
    cpu = summary.get("cpu_cores", {})
    if cpu:
        print("  CPU (cores, mean): " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()))
    met = "met" if summary["target"]["met"] else "not met"
    how = (f"offered {plan.rate:g} req/s, kept up and p99 <= {TARGET_P99_MS:g} ms"
           if plan.rate else f"closed loop >= {TARGET_RPS:g} req/s with p99 <= "
           f"{TARGET_P99_MS:g} ms (paced: --rate {TARGET_RPS:g})")
    print(f"target ({how}): {met}")
    print(f"wrote {args.out}/load{suffix}.json and load{suffix}.png")
    return summary
