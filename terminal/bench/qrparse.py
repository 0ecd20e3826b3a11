"""`scanpay bench qrparse`: payment-QR parse speed by payload size, and a crash-hunting fuzz run.

Speed: merchant-presented payloads of 64-1024 characters (plus a CPM and a UPI code), timed
with ``time.perf_counter`` over many repetitions; the table gives the median of several runs.
Fuzz (``--fuzz N``): N inputs from random bytes, byte/character mutations of the seeds,
TLV-structure edits resealed with a correct CRC, BER edits for CPM and splices. Any exception
other than ``QRPayloadError`` is a crash; the first ones are saved to ``crashes.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SIZES = (97, 128, 256, 512, 1024, 1536)


def register(sub: argparse._SubParsersAction) -> None:
    """Add `bench qrparse`."""
    parser = sub.add_parser("qrparse", help="payment-QR parse speed and a fuzz run",
                            description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz", type=int, default=0, metavar="N",
                        help="also run N fuzzed inputs (e.g. 1000000)")
    parser.add_argument("--seed", type=int, default=1, help="fuzz random seed (default 1)")
    parser.add_argument("--repeat", type=int, default=2000, metavar="K",
                        help="parses per timing run (default 2000)")
    parser.add_argument("--runs", type=int, default=5, help="timing runs per size (default 5)")
    parser.add_argument("--out", type=Path, default=Path("bench-results/qrparse"),
                        help="output folder (default bench-results/qrparse)")
    parser.set_defaults(handler=_run)


def sized_payload(chars: int) -> str:
    """A conformant generic merchant-presented payload of exactly ``chars`` characters."""
    from payments.qr.crc import crc_hex
    from payments.qr.tlv import serialize

    base = serialize([("00", "01"), ("26", serialize([("00", "io.scanpay"), ("01", "M0001")])),
                      ("52", "5814"), ("53", "156"), ("54", "12.50"), ("58", "CN"),
                      ("59", "NOODLE BAR"), ("60", "SHANGHAI")])
    room = chars - len(base) - 8
    if room != 0 and not 23 <= room <= 20 * 97:
        raise ValueError(f"cannot build a {chars}-character payload")
    # Fillers are unreserved templates 80-99: 4 + 14 (GUI) + 4 + n characters, 1 <= n <= 75.
    sizes = []
    while room > 97 + 23:
        sizes.append(75)
        room -= 97
    if room > 97:
        sizes += [(room - 44) // 2, room - 44 - (room - 44) // 2]
    elif room:
        sizes.append(room - 22)
    extra = [(f"{80 + k}", serialize([("00", "io.scanpay"), ("01", "x" * n)]))
             for k, n in enumerate(sizes)]
    body = base + (serialize(extra) if extra else "")
    return body + "6304" + crc_hex(body + "6304")


def _time_one(payload: str, repeat: int, runs: int) -> list[float]:
    from payments.qr import parse_payload

    out = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(repeat):
            parse_payload(payload)
        out.append((time.perf_counter() - start) / repeat * 1e6)
    return out


def _speed(args: argparse.Namespace) -> list[dict[str, Any]]:
    from terminal.bench.qrparse_fuzz import builtin_seeds

    cases = [(f"mpm-{len(p)}", p) for p in (sized_payload(n) for n in SIZES)]
    seeds = builtin_seeds()
    cases += [("cpm", seeds[4]), ("upi", seeds[5])]
    rows = []
    for name, payload in cases:
        print(f"timing {name} ...", file=sys.stderr)
        times = _time_one(payload, args.repeat, args.runs)
        rows.append({"case": name, "chars": len(payload), "median_us": statistics.median(times),
                     "min_us": min(times), "max_us": max(times)})
    return rows


def _fuzz(args: argparse.Namespace) -> dict[str, Any]:
    from payments.qr import QRPayloadError, parse_payload
    from terminal.bench.qrparse_fuzz import fuzz_inputs, load_seeds

    seeds = load_seeds()
    outcomes: Counter[str] = Counter()
    by_mutator: Counter[str] = Counter()
    crashes: list[dict[str, Any]] = []
    step = max(1, args.fuzz // 20)
    start = time.perf_counter()
    for i, (mutator, data) in enumerate(fuzz_inputs(args.fuzz, args.seed, seeds), 1):
        by_mutator[mutator] += 1
        try:
            parsed = parse_payload(data)
        except QRPayloadError as exc:
            outcomes[f"error/{exc.layer}"] += 1
        except Exception as exc:  # a crash is what this run hunts for
            outcomes["CRASH"] += 1
            if len(crashes) < 50:
                crashes.append({"mutator": mutator, "input": repr(data),
                                "exception": f"{type(exc).__name__}: {exc}"})
        else:
            outcomes["conformant" if parsed.conformant else "parsed-with-violations"] += 1
        if i % step == 0:
            rate = i / (time.perf_counter() - start)
            print(f"fuzz {i:,}/{args.fuzz:,} ({rate:,.0f}/s), crashes {outcomes['CRASH']}",
                  file=sys.stderr)
    elapsed = time.perf_counter() - start
    return {"inputs": args.fuzz, "seed": args.seed, "seeds": len(seeds),
            "seconds": elapsed, "crashes": outcomes["CRASH"], "outcomes": dict(outcomes),
            "mutators": dict(by_mutator), "crash_samples": crashes}


def _plot(out: Path, rows: list[dict[str, Any]], fuzz: dict[str, Any] | None) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    mpm = [r for r in rows if r["case"].startswith("mpm-")]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r["chars"] for r in mpm], [r["median_us"] for r in mpm], marker="o",
            label="median")
    ax.fill_between([r["chars"] for r in mpm], [r["min_us"] for r in mpm],
                    [r["max_us"] for r in mpm], alpha=0.2, label="min-max of runs")
    ax.axhline(1000, color="red", linestyle="--", label="1 ms")
    ax.set_xlabel("payload characters (EMVCo MPM)")
    ax.set_ylabel("parse time per payload (µs)")
    ax.set_title("Payment-QR parse time")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    paths.append(out / "parse_time.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    if fuzz is not None:
        fig, ax = plt.subplots(figsize=(7, 4))
        names = sorted(fuzz["outcomes"])
        ax.barh(names, [fuzz["outcomes"][n] for n in names])
        ax.set_xlabel("inputs")
        ax.set_title(f"Fuzz outcomes: {fuzz['inputs']:,} inputs, {fuzz['crashes']} crashes")
        fig.tight_layout()
        paths.append(out / "fuzz_outcomes.png")
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)
    return paths


def _run(args: argparse.Namespace) -> int:
    from terminal.errors import TerminalError

    if args.fuzz < 0 or args.repeat < 1 or args.runs < 1:
        raise TerminalError("--fuzz must be >= 0 and --repeat/--runs >= 1")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TerminalError(f"cannot create {args.out}: {exc.strerror}") from None
    rows = _speed(args)
    print(f"{'case':<10} {'chars':>6} {'median µs':>10} {'min µs':>8} {'max µs':>8}")
    for r in rows:
        print(f"{r['case']:<10} {r['chars']:>6} {r['median_us']:>10.1f} {r['min_us']:>8.1f} "
              f"{r['max_us']:>8.1f}")
    fuzz = _fuzz(args) if args.fuzz else None
    if fuzz is not None:
        print(f"fuzz: {fuzz['inputs']:,} inputs in {fuzz['seconds']:.1f} s "
              f"(seed {fuzz['seed']}, {fuzz['seeds']} seeds), crashes: {fuzz['crashes']}")
        for name, n in sorted(fuzz["outcomes"].items()):
            print(f"  {name:<24} {n:>10,}")
        if fuzz["crash_samples"]:
            with (args.out / "crashes.jsonl").open("w", encoding="utf-8") as fh:
                for c in fuzz["crash_samples"]:
                    fh.write(json.dumps(c) + "\n")
    plots = _plot(args.out, rows, fuzz)
    (args.out / "results.json").write_text(json.dumps({"speed": rows, "fuzz": fuzz}, indent=2),
                                           encoding="utf-8")
    print(f"wrote {args.out / 'results.json'} and {', '.join(str(p) for p in plots)}")
    return 1 if fuzz is not None and fuzz["crashes"] else 0
