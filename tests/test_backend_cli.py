"""`scanpay backend serve`: argument and start-up errors are one clear line."""

from __future__ import annotations

import socket

import pytest

from terminal.cli.main import main


def test_port_out_of_range_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backend", "serve", "--port", "70000"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["scanpay: error: --port must be 0..65535, got 70000"]


def test_port_in_use_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["backend", "serve", "--dev", "--port", str(port)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("scanpay: error: cannot listen on 127.0.0.1:")


def test_serve_requires_an_action(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["backend"])
    assert info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
