"""`scanpay backend fleet ...` and the bridge options: real files, a real broker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.fleet.broker import Broker
from backend.fleet.credentials import dev_mqtt_password, read_password_file, verify_password
from backend.settings import DEV_SIGNING_SEED_HEX
from payments.fleet_messages import BACKEND_USER
from terminal.cli.main import main
from tests.fleet_support import connect, need_mosquitto


def test_device_add_list_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pw = tmp_path / "passwords"
    assert main(["backend", "fleet", "device", "add", "bike-0042", "--passwords", str(pw)]) == 0
    password = capsys.readouterr().out.strip().splitlines()[-1]
    assert verify_password(password, read_password_file(pw)["bike-0042"])
    assert password not in pw.read_text()  # only the hash is kept
    assert os.stat(pw).st_mode & 0o077 == 0
    assert main(["backend", "fleet", "bridge-user", "--passwords", str(pw)]) == 0
    capsys.readouterr()
    assert main(["backend", "fleet", "device", "list", "--passwords", str(pw)]) == 0
    assert capsys.readouterr().out.split() == ["bike-0042", BACKEND_USER]
    assert main(["backend", "fleet", "device", "remove", "bike-0042", "--passwords",
                 str(pw)]) == 0
    assert main(["backend", "fleet", "device", "remove", "bike-0042", "--passwords",
                 str(pw)]) == 1
    assert main(["backend", "fleet", "device", "add", "a/b", "--passwords", str(pw)]) == 1
    assert "device id" in capsys.readouterr().err
    pw.chmod(0o644)
    assert main(["backend", "fleet", "device", "list", "--passwords", str(pw)]) == 1
    assert "chmod 600" in capsys.readouterr().err


def test_a_password_made_by_the_cli_opens_the_broker(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    need_mosquitto()
    pw = tmp_path / "passwords"
    assert main(["backend", "fleet", "device", "add", "bike-0042", "--passwords", str(pw)]) == 0
    password = capsys.readouterr().out.strip().splitlines()[-1]
    with Broker(hashes=read_password_file(pw)) as broker:
        link = connect(broker.url, "bike-0042", password)
        link.close()


def test_acl_and_dev_password(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "acl"
    assert main(["backend", "fleet", "acl", "--out", str(out)]) == 0
    assert "pattern write scanpay/v1/devices/%u/up/#" in out.read_text()
    assert main(["backend", "fleet", "dev-password", "bike-0001"]) == 0
    assert capsys.readouterr().out.split()[-1] == dev_mqtt_password(DEV_SIGNING_SEED_HEX,
                                                                    "bike-0001")
    assert main(["backend", "fleet", "dev-password", "bad id"]) == 1


def test_bridge_options_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backend", "bridge", "--dev", "--store", "x.db"]) == 1
    assert "--mqtt" in capsys.readouterr().err
    assert main(["backend", "bridge", "--dev", "--mqtt", "mqtt://127.0.0.1:1"]) == 1
    assert "store" in capsys.readouterr().err
    assert main(["backend", "serve", "--dev", "--mqtt-password-file", "f"]) == 1
    assert "goes with --mqtt" in capsys.readouterr().err


def test_serve_runs_the_bridge(tmp_path: Path) -> None:
    need_mosquitto()
    with Broker.for_dev(["bike-0001"]) as broker:
        proc = subprocess.Popen(
            [sys.executable, "-m", "terminal.cli.main", "backend", "serve", "--dev", "--port",
             "0", "--mqtt", broker.url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, cwd=Path(__file__).resolve().parent.parent)
        try:
            assert proc.stdout is not None
            lines = []
            for line in proc.stdout:
                lines.append(line)
                if "fleet bridge: subscribed" in line:
                    break
            assert any(broker.url in line for line in lines), "".join(lines)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
