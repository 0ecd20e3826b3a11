"""Secrets of the back end: keyring files, key rotation, and `scanpay backend serve|keys`."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import requests

from backend import BackendServer, BackendSettings
from backend.keyring import (
    KEYRING_ENV,
    KeyringError,
    keyring_from_env,
    load_keyring,
    new_keyring,
    save_keyring,
)
from backend.settings import DEV_SIGNING_SEED_HEX
from terminal.cli.main import main
from tests.wallet import wallet_code

START = 1_795_689_000.0


def _out(capsys: pytest.CaptureFixture[str]) -> tuple[list[str], list[str]]:
    cap = capsys.readouterr()
    return cap.out.strip().splitlines(), cap.err.strip().splitlines()


def test_serve_without_secrets_or_dev_is_a_one_line_error(capsys, monkeypatch) -> None:
    monkeypatch.delenv(KEYRING_ENV, raising=False)
    assert main(["backend", "serve", "--port", "0"]) == 1
    _, err = _out(capsys)
    assert len(err) == 1 and "--keyring FILE" in err[0] and "--dev" in err[0]


def test_dev_mode_refuses_a_non_loopback_address(capsys) -> None:
    assert main(["backend", "serve", "--dev", "--host", "0.0.0.0", "--port", "0"]) == 1
    _, err = _out(capsys)
    assert err == ["scanpay: error: --dev binds loopback only (its keys are public), not 0.0.0.0"]


def test_a_keyring_readable_by_others_is_refused(tmp_path: Path, capsys) -> None:
    path = tmp_path / "keys.json"
    save_keyring(path, new_keyring(START))
    assert os.stat(path).st_mode & 0o777 == 0o600
    os.chmod(path, 0o640)
    with pytest.raises(KeyringError, match="chmod 600"):
        load_keyring(path)
    assert main(["backend", "serve", "--keyring", str(path), "--port", "0"]) == 1
    _, err = _out(capsys)
    assert len(err) == 1 and "readable or writable by others" in err[0]


def test_keys_create_shows_the_key_once_and_stores_only_its_hash(tmp_path: Path, capsys) -> None:
    path = tmp_path / "keys.json"
    assert main(["backend", "keys", "create", "--keyring", str(path)]) == 0
    assert main(["backend", "keys", "create", "--keyring", str(path), "--terminal", "kiosk-7",
                 "--role", "kiosk"]) == 0
    out, _ = _out(capsys)
    key = out[-1]
    assert key.startswith("sk_") and key not in path.read_text()
    assert main(["backend", "keys", "list", "--keyring", str(path)]) == 0
    listing, _ = _out(capsys)
    assert any("kiosk-7" in line and "role kiosk" in line for line in listing)
    secrets_hex = [k["secret_hex"] for k in json.loads(path.read_text())["signing_keys"]]
    assert not any(s in "\n".join(listing) for s in secrets_hex)


def test_unknown_role_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    assert main(["backend", "keys", "create", "--keyring", str(tmp_path / "k.json"),
                 "--terminal", "t", "--role", "admin"]) == 1
    _, err = _out(capsys)
    assert len(err) == 1 and "unknown role 'admin'" in err[0]


def test_keyring_from_the_environment() -> None:
    text = json.dumps(new_keyring(START).to_json())
    assert keyring_from_env({KEYRING_ENV: text}) is not None
    assert keyring_from_env({}) is None
    with pytest.raises(KeyringError):
        keyring_from_env({KEYRING_ENV: "{"})


def test_a_real_keyring_shares_nothing_with_the_development_seed() -> None:
    keyring = new_keyring(START)
    seed = bytes.fromhex(DEV_SIGNING_SEED_HEX)
    assert seed not in {k.secret for k in (*keyring.signing_keys, *keyring.face_keys)}
    assert keyring.phone_pepper != seed
    shown = repr(keyring)
    assert keyring.active_signing.secret.hex() not in shown
    assert keyring.active_face.secret.hex() not in shown and keyring.phone_pepper.hex() not in shown


def test_a_rotated_api_key_works_through_its_grace_period_only() -> None:
    keyring, old = new_keyring(START).with_api_key("bike-1", "bike_lock", START)
    keyring, new = keyring.rotate_api_key("bike-1", START, grace_s=3600)
    clock = [START]
    settings = BackendSettings(dev=False, keyring=keyring, seed_demo=False,
                               clock=lambda: clock[0])
    with BackendServer(settings) as srv:
        def status(key: str) -> int:
            return requests.get(f"{srv.url}/v1/payment-codes/keys", timeout=5,
                                headers={"Authorization": f"Bearer {key}"}).status_code
        assert (status(old), status(new)) == (200, 200)
        clock[0] += 3601
        assert (status(old), status(new)) == (401, 200)


def test_codes_signed_before_a_signing_rotation_still_resolve(tmp_path: Path) -> None:
    keyring, key = new_keyring(START).with_api_key("kiosk-1", "kiosk", START)
    db = str(tmp_path / "backend.sqlite")
    with BackendServer(BackendSettings(database=db, dev=False, keyring=keyring, seed_demo=False,
                                       clock=lambda: START)) as srv:
        with srv.backend.store.transaction() as conn:
            conn.execute("INSERT INTO subjects(subject_id, created_at) VALUES ('s1', 0)")
        old_code = wallet_code(srv.backend, "s1")
    rotated = keyring.rotate_signing(START)
    with BackendServer(BackendSettings(database=db, dev=False, keyring=rotated, seed_demo=False,
                                       clock=lambda: START)) as srv:
        keys = requests.get(f"{srv.url}/v1/payment-codes/keys", timeout=5,
                            headers={"Authorization": f"Bearer {key}"}).json()["keys"]
        assert len(keys) == 2
        resolved = requests.post(f"{srv.url}/v1/payment-codes/resolve", json={"code": old_code},
                                 headers={"Authorization": f"Bearer {key}",
                                          "Idempotency-Key": "k"}, timeout=5)
        assert resolved.status_code == 200, resolved.text


def test_face_key_rotation_re_encrypts_templates_and_they_still_match(tmp_path: Path,
                                                                      capsys) -> None:
    from payments.clients.face import Consent, FaceClient
    from payments.clients.http import ServiceSettings

    path, db = tmp_path / "keys.json", tmp_path / "backend.sqlite"
    keyring, key = new_keyring(START).with_api_key("kiosk-1", "kiosk", START)
    save_keyring(path, keyring)
    face = np.random.default_rng(1).normal(size=128)
    face /= np.linalg.norm(face)
    with BackendServer(BackendSettings(database=str(db), dev=False, keyring=keyring,
                                       seed_demo=False, clock=lambda: START)) as srv:
        with srv.backend.store.transaction() as conn:
            conn.execute("INSERT INTO subjects(subject_id, created_at) VALUES ('s1', 0)")
            conn.execute("INSERT INTO wallets(subject_id, currency, balance_minor)"
                         " VALUES ('s1', 'CNY', 100)")
        with FaceClient(ServiceSettings(url=srv.url, api_key=key, max_retries=0)) as faces:
            faces.enroll(payment_code=wallet_code(srv.backend, "s1"), phone="13800138000",
                         embeddings=[(face + 0.01 * i).tolist() for i in range(3)],
                         consent=Consent("S One", "smile_to_pay", 30,
                                         datetime.fromtimestamp(START, UTC)))
    old_face_key = keyring.active_face.key_id
    assert main(["backend", "keys", "rotate", "face", "--keyring", str(path),
                 "--db", str(db)]) == 0
    rotated = load_keyring(path)
    assert rotated.active_face.key_id != old_face_key
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT key_id FROM face_enrollments").fetchone()[0] \
            == rotated.active_face.key_id
    settings = BackendSettings(database=str(db), dev=False, keyring=rotated, seed_demo=False,
                               clock=lambda: START)
    with BackendServer(settings) as srv, \
            FaceClient(ServiceSettings(url=srv.url, api_key=key, max_retries=0)) as faces:
        assert faces.verify(phone_digits="13800138000", probe=face.tolist()).match


def test_serve_prints_no_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    keyring, key = new_keyring(START).with_api_key("kiosk-1", "kiosk", START)
    save_keyring(path, keyring)
    proc = subprocess.Popen(
        [sys.executable, "-m", "terminal.cli.main", "backend", "serve", "--keyring", str(path),
         "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
    finally:
        proc.terminate()
        rest = proc.communicate(timeout=20)[0]
    text = "".join(lines) + rest
    assert "reference back end at http://127.0.0.1:" in text
    assert key not in text and "sk_" not in text
    for secret in (*keyring.signing_keys, *keyring.face_keys):
        assert secret.secret.hex() not in text
