"""Several worker processes on one store (`scanpay backend serve --workers N`).

State that used to live in one process (request-signature nonces) is in the store, so a
request replayed to another worker is refused there too. Runs on SQLite (a file the workers
share) and PostgreSQL (tests/pg_support.py).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from backend.keyring import dev_api_key
from backend.settings import DEV_SIGNING_SEED_HEX, STORE_ENV
from payments.clients.signing import sign_request

TERMINAL = "emu-kiosk-0001"
WORKERS = 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory, backend_store: str) -> Iterator[str]:
    """A dev back end of two workers on this module's store; its base URL."""
    store = os.environ[STORE_ENV] if backend_store == "postgresql" \
        else str(tmp_path_factory.mktemp("workers") / "backend.sqlite3")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != STORE_ENV}
    proc = subprocess.Popen(
        [sys.executable, "-m", "terminal.cli.main", "backend", "serve", "--dev", "--port",
         str(port), "--store", store, "--workers", str(WORKERS), "--terminal", TERMINAL],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                if requests.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                pytest.fail(f"the workers did not start: {out[-2000:]}")
            time.sleep(0.05)  # polling a child process's port: no event to await
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_request_replayed_to_any_worker_is_refused(workers: str) -> None:
    key = dev_api_key(DEV_SIGNING_SEED_HEX, TERMINAL)
    path = "/v1/subjects/rider-good/score"
    sig = sign_request(key, "GET", workers + path, b"", time.time())
    headers = {"Authorization": f"Bearer {key}", **sig}
    first = requests.get(workers + path, headers=headers, timeout=5)
    assert first.status_code == 200, first.text
    # Each replay on a connection of its own: the kernel spreads them over both workers, so
    # with nonces kept per process about half of these would be served.
    codes = []
    for _ in range(16):
        with requests.Session() as fresh:
            resp = fresh.get(workers + path, headers={**headers, "Connection": "close"},
                             timeout=5)
        codes.append((resp.status_code, resp.json().get("error", {}).get("code")))
    assert codes == [(401, "signature_replayed")] * 16


def test_money_is_moved_once_whichever_worker_answers(workers: str) -> None:
    key = dev_api_key(DEV_SIGNING_SEED_HEX, TERMINAL)
    auth = {"Authorization": f"Bearer {key}"}
    code = requests.post(f"{workers}/v1/dev/payment-codes", headers=auth, timeout=5,
                         json={"subject_id": "rider-good"})
    assert code.status_code in (200, 201), code.text
    answers = []
    for _ in range(6):  # the same resolve, retried on fresh connections (any worker)
        with requests.Session() as fresh:
            answers.append(fresh.post(
                f"{workers}/v1/payment-codes/resolve", timeout=5,
                headers={**auth, "Idempotency-Key": "same-attempt", "Connection": "close"},
                json={"code": code.json()["code"]}))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert len({a.text for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 5
    other = requests.post(f"{workers}/v1/payment-codes/resolve", timeout=5,
                          headers={**auth, "Idempotency-Key": "another-attempt"},
                          json={"code": code.json()["code"]})
    assert other.status_code == 409 and other.json()["error"]["code"] == "code_already_used"


@pytest.mark.sqlite_only
def test_a_port_another_server_holds_is_refused_not_shared(
        tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]) -> None:
    from terminal.cli.main import main

    with socket.socket() as other:  # another server, even one that allows port sharing
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        store = str(tmp_path_factory.mktemp("busy") / "backend.sqlite3")
        assert main(["backend", "serve", "--dev", "--port", str(port), "--store", store,
                     "--workers", "2"]) != 0
    assert "Address already in use" in capsys.readouterr().err


@pytest.mark.sqlite_only
def test_several_workers_need_a_shared_store(capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from terminal.cli.main import main

    monkeypatch.delenv(STORE_ENV, raising=False)
    assert main(["backend", "serve", "--dev", "--port", "0", "--workers", "2"]) != 0
    assert "several workers need a store they share" in capsys.readouterr().err
