"""Signed requests: HMAC over method, path, timestamp, nonce and body; window and replays."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from backend import BackendServer, BackendSettings
from hardware.emulated.clock import ManualClock
from payments.clients.signing import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WINDOW_S,
    sign_request,
    target_of,
)

START = 1_795_689_000.0
CLOCK = ManualClock(START)
TERMINAL = "emu-kiosk-0001"


@pytest.fixture(scope="module")
def server(backend_store: str) -> Iterator[BackendServer]:
    with BackendServer(BackendSettings(clock=CLOCK, require_signatures=True)) as srv:
        yield srv


def _send(server: BackendServer, method: str, path: str, body: dict | None = None, *,
          signed_body: bytes | None = None, now: float | None = None,
          headers: dict[str, str] | None = None) -> requests.Response:
    key = server.api_key_for(TERMINAL)
    data = json.dumps(body).encode() if body is not None else b""
    url = server.url + path
    sig = headers if headers is not None else sign_request(
        key, method, url, data if signed_body is None else signed_body,
        now=CLOCK() if now is None else now)
    return requests.request(method, url, data=data or None, timeout=5, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json",
        "Idempotency-Key": "sig-1", **sig})


def _code(resp: requests.Response) -> str:
    return str(resp.json()["error"]["code"])


def test_signed_calls_are_served(server) -> None:
    assert _send(server, "GET", "/v1/subjects/rider-good/score").status_code == 200
    assert _send(server, "GET", "/v1/orders/NONE?x=1").status_code == 404  # signed with query
    created = _send(server, "POST", "/v1/orders",
                    {"amount": {"amount_minor": 100, "currency": "CNY"}, "reference": "S1"})
    assert created.status_code == 201, created.text


def test_an_unsigned_call_is_refused_when_signatures_are_required(server) -> None:
    resp = _send(server, "GET", "/v1/subjects/rider-good/score", headers={})
    assert resp.status_code == 401 and _code(resp) == "signature_required"
    assert requests.get(f"{server.url}/v1/health", timeout=5).status_code == 200  # public


def test_a_changed_body_or_path_breaks_the_signature(server) -> None:
    body = {"amount": {"amount_minor": 100, "currency": "CNY"}, "reference": "S2"}
    resp = _send(server, "POST", "/v1/orders", body, signed_body=b'{"reference": "other"}')
    assert resp.status_code == 401 and _code(resp) == "signature_invalid"
    key = server.api_key_for(TERMINAL)
    sig = sign_request(key, "GET", server.url + "/v1/subjects/rider-low/score", b"", CLOCK())
    resp = _send(server, "GET", "/v1/subjects/rider-good/score", headers=sig)
    assert _code(resp) == "signature_invalid"


def test_a_replayed_request_is_refused(server) -> None:
    key = server.api_key_for(TERMINAL)
    sig = sign_request(key, "GET", server.url + "/v1/subjects/rider-good/score", b"", CLOCK())
    assert _send(server, "GET", "/v1/subjects/rider-good/score", headers=sig).status_code == 200
    again = _send(server, "GET", "/v1/subjects/rider-good/score", headers=sig)
    assert again.status_code == 401 and _code(again) == "signature_replayed"


def test_a_signature_outside_the_five_minute_window_is_refused(server) -> None:
    for skew in (-WINDOW_S - 1, WINDOW_S + 1):
        resp = _send(server, "GET", "/v1/subjects/rider-good/score", now=CLOCK() + skew)
        assert resp.status_code == 401 and _code(resp) == "signature_expired"
    assert _send(server, "GET", "/v1/subjects/rider-good/score",
                 now=CLOCK() - WINDOW_S + 5).status_code == 200


def test_a_signature_made_with_another_key_is_refused(server) -> None:
    sig = sign_request("sk_someone_elses_key_123", "GET",
                       server.url + "/v1/subjects/rider-good/score", b"", CLOCK())
    assert _code(_send(server, "GET", "/v1/subjects/rider-good/score", headers=sig)) \
        == "signature_invalid"


def test_partial_or_malformed_signature_headers_are_refused(server) -> None:
    for headers in ({TIMESTAMP_HEADER: str(int(CLOCK()))},
                    {TIMESTAMP_HEADER: "soon", NONCE_HEADER: "n" * 32, SIGNATURE_HEADER: "00"}):
        resp = _send(server, "GET", "/v1/subjects/rider-good/score", headers=headers)
        assert resp.status_code == 401 and _code(resp) == "signature_invalid"


def test_signatures_are_optional_but_checked_when_not_required() -> None:
    with BackendServer(BackendSettings(clock=CLOCK)) as srv:
        assert _send(srv, "GET", "/v1/subjects/rider-good/score", headers={}).status_code == 200
        bad = {TIMESTAMP_HEADER: str(int(CLOCK())), NONCE_HEADER: "a" * 32,
               SIGNATURE_HEADER: "0" * 64}
        assert _code(_send(srv, "GET", "/v1/subjects/rider-good/score", headers=bad)) \
            == "signature_invalid"


def test_the_signed_target_is_the_path_and_query() -> None:
    assert target_of("http://h:1/v1/orders/R1?x=1&y=2") == "/v1/orders/R1?x=1&y=2"
    assert target_of("http://h:1") == "/"
    assert sign_request("", "GET", "http://h/", b"") == {}
