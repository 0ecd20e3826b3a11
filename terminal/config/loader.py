"""Read a TOML configuration file into a :class:`Config`."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from terminal.config.binder import bind
from terminal.config.schema import Config
from terminal.errors import ConfigError

DEFAULTS_PACKAGE = "terminal.config.defaults"


def default_config_path(name: str) -> Path:
    """The embedded default file ``name`` ("emulator", "bike-lock", "kiosk")."""
    path = Path(str(resources.files(DEFAULTS_PACKAGE).joinpath(f"{name}.toml")))
    if not path.is_file():
        raise ConfigError(f"no embedded default configuration named {name!r}")
    return path


def load_config(path: str | Path) -> Config:
    """Load and validate the configuration file at ``path``."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{source}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror or exc}") from None
    return parse_config(raw, source=source)


def parse_config(raw: bytes, *, source: str) -> Config:
    """Validate TOML bytes ``raw``; ``source`` names them in error messages."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    return bind(Config, data, source=source)
