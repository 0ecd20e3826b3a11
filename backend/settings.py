"""Settings of the reference back end."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backend.keyring import Keyring

# Development-only signing seed (same as the [emulator] default of the terminal config). It is
# public: every secret derived from it is known to anyone with the source. Used in dev mode only.
DEV_SIGNING_SEED_HEX = "5ca9a75ca9a75ca9a75ca9a75ca9a75ca9a75ca9a75ca9a75ca9a75ca9a75ca9"
# Terminals that get an API key at start-up in dev mode unless others are configured.
DEFAULT_TERMINALS: tuple[str, ...] = ("emu-bike-0001", "emu-kiosk-0001")
# Requests with a larger body are refused with 413 before it is read.
DEFAULT_MAX_BODY_BYTES = 1 << 20
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
# The store URL of settings that name none (e.g. postgresql://scanpay@db.internal/scanpay).
STORE_ENV = "SCANPAY_BACKEND_STORE"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (dev mode binds nothing else)."""
    import ipaddress

    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class BackendSettings:
    """How the reference back end stores data, signs codes and authenticates terminals.

    ``dev=True`` (the emulator's and the tests' mode) derives every secret from the public
    development seed, seeds the demo subjects, serves the /v1/dev routes and gives any terminal
    id a key on request; such a back end binds loopback only. ``dev=False`` takes its secrets
    from ``keyring`` (see :mod:`backend.keyring`) and nothing else.
    """

    # The store (backend.store.open_store): "" keeps everything in SQLite in memory (lost on
    # exit); a path or sqlite:///path is a SQLite file; postgresql://user@host:port/db is
    # PostgreSQL (?schema=name for a schema of its own). Default: $SCANPAY_BACKEND_STORE or "".
    database: str = field(default_factory=lambda: os.environ.get(STORE_ENV, ""))
    signing_seed_hex: str = DEV_SIGNING_SEED_HEX
    # Terminal ids given a development API key at start-up (role from the id, see roles.dev_role).
    terminals: tuple[str, ...] = DEFAULT_TERMINALS
    # Extra explicit development keys: API key -> terminal id.
    api_keys: Mapping[str, str] = field(default_factory=dict)
    # Seed the demo subjects (rider-good, rider-low, rider-blacklisted, rider-broke).
    seed_demo: bool = True
    # Unix-time clock; tests inject a controllable one.
    clock: Callable[[], float] = time.time
    # Routes under /v1/dev (emulator-only helpers); only ever served in dev mode.
    dev_routes: bool = True
    # Development mode: secrets from the public seed. False needs a keyring.
    dev: bool = True
    keyring: Keyring | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Refuse authenticated requests without a valid signature (payments.clients.signing).
    # Signed requests are checked either way.
    require_signatures: bool = False
    # Apply pending schema migrations at start-up; False refuses to start while any is
    # pending ('scanpay backend migrate' applies them).
    migrate: bool = True
    # Remember request-signature nonces in the database, so that several worker processes
    # refuse each other's replays; None: when the store is shared (PostgreSQL, or a SQLite
    # file opened by several workers).
    shared_nonces: bool | None = None
    # Several processes serve this database (SQLite: each waits on the file's lock).
    workers: int = 1
    # PostgreSQL connection pool per worker process.
    pool_min: int = 1
    pool_max: int = 16
    # While a person's dispute of an event or restriction is under review, it does not count
    # against them (docs/scoring.md, "Disputes").
    suspend_disputed_items: bool = True
    # Face templates unused for this many days are deleted by the retention job (a tombstone
    # with the date stays).
    face_retention_days: int = 1095
    # Lifetime of a person's report token (from their payment code or a terminal's QR link).
    person_token_ttl_s: int = 900
    # Name of this back end, given as the "source" of a person's report.
    name: str = "ScanPay reference back end"

    def __post_init__(self) -> None:
        try:
            seed = bytes.fromhex(self.signing_seed_hex)
        except ValueError:
            raise ValueError("signing_seed_hex must be 64 hex digits") from None
        if len(seed) != 32:
            raise ValueError("signing_seed_hex must be 64 hex digits (32 bytes)")
        if not self.dev and self.keyring is None:
            raise ValueError("outside dev mode the back end needs a keyring (its real secrets)")
        if self.dev and self.keyring is not None:
            raise ValueError("dev mode derives its secrets from the development seed; "
                             "drop the keyring or turn dev mode off")
        if not 1024 <= self.max_body_bytes <= 64 << 20:
            raise ValueError("max_body_bytes must be 1 KiB..64 MiB")
        if not 1 <= self.workers <= 64 or not 1 <= self.pool_min <= self.pool_max <= 200:
            raise ValueError("workers must be 1..64 and 1 <= pool_min <= pool_max <= 200")
        if not 1 <= self.face_retention_days <= 3650:
            raise ValueError("face_retention_days must be 1..3650")
        if not 60 <= self.person_token_ttl_s <= 86400:
            raise ValueError("person_token_ttl_s must be 60..86400 seconds")

    @property
    def store_options(self) -> dict[str, object]:
        """Keyword arguments of :func:`backend.store.open_store` for :attr:`database`."""
        if self.database.startswith(("postgresql://", "postgres://")):
            return {"min_size": self.pool_min, "max_size": self.pool_max}
        return {"shared": self.workers > 1}

    @property
    def serves_dev_routes(self) -> bool:
        """Whether the /v1/dev routes are mounted (dev mode and not switched off)."""
        return self.dev and self.dev_routes
