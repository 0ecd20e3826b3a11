"""`scanpay config check FILE`: validate a configuration file."""

from __future__ import annotations

import argparse

from terminal.config import load_config


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `config` command."""
    parser = sub.add_parser("config", help="work with configuration files")
    inner = parser.add_subparsers(dest="config_command", metavar="ACTION")
    inner.required = True
    check = inner.add_parser("check", help="validate a configuration file and summarise it")
    check.add_argument("file", metavar="FILE", help="TOML configuration file")
    check.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    t = config.terminal
    where = "emulator" if config.emulator and config.emulator.enabled else config.gateway.url
    print(f"{args.file}: ok — terminal {t.id} ({t.role}), back end: {where}, "
          f"camera: {config.camera.kind}, lock: {config.lock.kind}")
    return 0
