"""Versioned schema migrations, the same on SQLite and PostgreSQL.

The table ``schema_migrations`` lists every migration applied: its number (``version``, in the
order applied), its name, a checksum of its SQL and when it ran. The ordered list comes from
the registered modules (:func:`backend.app.migrations`):

1. ``backend.app:core`` — the core tables; then each module's ``SCHEMA_SQL`` as
   ``<module>:schema`` (idempotent ``CREATE TABLE/INDEX IF NOT EXISTS``), in the order the
   modules are registered. A module registered later simply adds its migration: databases made
   before it get it at their next start.
2. After its schema, a module's ``MIGRATIONS`` — a sequence of ``(name, sql)`` pairs, e.g.
   ``("0002_add_column", "ALTER TABLE t ADD COLUMN c TEXT")`` — each applied once, in order, as
   ``<module>:<name>``. Change a table this way, never by editing its ``SCHEMA_SQL``.

A schema script whose text changed since it was applied is run again (it only creates what is
missing: a new table or index) and its checksum updated; columns added to a ``CREATE TABLE``
there reach only new databases, hence the warning. Migrations run in one transaction that no
other process runs at the same time (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on
PostgreSQL), so several workers starting together migrate once. A database made before this
table existed is adopted: its schemas are re-run (they create nothing that exists) and recorded.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from backend.store import BaseStore, run_script

log = logging.getLogger(__name__)

TABLE_SQL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    checksum TEXT NOT NULL,
    applied_at REAL NOT NULL
)
"""


@dataclass(frozen=True)
class Migration:
    """One step: ``name`` (unique, ``<module>:<step>``) and its SQL script."""

    name: str
    sql: str
    # A module's idempotent schema script (re-run when its text changes) rather than a step.
    idempotent: bool = False

    @property
    def checksum(self) -> str:
        """SHA-256 of the SQL, whitespace-normalised."""
        return hashlib.sha256(" ".join(self.sql.split()).encode("utf-8")).hexdigest()[:16]


def from_modules(core: Iterable[tuple[str, str]], modules: Iterable[Any]) -> list[Migration]:
    """The ordered migrations: ``core`` ``(name, sql)`` schemas, then each module's
    ``SCHEMA_SQL`` and ``MIGRATIONS``."""
    out = [Migration(name, sql, idempotent=True) for name, sql in core]
    for module in modules:
        schema = getattr(module, "SCHEMA_SQL", "")
        if schema:
            out.append(Migration(f"{module.__name__}:schema", schema, idempotent=True))
        for step, sql in getattr(module, "MIGRATIONS", ()):
            out.append(Migration(f"{module.__name__}:{step}", sql))
    names = [m.name for m in out]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"migration names used twice: {', '.join(duplicates)}")
    return out


def applied(store: BaseStore) -> list[tuple[int, str, str, float]]:
    """``(version, name, checksum, applied_at)`` of every applied migration, in order."""
    with store.exclusive() as conn:
        run_script(conn, TABLE_SQL)
        return [(int(r[0]), str(r[1]), str(r[2]), float(r[3])) for r in conn.execute(
            "SELECT version, name, checksum, applied_at FROM schema_migrations"
            " ORDER BY version")]


def pending(store: BaseStore, migrations: list[Migration]) -> list[Migration]:
    """The migrations :func:`migrate` would run now."""
    done = {name: checksum for _, name, checksum, _ in applied(store)}
    return [m for m in migrations
            if m.name not in done or (m.idempotent and done[m.name] != m.checksum)]


def migrate(store: BaseStore, migrations: list[Migration], now: float) -> list[str]:
    """Apply what is pending, in order, in one exclusive transaction; returns the names run."""
    ran: list[str] = []
    with store.exclusive() as conn:
        run_script(conn, TABLE_SQL)
        done = {str(r[0]): str(r[1]) for r in conn.execute(
            "SELECT name, checksum FROM schema_migrations")}
        top = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") \
            .fetchone()[0]
        version = int(top)
        for migration in migrations:
            known = done.get(migration.name)
            if known == migration.checksum or (known is not None and not migration.idempotent):
                continue
            run_script(conn, migration.sql)
            if known is None:
                version += 1
                conn.execute("INSERT INTO schema_migrations(version, name, checksum, applied_at)"
                             " VALUES (?, ?, ?, ?)",
                             (version, migration.name, migration.checksum, now))
            else:
                log.warning("schema %s changed since it was applied: re-ran it (new tables and "
                            "indexes only; change columns with a migration step)",
                            migration.name)
                conn.execute("UPDATE schema_migrations SET checksum = ?, applied_at = ?"
                             " WHERE name = ?", (migration.checksum, now, migration.name))
            ran.append(migration.name)
    if ran:
        log.info("applied %d schema migration(s): %s", len(ran), ", ".join(ran))
    return ran
