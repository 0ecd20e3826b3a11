"""Hostile input: schemathesis cases against the back end's OpenAPI on loopback, 0 server errors."""

from __future__ import annotations

from terminal.bench.fuzz_api import fuzz_backend

SEED = 20261130


def test_no_generated_request_makes_the_back_end_fail() -> None:
    report = fuzz_backend(12, seed=SEED)
    assert [(e.status, e.operation, e.body) for e in report.server_errors] == []
    assert report.cases >= 300
    # Every operation of the API was exercised, with and without valid input.
    assert len(report.per_operation) >= 20
    assert sum(n for status, n in report.statuses.items() if status.startswith("4")) > 0
    assert sum(n for status, n in report.statuses.items() if status.startswith("2")) > 0
