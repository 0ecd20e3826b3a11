"""The request guard over real loopback HTTP: size limit, auth before the body, JSON sanity."""

from __future__ import annotations

import json
import socket
import tracemalloc
from collections.abc import Iterator

import pytest
import requests

from backend import BackendServer, BackendSettings
from backend.guard import screen_json
from hardware.emulated.clock import ManualClock

START = 1_795_689_000.0
LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def server(backend_store: str) -> Iterator[BackendServer]:
    with BackendServer(BackendSettings(clock=ManualClock(START), max_body_bytes=LIMIT)) as srv:
        yield srv


@pytest.fixture(scope="module")
def kiosk(server: BackendServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.api_key_for('emu-kiosk-0001')}",
            "Content-Type": "application/json", "Idempotency-Key": "guard-1"}


def _raw(server: BackendServer, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send ``head`` (and ``body``) on a fresh connection; the status and the whole reply."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + body)
        reply = b""
        while chunk := sock.recv(65536):  # the refusal closes the connection
            reply += chunk
    return int(reply.split(b" ", 2)[1]), reply


def _post_head(path: str, length: int | None, headers: dict[str, str]) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: test"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {length}" if length is not None
                 else "Transfer-Encoding: chunked")
    return "\r\n".join(lines) + "\r\n\r\n"


def test_an_oversized_content_length_is_refused_before_any_body_is_sent(server, kiosk):
    status, reply = _raw(server, _post_head("/v1/events:batch", 50 * 1024 * 1024, kiosk))
    assert status == 413
    assert b"request_too_large" in reply and b"connection: close" in reply.lower()


def test_an_unauthenticated_request_is_answered_without_reading_its_body(server):
    # The body is announced but never sent: a server that read it would wait forever.
    head = _post_head("/v1/charges", LIMIT // 2, {"Content-Type": "application/json"})
    status, reply = _raw(server, head)
    assert status == 401 and b"unauthenticated" in reply


def test_a_chunked_body_is_cut_off_at_the_limit(server, kiosk):
    chunk = b"x" * 8192
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(LIMIT // 8192 + 2))
    status, reply = _raw(server, _post_head("/v1/events:batch", None, kiosk), body)
    assert status == 413 and b"connection: close" in reply  # no terminating chunk was needed


def test_a_50_mb_body_is_refused_without_the_server_holding_it(server, kiosk):
    """Memory, not time: the server (in this process) allocates far less than the body."""
    host, port = server.url.removeprefix("http://").split(":")
    block = b"0" * (1 << 20)
    tracemalloc.start()
    try:
        for chunked in (False, True):
            head = _post_head("/v1/events:batch", None if chunked else 50 << 20, kiosk)
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                sock.sendall(head.encode("latin-1"))
                sent = 0
                try:
                    while sent < 50 << 20:
                        piece = b"%x\r\n%s\r\n" % (len(block), block) if chunked else block
                        sock.sendall(piece)
                        sent += len(block)
                except OSError:
                    pass  # the server answered and closed: the rest is never read
                reply = sock.recv(65536)
            assert reply.startswith(b"HTTP/1.1 413"), reply[:80]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"peak {peak / 1e6:.1f} MB while refusing a 50 MB body"


@pytest.mark.parametrize("raw", [
    b'{"events": [{"id": "\\ud800", "schema": 1}]}',
    b'{"events": [{"id": "evt_x", "attributes": {"k": "\\udfff"}}]}',
    b'{"events": [{"id": "\\ud83d"}]}',
])
def test_a_lone_surrogate_is_422_not_500(server, kiosk, raw):
    resp = requests.post(f"{server.url}/v1/events:batch", data=raw, headers=kiosk, timeout=5)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == "invalid_value"
    assert "surrogate" in resp.json()["error"]["message"]


def test_a_surrogate_pair_is_ordinary_text(server, kiosk):
    raw = b'{"events": [{"id": "\\ud83d\\ude00"}]}'
    resp = requests.post(f"{server.url}/v1/events:batch", data=raw, headers=kiosk, timeout=5)
    assert resp.status_code == 200
    assert resp.json()["rejected"][0]["error"].startswith("malformed")


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**40])
def test_an_integer_beyond_64_bits_is_422_not_500(server, kiosk, value):
    raw = f'{{"subject_id": "big-wallet", "balance_minor": {value}}}'.encode()
    resp = requests.post(f"{server.url}/v1/dev/subjects", data=raw, headers=kiosk, timeout=5)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == "invalid_value"


def test_a_balance_within_64_bits_but_beyond_the_money_limit_is_a_400(server, kiosk):
    raw = b'{"subject_id": "big-wallet", "balance_minor": 9223372036854775807}'
    resp = requests.post(f"{server.url}/v1/dev/subjects", data=raw, headers=kiosk, timeout=5)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_request"


def test_non_finite_numbers_and_bad_utf8_are_refused(server, kiosk):
    for raw, status in ((b'{"probe": [NaN], "phone_digits": ""}', 422),
                        (b'{"probe": [Infinity]}', 422), (b'{"probe": "\xed\xa0\x80"}', 400)):
        resp = requests.post(f"{server.url}/v1/face/verifications", data=raw, headers=kiosk,
                             timeout=5)
        assert resp.status_code == status, (raw, resp.text)


def _routes(server: BackendServer) -> list[tuple[str, str]]:
    schema = requests.get(f"{server.url}/openapi.json", timeout=5).json()
    return [(method.upper(), path) for path, ops in schema["paths"].items()
            for method in ops if method in ("post", "put", "patch")]


def test_every_route_answers_hostile_json_without_a_server_error(server):
    """Sweep: each body route gets surrogates, huge and non-finite numbers, deep nesting."""
    keys = {role: server.api_key_for(tid) for role, tid in
            (("kiosk", "emu-kiosk-0001"), ("bike", "emu-bike-0001"))}
    hostile = [
        '{"subject_id": "\\udc80", "amount": {"amount_minor": 1, "currency": "CNY"}}',
        '{"amount": {"amount_minor": 99999999999999999999999, "currency": "CNY"}}',
        '{"amount": {"amount_minor": 1e999, "currency": "CNY"}, "reference": "r"}',
        "[" * 5000 + "]" * 5000,
        '{"code": "' + "A" * 5000 + '"}',
        json.dumps({"events": [{"id": "evt_" + "0" * 32, "schema": 1, "type": "a.b",
                                "time": "2026-11-26T10:30:00Z", "terminal_id": "x" * 10_000}]}),
    ]
    routes = _routes(server)
    assert len(routes) >= 12
    for method, path in routes:
        url = server.url + path.replace("{hold_id}", "hold_x").replace("{reference}", "R1")
        for key in keys.values():
            for raw in hostile:
                resp = requests.request(method, url, data=raw.encode(), timeout=5, headers={
                    "Authorization": f"Bearer {key}", "Idempotency-Key": "sweep",
                    "Content-Type": "application/json"})
                assert resp.status_code < 500, (method, path, raw[:40], resp.text)


def test_screen_json_passes_ordinary_bodies_and_leaves_non_json_to_the_route():
    assert screen_json(b'{"a": [1, -2, 9223372036854775807, "\\u00e9"]}') is None
    assert screen_json(b"not json") is None
    assert screen_json(b'{"a": -9223372036854775809}')[0] == 422


def test_amounts_beyond_the_money_limit_are_invalid_money(server, kiosk):
    body = {"amount": {"amount_minor": 2**62, "currency": "CNY"}, "reference": "BIG1"}
    resp = requests.post(f"{server.url}/v1/orders", json=body, headers=kiosk, timeout=5)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_money"
