"""Reference back end over real loopback HTTP: auth, errors, request ids, OpenAPI, storage."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from backend import BackendServer, BackendSettings
from backend.errors import BackendError
from hardware.emulated.clock import ManualClock

START = 1_795_689_000.0  # 2026-11-26T10:30:00Z


@pytest.fixture(scope="module")
def server(backend_store: str) -> Iterator[BackendServer]:
    with BackendServer(BackendSettings(clock=ManualClock(START))) as srv:
        yield srv


@pytest.fixture(scope="module")
def auth(server: BackendServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.api_key_for('emu-bike-0001')}"}


def _assert_error(resp: requests.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["error"]["request_id"] == resp.headers["X-Request-Id"]


def test_health_needs_no_key_and_reports_the_injected_clock(server: BackendServer) -> None:
    resp = requests.get(f"{server.url}/v1/health", timeout=5)
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "time": "2026-11-26T10:30:00Z"}
    assert resp.headers["X-Request-Id"].startswith("req_")


@pytest.mark.parametrize("header", [None, "Bearer", "Basic abc", "Bearer sk_not_a_real_key_1234",
                                    "Bearer has spaces in it"])
def test_missing_or_unknown_api_key_is_401(server: BackendServer, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    resp = requests.get(f"{server.url}/v1/subjects/rider-good/score", headers=headers, timeout=5)
    _assert_error(resp, 401, "unauthenticated")


def test_auth_is_checked_before_the_body(server: BackendServer) -> None:
    resp = requests.post(f"{server.url}/v1/charges", json={"junk": 1},
                         headers={"Idempotency-Key": "k1"}, timeout=5)
    _assert_error(resp, 401, "unauthenticated")


def test_each_terminal_has_its_own_stable_key(server: BackendServer) -> None:
    a, b = server.api_key_for("bike-a"), server.api_key_for("bike-b")
    assert a != b and a == server.api_key_for("bike-a")


def test_every_response_carries_a_request_id(server: BackendServer,
                                             auth: dict[str, str]) -> None:
    ids = {requests.get(f"{server.url}/v1/subjects/rider-good/score", headers=auth,
                        timeout=5).headers["X-Request-Id"] for _ in range(3)}
    assert len(ids) == 3
    echoed = requests.get(f"{server.url}/v1/health", headers={"X-Request-Id": "trace-42"},
                          timeout=5)
    assert echoed.headers["X-Request-Id"] == "trace-42"


def test_unknown_route_and_wrong_method_use_the_error_body(server: BackendServer,
                                                           auth: dict[str, str]) -> None:
    _assert_error(requests.get(f"{server.url}/v1/nothing", headers=auth, timeout=5),
                  404, "not_found")
    _assert_error(requests.delete(f"{server.url}/v1/health", timeout=5),
                  405, "method_not_allowed")


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"subject_id": 5}', b"\xff\xfe"])
def test_bad_bodies_are_400_invalid_request(server: BackendServer, auth: dict[str, str],
                                            body: bytes) -> None:
    resp = requests.post(f"{server.url}/v1/charges", data=body, timeout=5,
                         headers={**auth, "Idempotency-Key": "bad-body",
                                  "Content-Type": "application/json"})
    _assert_error(resp, 400, "invalid_request")


def test_money_moving_calls_need_an_idempotency_key(server: BackendServer,
                                                    auth: dict[str, str]) -> None:
    resp = requests.post(f"{server.url}/v1/charges", headers=auth, timeout=5, json={
        "subject_id": "rider-good", "amount": {"amount_minor": 100, "currency": "CNY"},
        "reference": "r", "description": "d"})
    _assert_error(resp, 400, "idempotency_key_required")


def test_openapi_is_published(server: BackendServer) -> None:
    spec = requests.get(f"{server.url}/openapi.json", timeout=5).json()
    for path in ("/v1/subjects/{subject_id}/score", "/v1/events:batch",
                 "/v1/payment-codes/resolve", "/v1/holds", "/v1/holds/{hold_id}/capture",
                 "/v1/holds/{hold_id}/release", "/v1/charges", "/v1/refunds",
                 "/v1/dev/payment-codes", "/v1/dev/subjects"):
        assert path in spec["paths"], path
    assert requests.get(f"{server.url}/docs", timeout=5).status_code == 200


def test_dev_subjects_lists_the_seeded_riders(server: BackendServer,
                                              auth: dict[str, str]) -> None:
    resp = requests.get(f"{server.url}/v1/dev/subjects", headers=auth, timeout=5)
    subjects = {s["subject_id"]: s for s in resp.json()["subjects"]}
    assert {"rider-good", "rider-low", "rider-blacklisted", "rider-broke"} <= set(subjects)
    assert subjects["rider-broke"]["balance"] == {"amount_minor": 0, "currency": "CNY"}
    assert subjects["rider-good"]["balance"]["amount_minor"] > 0


def test_dev_routes_can_be_left_out() -> None:
    with BackendServer(BackendSettings(dev_routes=False, clock=ManualClock(START))) as srv:
        key = srv.api_key_for("t1")
        resp = requests.get(f"{srv.url}/v1/dev/subjects", timeout=5,
                            headers={"Authorization": f"Bearer {key}"})
        _assert_error(resp, 404, "not_found")


def test_file_database_uses_wal_and_keeps_state_across_restarts(tmp_path: Path) -> None:
    db = tmp_path / "backend.db"
    settings = BackendSettings(database=str(db), clock=ManualClock(START))
    with BackendServer(settings) as srv:
        assert srv.backend.store.journal_mode == "wal"
        auth = {"Authorization": f"Bearer {srv.api_key_for('t1')}"}
        code = requests.post(f"{srv.url}/v1/dev/payment-codes", headers=auth, timeout=5,
                             json={"subject_id": "rider-good"}).json()["code"]
        assert requests.post(f"{srv.url}/v1/payment-codes/resolve", timeout=5, json={"code": code},
                             headers={**auth, "Idempotency-Key": "r1"}).status_code == 200
        headers = {**auth, "Idempotency-Key": "c1"}
        resp = requests.post(f"{srv.url}/v1/charges", headers=headers, timeout=5, json={
            "subject_id": "rider-good", "amount": {"amount_minor": 700, "currency": "CNY"},
            "reference": "ride-1", "description": "fare"})
        assert resp.status_code == 201
    with BackendServer(settings) as srv:  # seeding again must not reset balances
        headers = {"Authorization": f"Bearer {srv.api_key_for('t1')}", "Idempotency-Key": "c1"}
        replay = requests.post(f"{srv.url}/v1/charges", headers=headers, timeout=5, json={
            "subject_id": "rider-good", "amount": {"amount_minor": 700, "currency": "CNY"},
            "reference": "ride-1", "description": "fare"})
        assert replay.json() == resp.json()
    with sqlite3.connect(db) as conn:
        balance = conn.execute("SELECT balance_minor FROM wallets WHERE subject_id = 'rider-good'"
                               ).fetchone()[0]
    assert balance == 50_000 - 700


def test_server_close_is_idempotent_and_stops_serving() -> None:
    srv = BackendServer(BackendSettings(clock=ManualClock(START))).start()
    url = srv.url
    srv.close()
    srv.close()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/v1/health", timeout=2)
    with pytest.raises(BackendError):
        srv.api_key_for("x")


def test_unusable_database_path_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "missing-dir" / "db.sqlite"
    with pytest.raises(BackendError, match="cannot open"):
        BackendServer(BackendSettings(database=str(bad))).start()


def test_a_database_failure_is_a_500_error_body_not_a_traceback() -> None:
    with BackendServer(BackendSettings(clock=ManualClock(START))) as srv:
        headers = {"Authorization": f"Bearer {srv.api_key_for('t1')}"}
        srv.backend.store.close()  # the disk went away
        resp = requests.get(f"{srv.url}/v1/subjects/rider-good/score", headers=headers,
                            timeout=5)
        _assert_error(resp, 500, "internal_error")
        assert "Traceback" not in resp.text
        assert requests.get(f"{srv.url}/v1/health", timeout=5).status_code == 200
