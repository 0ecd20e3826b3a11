"""`scanpay doctor [--config FILE] [--json]`: check a unit and say how to fix what is wrong."""

from __future__ import annotations

import argparse
import json

# Where the systemd units read their configuration (docs/raspberry-pi.md).
DEFAULT_CONFIGS = ("/etc/scanpay/bike-lock.toml", "/etc/scanpay/kiosk.toml")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `doctor` command."""
    parser = sub.add_parser(
        "doctor", help="check this unit: camera, lock, libzbar, models, clock, back end, disk",
        description="Check what a unit needs, one line per check with what to do when it "
        "fails: the camera (opens, frame size, frame rate delivered), the lock's pins and latch, "
        "libzbar, each configured model file and its checksum, clock sync, the back end "
        "(reachable, key accepted, clock skew), free disk for the outbox and the rental "
        "journal, and the outbox's backlog. Exit status 1 when something needed fails. Stop a "
        "running unit first: the camera and the pins can be opened by one process only.")
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="configuration file (default: the first of "
                        f"{' and '.join(DEFAULT_CONFIGS)} that exists)")
    parser.add_argument("--json", action="store_true",
                        help='one JSON object {"ok", "checks": [{"name", "ok", "detail", "fix"}]}')
    parser.set_defaults(handler=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    from pathlib import Path

    from terminal.config import load_config
    from terminal.doctor import run_checks
    from terminal.errors import ConfigError

    path = args.config or next((p for p in DEFAULT_CONFIGS if Path(p).is_file()), None)
    if path is None:
        raise ConfigError(f"no configuration at {' or '.join(DEFAULT_CONFIGS)}: "
                          "pass --config FILE")
    config = load_config(path)
    if args.json:
        report = run_checks(config)
        print(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        report = run_checks(config, on_result=lambda r: print(r.line(), flush=True))
        print("all needed checks passed" if report.ok else "something needed fails (see FAIL)")
    return 0 if report.ok else 1
