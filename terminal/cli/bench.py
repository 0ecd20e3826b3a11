"""`scanpay bench ...`: benchmarks that print numbers and write PNG plots next to them."""

from __future__ import annotations

import argparse
import importlib

# Benchmark modules; each exposes register(subparsers) like the top-level commands.
BENCH_MODULES: tuple[str, ...] = (
    "terminal.bench.qrparse",
    "terminal.bench.qr",
    "terminal.bench.face",
    "terminal.bench.smile",
    "terminal.bench.kiosk",
    "terminal.bench.crash",
    "terminal.bench.device",
    "terminal.bench.fuzz_api",
    "terminal.bench.load",
    "terminal.bench.fleet",
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `bench` command and its benchmarks."""
    parser = sub.add_parser("bench", help="run a benchmark (numbers plus PNG plots)")
    inner = parser.add_subparsers(dest="bench_command", metavar="BENCHMARK",
                                  parser_class=type(parser))
    inner.required = True
    for name in BENCH_MODULES:
        importlib.import_module(name).register(inner)
