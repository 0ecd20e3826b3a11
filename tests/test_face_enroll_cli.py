"""`scanpay face enroll` and `scanpay face delete` against the reference back end on loopback."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from backend.server import BackendServer
from backend.settings import BackendSettings
from payments.clients.face import Consent, FaceClient
from payments.clients.http import ServiceSettings
from terminal.cli.main import main
from tests.face_shared import FACES
from tests.wallet import wallet_code

TERMINAL = "emu-kiosk-0001"
PHONE = "13800001234"


@pytest.fixture(scope="module")
def server():
    with BackendServer(BackendSettings()) as running:
        yield running


@pytest.fixture
def backend_args(server):
    with server.backend.store.transaction() as conn:
        conn.execute("DELETE FROM face_enrollments")
    return ["--backend", server.url, "--api-key", server.api_key_for(TERMINAL)]


@pytest.fixture
def code(server) -> str:
    """The account holder's wallet code for rider-good."""
    return wallet_code(server.backend, "rider-good")


def enroll_synthetic(server) -> None:
    settings = ServiceSettings(url=server.url, api_key=server.api_key_for(TERMINAL))
    v = np.random.default_rng(0).normal(size=128)
    frames = [(v / np.linalg.norm(v) + 0.01 * i).tolist() for i in range(3)]
    with FaceClient(settings) as client:
        client.enroll(payment_code=wallet_code(server.backend, "rider-good"), phone=PHONE,
                      embeddings=frames,
                      consent=Consent("A", "smile_to_pay", 30, datetime.now(UTC)))


def test_delete_confirms_what_was_removed_then_says_not_enrolled(server, backend_args, capsys):
    enroll_synthetic(server)
    code = wallet_code(server.backend, "rider-good")
    assert main(["face", "delete", "--code", code, "--json", *backend_args]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["deleted"] is True and record["subject_id"] == "rider-good"
    assert record["templates_deleted"] == 1 and PHONE not in json.dumps(record)
    again = wallet_code(server.backend, "rider-good")
    assert main(["face", "delete", "--code", again, *backend_args]) == 1
    assert "no face is enrolled" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["face", "enroll", "--given-by", "A", "--retention-days", "3", "--subject", "s",
         "--phone", PHONE, "--images", "x.jpg", "--emulator"],  # no --consent
        ["face", "delete", "--subject", "s"],  # neither --backend nor --emulator
        ["face", "delete", "--emulator"],  # no account
        ["face", "enroll", "--consent", "--given-by", "A", "--retention-days", "x",
         "--subject", "s", "--phone", PHONE, "--images", "x.jpg", "--emulator"],
    ],
)
def test_usage_errors_exit_2_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--phone", "12"], "7 to 15 digits"),
        (["--phone", PHONE, "--retention-days", "0"], "retention"),
        (["--phone", PHONE, "--frames", "2"], "--frames"),
    ],
)
def test_bad_values_get_a_clear_error(backend_args, code, extra, message, capsys, tmp_path):
    image = tmp_path / "x.png"
    image.write_bytes(b"not an image")
    argv = ["face", "enroll", "--consent", "--given-by", "A", "--code", code,
            "--images", str(image), *backend_args, "--retention-days", "30", *extra]
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_unreadable_image_is_a_clear_error(backend_args, code, capsys, tmp_path):
    image = tmp_path / "x.png"
    image.write_bytes(b"not an image")
    argv = ["face", "enroll", "--consent", "--given-by", "A", "--code", code,
            "--phone", PHONE, "--retention-days", "30", "--images", str(image), *backend_args]
    assert main(argv) == 1
    assert "cannot read image" in capsys.readouterr().err


@pytest.mark.shared
def test_enroll_from_photos_then_delete(server, backend_args, code, capsys, tmp_path):
    folder = FACES / "lfw" / "Tony_Blair"
    if not folder.is_dir():
        pytest.skip(f"shared face data not found at {folder} (set SCANPAY_SHARED)")
    config = tmp_path / "kiosk.toml"
    config.write_text('[terminal]\nid = "emu-kiosk-0001"\nrole = "kiosk"\n[emulator]\n'
                      "[face.quality]\nmin_interocular_px = 30.0\nmin_sharpness = 20.0\n")
    images = sorted(str(p) for p in folder.iterdir())[:8]
    argv = ["face", "enroll", "--consent", "--given-by", "Tony", "--retention-days", "30",
            "--code", code, "--phone", PHONE, "--config", str(config), "--json",
            "--images", *images, *backend_args]
    assert main(argv) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["enrolled"] and record["frames"] == 5 and record["spread"] < 0.5
    assert main(["face", "delete", "--code", wallet_code(server.backend, "rider-good"),
                 *backend_args]) == 0
    assert "deleted 1 face template(s) of rider-good" in capsys.readouterr().out


def test_the_account_must_be_proved_by_its_wallet_code(backend_args, capsys, tmp_path):
    image = tmp_path / "x.png"
    image.write_bytes(b"not an image")
    base = ["face", "enroll", "--consent", "--given-by", "A", "--phone", PHONE,
            "--retention-days", "30", "--images", str(image), *backend_args]
    assert main([*base, "--subject", "rider-good"]) == 1  # naming an account proves nothing
    assert "--subject works only with --emulator" in capsys.readouterr().err
    assert main([*base, "--code", "SP1.not-a-code"]) == 1
    assert "payment code cannot be read" in capsys.readouterr().err
