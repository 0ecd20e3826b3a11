"""The PostgreSQL store: the back end's portable SQL through psycopg 3 and a connection pool.

Why psycopg 3 and not SQLAlchemy Core: the back end's SQL is hand-written and already portable
(``?`` placeholders, ``INSERT ... ON CONFLICT``), so a query builder would only add a layer to
translate through and a second way to write queries; psycopg gives server-side parameters,
automatic prepared statements, pipelined ``executemany`` and a thread-safe pool, which is what
several workers on one database need, and nothing else.

What this module translates so the same SQL runs on both stores:

- ``?`` placeholders become ``%s`` (a literal ``%`` is doubled); translations are cached.
- DDL types (written in upper case): ``INTEGER`` becomes ``BIGINT`` (SQLite integers are
  64-bit), ``REAL`` becomes ``DOUBLE PRECISION`` (SQLite's REAL is 8 bytes; PostgreSQL's
  would be 4 and round unix times to minutes), ``BLOB`` becomes ``BYTEA``; ``WITHOUT ROWID``
  is dropped.
- Python ``bool`` parameters are sent as 0/1, as SQLite stores them.

Isolation is PostgreSQL's default, READ COMMITTED, with explicit row locks where money needs
them (``SELECT ... FOR UPDATE`` on the wallet, the hold or the charge a request changes) and
``INSERT ... ON CONFLICT`` for everything that must happen once (idempotency keys, used payment
codes, events, nonces): there is no process-wide lock, so several workers serve one database.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from backend.errors import BackendError
from backend.store import BaseStore

log = logging.getLogger(__name__)

_SCHEMA_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# Type names in upper case (the project's style; column names are lower case).
_DDL_TYPES = [(re.compile(r"\bINTEGER\b"), "BIGINT"),
              (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
              (re.compile(r"\bBLOB\b"), "BYTEA"),
              (re.compile(r"\)\s*WITHOUT\s+ROWID"), ")")]
_DDL_RE = re.compile(r"^\s*(CREATE|ALTER)\s", re.I)
_MIGRATION_LOCK = 0x5CA9_0001  # advisory lock id held while migrating


def parse_url(url: str) -> tuple[str, str]:
    """``(libpq URL, schema)`` of a store URL; ``?schema=name`` is ours (default ``public``)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = "public"
    rest = []
    for name, value in query:
        if name == "schema":
            schema = value
        else:
            rest.append((name, value))
    if not _SCHEMA_RE.fullmatch(schema):
        raise BackendError(f"schema must be lower-case letters, digits and _, not {schema!r}")
    scheme = "postgresql" if parts.scheme == "postgres" else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(rest), "")), schema


def pg_sql(sql: str, *, with_params: bool = True) -> str:
    """``sql`` as PostgreSQL runs it (see the module notes); ``with_params=False`` for a
    statement sent without parameters (its ``%`` and ``?`` stay as written)."""
    out = sql.replace("%", "%%").replace("?", "%s") if with_params else sql
    if _DDL_RE.match(sql):
        for pattern, replacement in _DDL_TYPES:
            out = pattern.sub(replacement, out)
    return out


_SQL_CACHE: dict[tuple[str, bool], str] = {}


def _translated(sql: str, with_params: bool = True) -> str:
    found = _SQL_CACHE.get((sql, with_params))
    if found is None:
        found = pg_sql(sql, with_params=with_params)
        if len(_SQL_CACHE) < 4096:
            _SQL_CACHE[(sql, with_params)] = found
    return found


def _params(params: Sequence[Any]) -> Sequence[Any]:
    for value in params:
        if value is True or value is False:
            return [int(v) if isinstance(v, bool) else v for v in params]
    return params


class PgRow(tuple):  # type: ignore[type-arg]
    """A result row answering ``row[0]`` and ``row["name"]``, like ``sqlite3.Row``."""

    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], index: dict[str, int]) -> PgRow:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._index[key])
            except KeyError:
                raise IndexError(f"no such column: {key}") from None
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        """Column names, in order."""
        return list(self._index)


def _row_factory(cursor: Any) -> Any:
    description = cursor.description
    index = {col.name: i for i, col in enumerate(description or ())}

    def make(values: Sequence[Any]) -> PgRow:
        return PgRow(values, index)

    return make


class PgConnection:
    """A psycopg connection with the portable SQL of :mod:`backend.store`."""

    __slots__ = ("raw",)
    dialect = "postgresql"

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; returns its cursor."""
        if not params:
            return self.raw.execute(_translated(sql, False))
        return self.raw.execute(_translated(sql), _params(params))

    def executemany(self, sql: str, rows: Any) -> Any:
        """Run one statement for each row of parameters (pipelined)."""
        cur = self.raw.cursor()
        cur.executemany(_translated(sql), [_params(r) for r in rows])
        return cur


class PgStore(BaseStore):
    """A PostgreSQL database through a psycopg pool; safe to share between threads and
    processes (each process opens its own pool)."""

    dialect = "postgresql"
    shared = True

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 16,
                 timeout_s: float = 10.0) -> None:
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise BackendError("the PostgreSQL store needs psycopg 3 and psycopg-pool "
                               "(pip install 'psycopg[binary]' psycopg-pool)") from None
        self.url = url
        conninfo, self.schema = parse_url(url)
        self._psycopg = psycopg
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=int(timeout_s)) \
                    as conn:
                if self.schema != "public":
                    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        except psycopg.Error as exc:
            raise BackendError(f"cannot open the back-end database {_safe(url)}: "
                               f"{str(exc).strip()}") from None
        kwargs: dict[str, Any] = {"row_factory": _row_factory, "autocommit": False}
        if self.schema != "public":
            kwargs["options"] = f"-c search_path={self.schema}"
        self._pool: Any = ConnectionPool(conninfo, min_size=min_size, max_size=max_size,
                                         kwargs=kwargs, timeout=timeout_s, open=True,
                                         name="scanpay-backend")
        try:
            self._pool.wait(timeout=timeout_s)  # min_size connections open before serving
        except Exception as exc:
            self._pool.close()
            raise BackendError(f"cannot connect to {_safe(url)}: {exc}") from None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._pool is None

    def _get_pool(self) -> Any:
        if self._pool is None:
            raise BackendError("the back-end database is closed")
        return self._pool

    @contextmanager
    def transaction(self) -> Iterator[PgConnection]:
        """A write transaction (READ COMMITTED): committed when the block ends, rolled back
        if it raises."""
        with self._get_pool().connection() as conn:
            yield PgConnection(conn)

    @property
    def concurrent_reads(self) -> bool:
        """False: a read waits on the network, so routes run it on their thread pool rather
        than on the event loop (where it would hold up every other request of the worker)."""
        return False

    @contextmanager
    def read(self) -> Iterator[PgConnection]:
        """Reads on a pooled connection in autocommit mode: no BEGIN and no ROLLBACK round
        trips (two of a score read's six); each statement sees the latest committed data."""
        with self._get_pool().connection() as conn:
            conn.autocommit = True
            try:
                yield PgConnection(conn)
            finally:
                conn.autocommit = False

    @contextmanager
    def exclusive(self) -> Iterator[PgConnection]:
        """A transaction holding the migration advisory lock (one process at a time)."""
        with self.transaction() as conn:
            conn.raw.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            yield conn

    def close(self) -> None:
        """Close the pool; safe to call more than once."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


def _safe(url: str) -> str:
    from backend.store import describe_url

    return describe_url(url)
