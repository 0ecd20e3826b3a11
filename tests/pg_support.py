"""The back-end tests on both stores: SQLite (embedded) and PostgreSQL (a private server).

``tests/conftest.py`` runs every test of :data:`BOTH_STORES_MODULES` twice, as
``[sqlite]`` and ``[postgresql]``. For ``[postgresql]`` one throw-away server
(:class:`backend.localpg.LocalPostgres`, fsync off) serves the whole session; each test module
gets a schema of its own for its module-scoped back end, and each test a fresh schema for the
back ends it starts itself (a schema costs one ``CREATE SCHEMA``: cheaper than truncating).
The store reaches ``BackendSettings`` through :data:`backend.settings.STORE_ENV` (the default
``database`` of settings that name none); a back end given an explicit ``database`` keeps it.

Module-scoped back-end fixtures take ``backend_store`` as an argument so that they are built
again for each store. Without PostgreSQL binaries the ``[postgresql]`` tests are skipped.
A test of such a module that no store can change (a CLI's options, a broker's refusal) is
marked ``@pytest.mark.sqlite_only`` and runs once, on SQLite.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from backend.settings import STORE_ENV

# Test modules whose every test runs on both stores.
BOTH_STORES_MODULES = frozenset({
    "tests.test_backend_api", "tests.test_backend_authz", "tests.test_backend_docs",
    "tests.test_backend_guard", "tests.test_backend_keys", "tests.test_backend_load",
    "tests.test_backend_payments", "tests.test_backend_provenance", "tests.test_backend_scores",
    "tests.test_backend_signing", "tests.test_backend_store", "tests.test_backend_workers",
    "tests.test_clients_backend", "tests.test_emvco_orders",
    "tests.test_disputes", "tests.test_person_report", "tests.test_retention",  # person's side
    "tests.test_fleet_bridge", "tests.test_fleet_batch", "tests.test_console_auth",
    "tests.test_console_disputes", "tests.test_console_fleet",  # the fleet and the console
    "tests.test_fleet_dead_letters",
})
STORES = ("sqlite", "postgresql")
_schemas = itertools.count(1)


def parametrize_stores(metafunc: pytest.Metafunc) -> None:
    """The ``pytest_generate_tests`` hook: both stores for the modules that want them (but
    not for their tests marked ``sqlite_only``: what no store can change)."""
    if metafunc.module.__name__ in BOTH_STORES_MODULES and \
            "backend_store" in metafunc.fixturenames and \
            metafunc.definition.get_closest_marker("sqlite_only") is None:
        metafunc.parametrize("backend_store", STORES, indirect=True, scope="module")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    """One private PostgreSQL server for the session (skips when PostgreSQL is missing)."""
    from backend.localpg import LocalPostgres, PostgresMissing

    server = LocalPostgres(durable=False, max_connections=300)
    try:
        server.start()
    except PostgresMissing as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


def fresh_url(request: pytest.FixtureRequest) -> str:
    """A PostgreSQL store URL with a schema no test used yet."""
    server = request.getfixturevalue("pg_server")
    return server.url(schema=f"t{next(_schemas)}")  # type: ignore[attr-defined]


@pytest.fixture(scope="module", autouse=True)
def backend_store(request: pytest.FixtureRequest) -> Iterator[str]:
    """"sqlite" or "postgresql": the store of this module's back ends (sqlite outside
    :data:`BOTH_STORES_MODULES`)."""
    store = getattr(request, "param", "sqlite")
    if store != "postgresql":
        yield store
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(STORE_ENV, fresh_url(request))
        yield store


@pytest.fixture(autouse=True)
def _fresh_pg_schema(request: pytest.FixtureRequest, backend_store: str) -> Iterator[None]:
    """Back ends a test starts itself get a schema of their own on PostgreSQL."""
    if backend_store != "postgresql":
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(STORE_ENV, fresh_url(request))
        yield


@pytest.fixture
def store_url(request: pytest.FixtureRequest, backend_store: str) -> str:
    """The URL of a fresh, empty store of this test's kind ("" = SQLite in memory)."""
    return fresh_url(request) if backend_store == "postgresql" else ""
