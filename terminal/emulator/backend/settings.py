"""Settings of the reference back end."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

# Development-only signing seed (same as the [emulator] default of the terminal config).
DEV_SIGNING_SEED_HEX = "5ca9a75ca9a75ca9a75ca9a75ca9a75ca9a75ca9a75ca9a75ca9a75ca9a75ca9"
# Terminals that get an API key at start-up unless others are configured.
DEFAULT_TERMINALS: tuple[str, ...] = ("emu-bike-0001", "emu-kiosk-0001")


@dataclass(frozen=True)
class BackendSettings:
    """How the reference back end stores data, signs codes and authenticates terminals."""

    # SQLite file; "" keeps everything in memory (lost on exit).
    database: str = ""
    signing_seed_hex: str = DEV_SIGNING_SEED_HEX
    # Terminal ids given an API key at start-up (keys derive from the seed, see api_key_for).
    terminals: tuple[str, ...] = DEFAULT_TERMINALS
    # Extra explicit keys: API key -> terminal id.
    api_keys: Mapping[str, str] = field(default_factory=dict)
    # Seed the demo subjects (rider-good, rider-low, rider-blacklisted, rider-broke).
    seed_demo: bool = True
    # Unix-time clock; tests inject a controllable one.
    clock: Callable[[], float] = time.time
    # Routes under /v1/dev (emulator-only helpers); off for a production-like server.
    dev_routes: bool = True

    def __post_init__(self) -> None:
        try:
            seed = bytes.fromhex(self.signing_seed_hex)
        except ValueError:
            raise ValueError("signing_seed_hex must be 64 hex digits") from None
        if len(seed) != 32:
            raise ValueError("signing_seed_hex must be 64 hex digits (32 bytes)")
