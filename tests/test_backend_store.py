"""The store layer: URLs, the portable SQL, migrations, and money exactly once under races.

Runs on SQLite and PostgreSQL (tests/pg_support.py). The races matter on PostgreSQL, where
transactions of several threads (or worker processes) run at once.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from backend import BackendServer, BackendSettings
from backend.app import create_app, migrations
from backend.errors import ApiError, BackendError
from backend.ledger import place_hold
from backend.migrations import applied, from_modules, migrate, pending
from backend.pgstore import parse_url, pg_sql
from backend.seed import add_subject
from backend.store import BaseStore, describe_url, open_store, split_statements
from payments.money import Money

NOW = 1_795_689_000.0


@pytest.fixture
def store(store_url: str) -> Iterator[BaseStore]:
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


def _module(name: str, schema: str = "", steps: tuple[tuple[str, str], ...] = ()) -> Any:
    module = types.ModuleType(name)
    module.SCHEMA_SQL = schema  # type: ignore[attr-defined]
    module.MIGRATIONS = steps  # type: ignore[attr-defined]
    return module


@pytest.mark.sqlite_only
def test_store_urls() -> None:
    memory = open_store("")
    assert memory.dialect == "sqlite" and not memory.shared
    memory.close()
    with pytest.raises(BackendError, match="unknown store URL"):
        open_store("mysql://db/x")
    assert describe_url("postgresql://ops:secret@db:5432/pay") == \
        "PostgreSQL postgresql://ops:***@db:5432/pay"
    assert parse_url("postgres://u@h/db?schema=t_1&sslmode=require") == \
        ("postgresql://u@h/db?sslmode=require", "t_1")
    with pytest.raises(BackendError, match="schema"):
        parse_url("postgresql://u@h/db?schema=Bad;DROP")


@pytest.mark.sqlite_only
def test_sqlite_url_names_a_file(tmp_path) -> None:
    path = tmp_path / "x.sqlite3"
    opened = open_store(f"sqlite:///{path}")
    opened.execute_script("CREATE TABLE t (a TEXT)")
    opened.close()
    assert path.is_file()


@pytest.mark.sqlite_only
def test_postgresql_translation() -> None:
    assert pg_sql("SELECT a FROM t WHERE b = ? AND c LIKE 'x%'") == \
        "SELECT a FROM t WHERE b = %s AND c LIKE 'x%%'"
    ddl = pg_sql("CREATE TABLE t (a INTEGER, b REAL NOT NULL, c BLOB, real_name TEXT)"
                 " WITHOUT ROWID", with_params=False)
    assert ddl == "CREATE TABLE t (a BIGINT, b DOUBLE PRECISION NOT NULL, c BYTEA, " \
        "real_name TEXT)"
    assert pg_sql("SELECT 'INTEGER' FROM t") == "SELECT 'INTEGER' FROM t"  # not DDL


@pytest.mark.sqlite_only
def test_split_statements_keeps_quoted_semicolons() -> None:
    assert split_statements("CREATE TABLE a (x TEXT DEFAULT ';'); -- a; comment\n"
                            "CREATE INDEX i ON a(x);\n") == \
        ["CREATE TABLE a (x TEXT DEFAULT ';')", "CREATE INDEX i ON a(x)"]


def test_rows_by_name_and_index_and_upserts(store: BaseStore) -> None:
    store.execute_script("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER NOT NULL, at REAL,"
                         " blob BLOB) WITHOUT ROWID")
    with store.transaction() as conn:
        first = conn.execute("INSERT INTO t(k, n, at, blob) VALUES (?, ?, ?, ?)"
                             " ON CONFLICT (k) DO NOTHING", ("a", True, NOW + 0.25, b"\x00\xff"))
        again = conn.execute("INSERT INTO t(k, n, at, blob) VALUES (?, ?, ?, ?)"
                             " ON CONFLICT (k) DO NOTHING", ("a", 5, 0.0, b""))
        assert (first.rowcount, again.rowcount) == (1, 0)
        conn.execute("INSERT INTO t(k, n) VALUES (?, 1) ON CONFLICT (k)"
                     " DO UPDATE SET n = t.n + excluded.n", ("a",))
        row = conn.execute("SELECT k, n, at, blob FROM t WHERE k = ? FOR UPDATE",
                           ("a",)).fetchone()
    # 64-bit floats (unix times keep their fraction), bools stored as 0/1, bytes round-trip.
    assert (row[0], row["n"], row["at"], bytes(row["blob"])) == ("a", 2, NOW + 0.25, b"\x00\xff")
    with store.read() as conn:
        assert [tuple(r) for r in conn.execute("SELECT k FROM t WHERE CAST(? AS TEXT) IS NULL",
                                               (None,))] == [("a",)]
        assert [d[0] for d in conn.execute("SELECT * FROM t LIMIT 0").description] == \
            ["k", "n", "at", "blob"]


def test_a_failed_transaction_leaves_nothing(store: BaseStore) -> None:
    store.execute_script("CREATE TABLE t (k TEXT PRIMARY KEY)")
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute("INSERT INTO t(k) VALUES (?)", ("a",))
        raise RuntimeError("the request failed half-way")
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0


def test_migrations_run_once_in_order_and_later_registrations_join(store: BaseStore) -> None:
    first = _module("m.first", "CREATE TABLE IF NOT EXISTS a (x TEXT)",
                    (("0002_y", "ALTER TABLE a ADD COLUMN y TEXT"),))
    steps = from_modules([("core", "CREATE TABLE IF NOT EXISTS core (z TEXT)")], [first])
    assert migrate(store, steps, NOW) == ["core", "m.first:schema", "m.first:0002_y"]
    assert migrate(store, steps, NOW) == []  # an ALTER run twice would fail
    later = _module("m.later", "CREATE TABLE IF NOT EXISTS b (x TEXT)")
    steps = from_modules([("core", "CREATE TABLE IF NOT EXISTS core (z TEXT)")],
                         [first, later])
    assert [m.name for m in pending(store, steps)] == ["m.later:schema"]
    assert migrate(store, steps, NOW) == ["m.later:schema"]
    assert [(v, name) for v, name, _, _ in applied(store)] == [
        (1, "core"), (2, "m.first:schema"), (3, "m.first:0002_y"), (4, "m.later:schema")]
    with store.transaction() as conn:
        conn.execute("INSERT INTO a(x, y) VALUES ('1', '2')")
    # A schema script given a new index is re-run (creating only what is missing).
    grown = _module("m.later", "CREATE TABLE IF NOT EXISTS b (x TEXT);"
                    " CREATE INDEX IF NOT EXISTS b_x ON b(x)")
    steps = from_modules([("core", "CREATE TABLE IF NOT EXISTS core (z TEXT)")],
                         [first, grown])
    assert migrate(store, steps, NOW) == ["m.later:schema"]
    assert len(applied(store)) == 4


@pytest.mark.sqlite_only
def test_a_migration_name_used_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        from_modules([], [_module("m", "", (("1", "SELECT 1"), ("1", "SELECT 2")))])


def test_a_back_end_that_may_not_migrate_refuses_a_stale_database(store_url: str,
                                                                    tmp_path) -> None:
    url = store_url or str(tmp_path / "b.sqlite3")
    with pytest.raises(BackendError, match="scanpay backend migrate"):
        create_app(BackendSettings(database=url, migrate=False))
    opened = open_store(url)
    try:
        assert len(migrate(opened, migrations(), NOW)) == len(migrations())
    finally:
        opened.close()
    app = create_app(BackendSettings(database=url, migrate=False))
    app.state.backend.close()


def _race(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` for i < n on n threads released at once; results or exceptions."""
    gate = threading.Barrier(n)
    out: list[Any] = [None] * n

    def run(i: int) -> None:
        gate.wait()
        try:
            out[i] = work(i)
        except Exception as exc:  # collected: the test looks at every outcome
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


