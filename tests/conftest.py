"""Test-run settings: property tests are reproducible unless a fuzzing run is asked for.

``SCANPAY_FUZZ=1`` lets Hypothesis draw fresh examples on every run (to hunt for new failures);
by default each property test draws the same examples every time, so a run that passed passes
again on a clean clone.

The real-browser fixtures (``browser``, ``page_factory``) live in ``tests/browser.py``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from tests.browser import browser, browser_tests_last, page_factory  # noqa: F401  (fixtures)
from tests.pg_support import (  # noqa: F401  (fixtures: the back-end tests on both stores)
    _fresh_pg_schema,
    backend_store,
    parametrize_stores,
    pg_server,
    store_url,
)

settings.register_profile("reproducible", derandomize=True, database=None)
settings.register_profile("fuzz", derandomize=False)
settings.load_profile("fuzz" if os.environ.get("SCANPAY_FUZZ") == "1" else "reproducible")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Back-end test modules run on SQLite and PostgreSQL (see tests/pg_support.py)."""
    parametrize_stores(metafunc)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the real-browser tests after all the others (see tests/browser.py)."""
    browser_tests_last(items)
