"""The `scanpay` command line: one parser, sub-commands registered from their own modules.

Every sub-command module exposes ``register(subparsers)``, which adds its parser and sets
``handler`` to a function ``(argparse.Namespace) -> int``. Modules import heavy libraries
(OpenCV, dlib, FastAPI) inside their handlers, so ``scanpay --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from backend.errors import BackendError
from hardware.errors import HardwareError
from payments.errors import PaymentsError
from terminal.errors import TerminalError
from vision.errors import VisionError

# Sub-command modules, in the order `scanpay --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "terminal.cli.demo",
    "terminal.cli.run",
    "terminal.cli.emulate",
    "terminal.cli.config_cmd",
    "terminal.cli.bench",
    "terminal.cli.qr",
    "terminal.cli.backend",
    "terminal.cli.decode",
    "terminal.cli.face",
    "terminal.cli.doctor",
    "terminal.cli.person",
)

# The command each module registers, so `scanpay run` imports only what `run` needs (the
# benchmark and demo modules pull in the face stack's modules; a bike unit must not).
COMMAND_NAMES: dict[str, str] = {
    "demo": "terminal.cli.demo",
    "run": "terminal.cli.run",
    "emulate": "terminal.cli.emulate",
    "config": "terminal.cli.config_cmd",
    "bench": "terminal.cli.bench",
    "qr": "terminal.cli.qr",
    "backend": "terminal.cli.backend",
    "decode": "terminal.cli.decode",
    "face": "terminal.cli.face",
    "doctor": "terminal.cli.doctor",
    "person": "terminal.cli.person",
}

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

_KNOWN_ERRORS = (TerminalError, PaymentsError, VisionError, HardwareError, BackendError)


class OneLineArgumentParser(argparse.ArgumentParser):
    """An argument parser that reports a usage error as one line and exits with 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the `scanpay` parser with every registered sub-command, or only with ``only``'s
    module (a command name of :data:`COMMAND_NAMES`)."""
    parser = OneLineArgumentParser(
        prog="scanpay",
        description="ScanPay payment terminal: bike-lock unit, ordering kiosk and emulator.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    parser.add_argument("--version", action="version", version=f"scanpay {_version()}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=OneLineArgumentParser
    )
    sub.required = True
    modules = (COMMAND_NAMES[only],) if only in COMMAND_NAMES else COMMAND_MODULES
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv`` (first word that is not an option), if any."""
    for word in argv:
        if word in ("-h", "--help", "--version"):
            return None
        if not word.startswith("-"):
            return word
    return None


def _version() -> str:
    """The installed package's version, or "unknown" when run from an uninstalled tree."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scanpay")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Run `scanpay` with ``argv`` (default: the process arguments); return the exit status."""
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(only=_command_of(words))
    args = parser.parse_args(words)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args) or 0)
    except _KNOWN_ERRORS as exc:
        print(f"scanpay: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("scanpay: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