def test_concurrent_holds_never_spend_a_balance_twice(store_url: str) -> None:
    # Eight connections open before the race (one per thread), so all eight run at once.
    settings = BackendSettings(database=store_url, seed_demo=False, pool_min=8)
    app = create_app(settings)
    backend = app.state.backend
    try:
        with backend.store.transaction() as conn:
            add_subject(conn, "rider-race", "", 300, NOW)

        def hold(i: int) -> str:
            with backend.store.transaction() as conn:
                return str(place_hold(conn, subject_id="rider-race", amount=Money(100, "CNY"),
                                      reference=f"r{i}", terminal_id="bike-1",
                                      now=NOW)["hold_id"])

        results = _race(8, hold)
        held = [r for r in results if isinstance(r, str)]
        declined = [r for r in results if isinstance(r, ApiError)]
        assert len(held) == 3 and len(declined) == 5, results
        assert all(e.code == "payment_declined" for e in declined)
    finally:
        backend.close()


def test_one_idempotency_key_sent_at_once_moves_money_once(backend_store: str) -> None:
    with BackendServer(BackendSettings(pool_min=6)) as server:
        auth = {"Authorization": f"Bearer {server.api_key_for('bike-0042')}"}
        code = requests.post(f"{server.url}/v1/dev/payment-codes", headers=auth, timeout=5,
                             json={"subject_id": "rider-good"}).json()["code"]

        def resolve(i: int) -> requests.Response:
            return requests.post(f"{server.url}/v1/payment-codes/resolve", timeout=10,
                                 headers={**auth, "Idempotency-Key": "one-attempt"},
                                 json={"code": code})

        answers = _race(6, resolve)
        assert all(isinstance(a, requests.Response) and a.status_code == 200 for a in answers), \
            [getattr(a, "text", a) for a in answers]
        assert len({a.text for a in answers}) == 1
        assert sum(a.headers.get("Idempotent-Replayed") != "true" for a in answers) == 1

        def resolve_elsewhere(i: int) -> requests.Response:
            other = {"Authorization": f"Bearer {server.api_key_for(f'bike-01{i:02d}')}"}
            return requests.post(f"{server.url}/v1/payment-codes/resolve", timeout=10,
                                 headers={**other, "Idempotency-Key": f"k{i}"},
                                 json={"code": code})

        statuses = sorted(a.status_code for a in _race(4, resolve_elsewhere))
        assert statuses == [409] * 4  # the code was used by the first attempt


def test_the_migrate_command_lists_then_applies(store_url: str, tmp_path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from terminal.cli.main import main

    url = store_url or str(tmp_path / "m.sqlite3")
    if not store_url:
        open_store(url).close()  # an empty SQLite file
    assert main(["backend", "migrate", "--store", url, "--status"]) == 0
    assert f"{len(migrations())} pending" in capsys.readouterr().out
    assert main(["backend", "migrate", "--store", url]) == 0
    assert f"applied {len(migrations())} migration(s)" in capsys.readouterr().out
    assert main(["backend", "migrate", "--store", url, "--status"]) == 0
    listing = capsys.readouterr().out
    assert "   1  backend.app:core" in listing and "0 pending" in listing
    assert main(["backend", "migrate", "--store", url]) == 0
    assert "applied 0 migration(s)" in capsys.readouterr().out


@pytest.mark.sqlite_only
def test_the_migrate_command_needs_a_store(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from backend.settings import STORE_ENV
    from terminal.cli.main import main

    monkeypatch.delenv(STORE_ENV, raising=False)
    assert main(["backend", "migrate"]) != 0
    assert "--store" in capsys.readouterr().err
